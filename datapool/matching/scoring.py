"""Compare candidate pairs field by field and decide, vectorised over all pairs.

Each pair gets comparison features (rapidfuzz's bulk ``cpdist`` for string
similarity, never a Python loop per pair), then the first decision rule that
holds names the link. Rules, strongest first:

========== =====================================================================
uscc       the same 18-character code (a pilot code failing its check still counts)
org_code   the same check-passing organisation code (USCC pos. 9-17, 9-char code, old tax id)
regno      the same check-passing 注册号
uscc_typo  USCCs one character apart, one failing its check, names alike
name       same name core (字号 + industry, pinyin-equal), no conflict, address/phone support
name_fuzzy names alike (ratio >= 0.8) and the same address or phone
========== =====================================================================

Hard conflicts veto every rule: two different *valid* USCCs, different
organisation codes, a branch vs a non-branch (or branches at different places),
and two rows of a registry that holds each entity once. Name rules are also
vetoed by explicit, different regions (江西宏达建材 is not 赣州宏达建材).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Hamming

UNIQUE_SOURCES = ("market_supervision", "civil_affairs", "tax_registry")
RULES = ("uscc", "org_code", "regno", "uscc_typo", "name", "name_fuzzy")
RULE_RANK = {r: i for i, r in enumerate(RULES)}
SIMILAR = ("core", "name_clean", "addr_norm")  # compared with rapidfuzz's ratio
EQUAL = ("source", "uscc", "org_code", "org_strong", "regno_valid", "core_key", "former_key", "region", "branch_place",
         "addr_key", "phone_hash")  # compared for equality only


@dataclass
class Prepared:
    """What comparing needs of every record, built once per run and indexed by ``rid``.

    Fields compared for equality become categoricals (gathering and comparing them is
    integer work). Each string compared fuzzily is kept once: ``codes[col][rid]`` indexes
    ``strings[col]`` (distinct values, sorted), so equal strings have equal codes.
    """

    features: pl.DataFrame
    codes: dict[str, np.ndarray]
    strings: dict[str, np.ndarray]


def prepare(std: pl.DataFrame) -> Prepared:
    """Build :class:`Prepared` from standardised records (``rid`` must be the row position)."""
    n = std.height
    if n and (std["rid"][0] != 0 or std["rid"][n - 1] != n - 1):
        raise ValueError("scoring needs std sorted by rid with rid = row position")
    features = std.select(
        *[pl.col(col).cast(pl.Categorical) for col in EQUAL], "uscc_valid", "branch",
        pl.col("source").is_in(list(UNIQUE_SOURCES)).alias("once_only"),
        (pl.col("core").str.len_chars() >= 2).fill_null(False).alias("core2"),
        (pl.col("uscc").str.len_chars() == 18).fill_null(False).alias("uscc18"),
    )
    codes, strings = {}, {}
    for col in (*SIMILAR, "uscc"):
        values = std.get_column(col).fill_null("")
        codes[col] = (values.rank("dense") - 1).cast(pl.UInt32).to_numpy() if n else np.zeros(0, dtype=np.uint32)
        strings[col] = np.array(values.unique().sort().to_list(), dtype=object)
    return Prepared(features, codes, strings)


def _sim(prep: Prepared, col: str, ia: np.ndarray, ib: np.ndarray, need: np.ndarray | None = None) -> np.ndarray:
    """ratio / 100 of column ``col`` for each pair; equal strings are 1.0 without comparing; pairs
    outside ``need`` (when given) are not compared (0 unless equal)."""
    ca, cb = prep.codes[col][ia], prep.codes[col][ib]
    same = ca == cb
    out = same.astype(np.float64)
    todo = ~same if need is None else ~same & need
    if todo.any():
        strings = prep.strings[col]
        out[todo] = process.cpdist(strings[ca[todo]], strings[cb[todo]], scorer=fuzz.ratio, workers=-1) \
            .astype(np.float64) / 100.0
    return out


def compare(prep: Prepared, pairs: pl.DataFrame) -> pl.DataFrame:
    """Pairs with their comparison features (each side's features gathered by ``rid``).

    Equality features come first; strings are compared (rapidfuzz) only for pairs no hard
    conflict vetoes, since no rule can accept a vetoed pair (their similarities stay 0).
    """
    ia, ib = pairs["rid_a"].to_numpy(), pairs["rid_b"].to_numpy()
    side_a = prep.features.select(pl.all().gather(pairs["rid_a"]))
    side_b = prep.features.select(pl.all().gather(pairs["rid_b"]).name.suffix("_b"))
    c = pl.col
    df = pl.concat([pairs.select("rid_a", "rid_b"), side_a, side_b], how="horizontal").with_columns(
        uscc_eq=(c("uscc") == c("uscc_b")).fill_null(False),
        uscc_conflict=(c("uscc_valid") & c("uscc_valid_b") & (c("uscc") != c("uscc_b"))).fill_null(False),
        org_eq=(c("org_code") == c("org_code_b")).fill_null(False) & (c("org_code") != ""),
        org_conflict=((c("org_strong") != c("org_strong_b")) & (c("org_strong") != "") & (c("org_strong_b") != ""))
        .fill_null(False),
        regno_eq=(c("regno_valid") == c("regno_valid_b")).fill_null(False),
        core_eq=((c("core_key") == c("core_key_b")) | (c("core_key") == c("former_key_b"))
                 | (c("former_key") == c("core_key_b"))).fill_null(False) & c("core2"),
        region_conflict=((c("region") != c("region_b")) & (c("region") != "") & (c("region_b") != "")).fill_null(False),
        branch_conflict=((c("branch") != c("branch_b")) | (c("branch") & (c("branch_place") != c("branch_place_b"))))
        .fill_null(False),
        same_registry=(c("source") == c("source_b")) & c("once_only"),
        phone_eq=(c("phone_hash") == c("phone_hash_b")).fill_null(False),
        addr_eq=(c("addr_key") == c("addr_key_b")).fill_null(False),
    ).with_columns(veto=c("uscc_conflict") | c("org_conflict") | c("branch_conflict") | c("same_registry"))
    live = ~df["veto"].to_numpy()
    core_sim = _sim(prep, "core", ia, ib, need=live)
    name_sim = np.maximum(core_sim, _sim(prep, "name_clean", ia, ib, need=live & (core_sim < 1.0)))
    addr_sim = _sim(prep, "addr_norm", ia, ib, need=live)
    # USCC typos: Hamming distance of two 18-character codes that differ
    both18 = live & (df["uscc18"] & df["uscc18_b"] & (df["uscc"] != df["uscc_b"]).fill_null(True)).to_numpy()
    hamming = np.full(len(ia), -1, dtype=np.int64)
    if both18.any():
        codes, strings = prep.codes["uscc"], prep.strings["uscc"]
        hamming[both18] = process.cpdist(strings[codes[ia[both18]]], strings[codes[ib[both18]]],
                                         scorer=Hamming.distance, workers=-1)
    return df.with_columns(
        name_sim=pl.Series(np.where(live, name_sim, 0.0)).fill_nan(0.0),
        addr_sim=pl.Series(np.where(live, addr_sim, 0.0)).fill_nan(0.0),
        id_hamming=pl.Series(hamming).replace(-1, None),
    )


def decide(cmp: pl.DataFrame) -> pl.DataFrame:
    """Keep the pairs a rule accepts, with ``rule``, ``score`` and the fields that ``agreed``."""
    c = pl.col
    veto = c("veto")  # a hard conflict (see compare)
    name_veto = veto | c("region_conflict")
    support = (c("addr_sim") >= 0.6) | c("phone_eq") | c("addr_eq")
    rule = (
        pl.when(veto).then(None)
        .when(c("uscc_eq")).then(pl.lit("uscc"))
        .when(c("org_eq")).then(pl.lit("org_code"))
        .when(c("regno_eq")).then(pl.lit("regno"))
        .when((c("id_hamming") == 1) & ~(c("uscc_valid") & c("uscc_valid_b")) & (c("name_sim") >= 0.75)
              & ~c("region_conflict")).then(pl.lit("uscc_typo"))
        .when(~name_veto & c("core_eq") & (support | (c("name_sim") >= 0.95))).then(pl.lit("name"))
        .when(~name_veto & (c("name_sim") >= 0.8) & (c("addr_eq") | c("phone_eq") | (c("addr_sim") >= 0.85)))
        .then(pl.lit("name_fuzzy"))
        .otherwise(None)
    )
    base = pl.when(c("rule") == "uscc").then(1.0).when(c("rule") == "org_code").then(0.97) \
        .when(c("rule") == "regno").then(0.96).when(c("rule") == "uscc_typo").then(0.93) \
        .when(c("rule") == "name").then(0.8).otherwise(0.7)
    bonus = 0.1 * c("name_sim") + 0.07 * c("addr_sim") + 0.03 * c("phone_eq").cast(pl.Float64)
    agreed = pl.concat_str([
        pl.when(c("uscc_eq")).then(pl.lit("uscc,")).otherwise(pl.lit("")),
        pl.when(c("org_eq")).then(pl.lit("org_code,")).otherwise(pl.lit("")),
        pl.when(c("regno_eq")).then(pl.lit("regno,")).otherwise(pl.lit("")),
        pl.when(c("core_eq")).then(pl.lit("name_core,")).otherwise(pl.lit("")),
        pl.when(c("name_sim") >= 0.9).then(pl.lit("name,")).otherwise(pl.lit("")),
        pl.when(c("addr_eq") | (c("addr_sim") >= 0.8)).then(pl.lit("address,")).otherwise(pl.lit("")),
        pl.when(c("phone_eq")).then(pl.lit("phone,")).otherwise(pl.lit("")),
    ]).str.strip_chars_end(",")
    return (cmp.with_columns(rule.alias("rule")).filter(c("rule").is_not_null())
            .with_columns(((base + bonus) / 1.2).round(4).alias("score"), agreed.alias("agreed"))
            .select("rid_a", "rid_b", "rule", "score", "agreed", "name_sim", "addr_sim"))


CHUNK = 400_000


def score_pairs(std: pl.DataFrame, pairs: pl.DataFrame, chunk: int = CHUNK) -> pl.DataFrame:
    """compare + decide, ``chunk`` pairs at a time so memory stays flat however many pairs there are."""
    prep = prepare(std)
    if pairs.height <= chunk:
        return decide(compare(prep, pairs))
    return pl.concat([decide(compare(prep, pairs.slice(i, chunk))) for i in range(0, pairs.height, chunk)])
