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

import polars as pl
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Hamming

UNIQUE_SOURCES = ("market_supervision", "civil_affairs", "tax_registry")
FEATURES = ("source", "uscc", "uscc_valid", "org_code", "org_strong", "regno_valid", "core", "core_key", "former_key", "region",
            "branch", "branch_place", "form", "addr_norm", "addr_key", "phone_hash", "name_clean", "community")
RULES = ("uscc", "org_code", "regno", "uscc_typo", "name", "name_fuzzy")
RULE_RANK = {r: i for i, r in enumerate(RULES)}


def _sim(a: pl.Series, b: pl.Series, scorer=fuzz.ratio) -> pl.Series:  # noqa: ANN001
    out = process.cpdist(a.fill_null("").to_list(), b.fill_null("").to_list(), scorer=scorer, workers=-1)
    return pl.Series(out, dtype=pl.Float64)


def compare(std: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """Pairs with their comparison features."""
    feats = std.select("rid", *FEATURES)
    df = pairs.join(feats, left_on="rid_a", right_on="rid").join(feats, left_on="rid_b", right_on="rid", suffix="_b")
    name_sim = _sim(df["core"], df["core_b"]) / 100.0
    full_sim = _sim(df["name_clean"], df["name_clean_b"]) / 100.0
    addr_sim = _sim(df["addr_norm"], df["addr_norm_b"]) / 100.0
    both18 = (df["uscc"].str.len_chars() == 18) & (df["uscc_b"].str.len_chars() == 18)
    hamming = pl.Series(process.cpdist(df["uscc"].fill_null("").to_list(), df["uscc_b"].fill_null("").to_list(),
                                       scorer=Hamming.distance, workers=-1), dtype=pl.Int64)
    c = pl.col
    return df.with_columns(
        name_sim=pl.max_horizontal(name_sim, full_sim).fill_nan(0.0),
        addr_sim=addr_sim.fill_nan(0.0),
        id_hamming=pl.when(both18.fill_null(False)).then(hamming).otherwise(None),
    ).with_columns(
        uscc_eq=(c("uscc") == c("uscc_b")).fill_null(False),
        uscc_conflict=(c("uscc_valid") & c("uscc_valid_b") & (c("uscc") != c("uscc_b"))).fill_null(False),
        org_eq=(c("org_code") == c("org_code_b")).fill_null(False) & (c("org_code") != ""),
        org_conflict=((c("org_strong") != c("org_strong_b")) & (c("org_strong") != "") & (c("org_strong_b") != ""))
        .fill_null(False),
        regno_eq=(c("regno_valid") == c("regno_valid_b")).fill_null(False),
        core_eq=((c("core_key") == c("core_key_b")) | (c("core_key") == c("former_key_b"))
                 | (c("former_key") == c("core_key_b"))).fill_null(False) & (c("core").str.len_chars() >= 2),
        region_conflict=((c("region") != c("region_b")) & (c("region") != "") & (c("region_b") != "")).fill_null(False),
        branch_conflict=((c("branch") != c("branch_b")) | (c("branch") & (c("branch_place") != c("branch_place_b"))))
        .fill_null(False),
        same_registry=(c("source") == c("source_b")) & c("source").is_in(list(UNIQUE_SOURCES)),
        phone_eq=(c("phone_hash") == c("phone_hash_b")).fill_null(False),
        addr_eq=(c("addr_key") == c("addr_key_b")).fill_null(False),
    )


def decide(cmp: pl.DataFrame) -> pl.DataFrame:
    """Keep the pairs a rule accepts, with ``rule``, ``score`` and the fields that ``agreed``."""
    c = pl.col
    veto = c("uscc_conflict") | c("org_conflict") | c("branch_conflict") | c("same_registry")
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
    if pairs.height <= chunk:
        return decide(compare(std, pairs))
    return pl.concat([decide(compare(std, pairs.slice(i, chunk))) for i in range(0, pairs.height, chunk)])
