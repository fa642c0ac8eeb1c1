"""Compare candidate pairs field by field and decide, vectorised over all pairs.

Each pair gets comparison features (rapidfuzz's bulk ``cpdist`` for string similarity, never a
Python loop per pair); the rule table (rules.py: comparison levels, hard constraints, decision
rules, score and stored evidence) then decides. Pairs a hard constraint forbids are dropped first,
on the few fields the constraints read. Regions are compared as division codes (regions.py).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from math import isfinite
from typing import Any, NamedTuple

import numpy as np
import polars as pl
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA, Hamming, Levenshtein

from datapool.connectors.specs import ONCE_ONLY
from datapool.matching import rules
from datapool.matching.regions import compatible
from datapool.matching.standardise import EMPTY_KEY, hash_key, require_row_ids
from datapool.matching.weights import COMPARISONS, Weights

UNIQUE_SOURCES = ONCE_ONLY  # the registries that list each entity once (connectors/specs.py)
# the source of names looked up in the pool (lookup.link_to_pool): a name alone, typed in the
# member database
LOOKUP_SOURCE = "member_db"
RULES = rules.RULE_NAMES
RULE_RANK = rules.RULE_RANK
SIMILAR = ("core", "name_clean", "addr_norm")  # compared with rapidfuzz's ratio
# compared for equality only
EQUAL = (
    "source",
    "uscc",
    "org_code",
    "org_strong",
    "regno_valid",
    "phone_hash",
)
# the same, hashed by standardise (+ "_h")
HASHED = (
    "core_key",
    "brand_key",
    "former_key",
    "branch_place",
    "addr_key",
    "road_key",
)


@dataclass
class Prepared:
    """What comparing needs of every record, built once per run and indexed by ``rid``.

    Fields compared for equality are 64-bit hashes (standardise.hash_key; null stays null), so
    gathering and comparing them is integer work. Two distinct values share a hash with
    probability 2^-64 per pair: far below any other source of error. ``text`` holds the
    strings compared fuzzily; they are gathered only for the pairs that need rapidfuzz.
    """

    features: pl.DataFrame
    text: pl.DataFrame


# the standardised columns prepare reads: a caller scoring a few rows of a large frame gathers
# only these (lookup.candidates)
PREPARED_FROM = (
    "rid",
    *EQUAL,
    *(f"{col}_h" for col in HASHED),
    *SIMILAR,
    "uscc_valid",
    "branch",
    "region_code",
    "form_family",
    "uscc_region",
    "headcount",
    "founded_on",
)


def prepare(std: pl.DataFrame) -> Prepared:
    """Build :class:`Prepared` from standardised records (``rid`` must be the row position)."""
    require_row_ids(std, "scoring")
    features = std.select(
        *[hash_key(col).alias(col) for col in EQUAL],
        *[pl.col(f"{col}_h").alias(col) for col in HASHED],
        *[hash_key(pl.col(col).fill_null("")).alias(f"{col}_h") for col in SIMILAR],
        "uscc_valid",
        "branch",
        "region_code",
        pl.col("form_family").fill_null(0),
        (pl.col("source") == LOOKUP_SOURCE).alias("lookup"),
        "uscc_region",
        "headcount",
        pl.col("founded_on").cast(pl.Int32).alias("founded"),
        pl.col("source").is_in(list(UNIQUE_SOURCES)).alias("once_only"),
        (pl.col("core").str.len_chars() >= 2).fill_null(False).alias("core2"),
        pl.col("core").str.len_chars().fill_null(0).cast(pl.Int32).alias("core_len"),
        (pl.col("uscc").str.len_chars() == 18).fill_null(False).alias("uscc18"),
    )
    return Prepared(features, std.select(*SIMILAR, "uscc"))


def _strings(prep: Prepared, col: str, rids: np.ndarray) -> list[str]:
    """The values of ``col`` at ``rids`` as Python strings ('' for null).

    Joined into one text and split in Python: one UTF-8 decode, not one a value. A value that holds
    the separator splits into more parts than there are values: then it is done value by value.
    """
    values = prep.text.get_column(col).gather(rids).fill_null("")
    out = values.str.join("\x00").item().split("\x00") if len(values) else []
    return out if len(out) == len(values) else values.to_list()


def _sim(
    prep: Prepared,
    col: str,
    df: pl.DataFrame,
    ia: np.ndarray,
    ib: np.ndarray,
    need: np.ndarray | None = None,
) -> np.ndarray:
    """ratio / 100 of column ``col`` for each pair; equal strings (hashes) are 1.0 without
    comparing; other pairs outside ``need`` (when given) are not compared (0)."""
    ha, hb = df.get_column(f"{col}_h").to_numpy(), df.get_column(f"{col}_h_b").to_numpy()
    same = ha == hb
    out: np.ndarray = same.astype(np.float64)
    todo = np.flatnonzero(~same if need is None else ~same & need)
    if len(todo):
        # the same two strings meet in many pairs (one enterprise's rows across registries): each
        # distinct couple (unordered, as ratio is symmetric; told apart by its hashes) is compared
        # just once
        lo, hi = np.minimum(ha[todo], hb[todo]), np.maximum(ha[todo], hb[todo])
        # wraps: one 64-bit key per couple
        couple = pl.Series("couple", lo * np.uint64(0x9E3779B97F4A7C15) ^ hi)
        first = couple.is_first_distinct()  # one pair of each couple
        pick = todo[first.to_numpy()]
        sim = (
            process.cpdist(
                _strings(prep, col, ia[pick]),
                _strings(prep, col, ib[pick]),
                scorer=fuzz.ratio,
                workers=-1,
            ).astype(np.float64)
            / 100.0
        )
        each = pl.DataFrame({"couple": couple.filter(first), "sim": sim})
        out[todo] = (
            couple.to_frame()
            .join(each, on="couple", how="left", maintain_order="left")
            .get_column("sim")
            .to_numpy()
        )
    return out


_VETO_FEATURES = (
    "source",
    "once_only",
    "uscc",
    "uscc_valid",
    "org_strong",
    "branch",
    "branch_place",
)


def _sides(features: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """``pairs`` with each side's ``features`` gathered by rid (side b's names end in ``_b``)."""
    return pl.concat(
        [
            pairs,
            features.select(pl.all().gather(pairs["rid_a"])),
            features.select(pl.all().gather(pairs["rid_b"]).name.suffix("_b")),
        ],
        how="horizontal",
    )


def compare(prep: Prepared, pairs: pl.DataFrame) -> pl.DataFrame:
    """The pairs no hard conflict vetoes, with their comparison features (gathered by ``rid``).

    Vetoed pairs are dropped first, on the few fields the veto reads: no rule can accept
    them, so their other fields are never gathered and their strings never compared.
    """
    c = pl.col
    pairs = pairs.select("rid_a", "rid_b")
    live = _sides(prep.features.select(_VETO_FEATURES), pairs).select(~rules.veto()).to_series()
    df = _sides(
        prep.features.drop("source", "once_only", "org_strong", "branch", "branch_place"),
        pairs.filter(live),
    ).with_columns(
        uscc_eq=(c("uscc") == c("uscc_b")).fill_null(False),
        org_eq=(c("org_code") == c("org_code_b")).fill_null(False) & (c("org_code") != EMPTY_KEY),
        regno_eq=(c("regno_valid") == c("regno_valid_b")).fill_null(False),
        core_eq=(
            (c("core_key") == c("core_key_b"))
            | (c("core_key") == c("former_key_b"))
            | (c("former_key") == c("core_key_b"))
        ).fill_null(False)
        & c("core2"),
        phone_eq=(c("phone_hash") == c("phone_hash_b")).fill_null(False),
        brand_eq=(c("brand_key") == c("brand_key_b")).fill_null(False),
        form_conflict=(c("form_family") != c("form_family_b"))
        & (c("form_family") != 0)
        & (c("form_family_b") != 0),
        addr_eq=(c("addr_key") == c("addr_key_b")).fill_null(False),
        road_eq=(c("road_key") == c("road_key_b")).fill_null(False),
    )
    ia, ib = df["rid_a"].to_numpy(), df["rid_b"].to_numpy()
    df = df.with_columns(**region_relation(df))
    core_sim = _sim(prep, "core", df, ia, ib)
    name_sim = np.maximum(core_sim, _sim(prep, "name_clean", df, ia, ib, core_sim < 1.0))
    # two missing addresses are nothing alike: a looked-up name has none, and neither is evidence
    no_addr = (df["addr_norm_h"] == EMPTY_KEY) | (df["addr_norm_h_b"] == EMPTY_KEY)
    addr_sim = np.where(
        no_addr.fill_null(True).to_numpy(), 0.0, _sim(prep, "addr_norm", df, ia, ib)
    )
    core_swap = _swapped(prep, df, ia, ib, core_sim)
    # USCC typos: Hamming distance of two 18-character codes that differ
    both18 = (
        df["uscc18"] & df["uscc18_b"] & (df["uscc"] != df["uscc_b"]).fill_null(True)
    ).to_numpy()
    hamming = np.full(len(ia), -1, dtype=np.int64)
    if both18.any():
        hamming[both18] = process.cpdist(
            _strings(prep, "uscc", ia[both18]),
            _strings(prep, "uscc", ib[both18]),
            scorer=Hamming.distance,
            workers=-1,
        )
    return df.with_columns(
        name_sim=pl.Series(name_sim).fill_nan(0.0),
        core_sim=pl.Series(core_sim).fill_nan(0.0),
        core_swap=pl.Series(core_swap),
        addr_sim=pl.Series(addr_sim).fill_nan(0.0),
        id_hamming=pl.Series(hamming).replace(-1, None),
    )


def _swapped(
    prep: Prepared, df: pl.DataFrame, ia: np.ndarray, ib: np.ndarray, core_sim: np.ndarray
) -> np.ndarray:
    """Whether the two cores are one transposition of two neighbouring characters apart (隆锦物流 /
    锦隆物流: a typing error, Damerau's). Only cores of one length n whose ratio is one step short
    of 1 (two insertions or deletions apart, 1 - 1/n) are compared: of those, a swap is one
    optimal-string-alignment edit but two Levenshtein edits (a character changed is one of each)."""
    la, lb = df["core_len"].to_numpy(), df["core_len_b"].to_numpy()
    steps = np.rint((1.0 - np.nan_to_num(core_sim)) * (la + lb))
    todo = np.flatnonzero((la == lb) & (la >= 2) & (steps == 2))
    out = np.zeros(len(ia), dtype=bool)
    if len(todo):
        a, b = _strings(prep, "core", ia[todo]), _strings(prep, "core", ib[todo])
        osa = process.cpdist(a, b, scorer=OSA.distance, workers=-1)
        lev = process.cpdist(a, b, scorer=Levenshtein.distance, workers=-1)
        out[todo] = (osa == 1) & (lev == 2)
    return out


def region_relation(df: pl.DataFrame) -> dict[str, pl.Series]:
    """How the two sides' regions relate (regions.py), as integer work over division codes.

    ``region_conflict``: the names' regions are disjoint; ``region_same``: both names hold the
    same region; ``region_nested``: both hold one, different but one inside the other (江西 and
    赣州). A side without a region is compatible with any. The region of a valid USCC (its
    registering authority) is evidence for the learned weights (weights.py): ``registered_apart``
    when it lies outside the other side's name region, ``registered_within`` when inside.
    """
    ra, rb = df["region_code"].to_numpy(), df["region_code_b"].to_numpy()
    ua, ub = df["uscc_region"].to_numpy(), df["uscc_region_b"].to_numpy()
    conflict = ~compatible(ra, rb)
    apart = ~(compatible(ra, ub) & compatible(ua, rb))
    known = ((ua != 0) & (rb != 0)) | ((ub != 0) & (ra != 0))
    return {
        "region_conflict": pl.Series(conflict),
        "region_same": pl.Series((ra == rb) & (ra != 0)),
        "region_nested": pl.Series((ra != rb) & (ra != 0) & (rb != 0) & ~conflict),
        "registered_apart": pl.Series(apart),
        "registered_within": pl.Series(known & ~apart),
    }


RULE_ENUM = pl.Enum(rules.RULE_NAMES)
# the compared pairs the review queue is made of (matching/review.py), as scoring keeps them: the
# pairs no identifier decides (their rule, null when none held, is not one of rules.CERTAIN_RULES),
# with only what the queue reads: their rows, rule, summed weight and each comparison's level (the
# evidence people are shown); some 20 bytes a pair
UNSURE_SCHEMA: dict[str, Any] = {
    "rid_a": pl.UInt32,
    "rid_b": pl.UInt32,
    "rule": RULE_ENUM,
    "match_weight": pl.Float64,
    **{comp.column: pl.UInt8 for comp in COMPARISONS},
}


class Scored(NamedTuple):
    """A chunk of candidate pairs scored: the ``accepted`` pairs (:func:`decide`'s columns) and
    the ``unsure`` ones the review queue is made of (:data:`UNSURE_SCHEMA`; none kept without
    learned weights, as no queue is made then)."""

    accepted: pl.DataFrame
    unsure: pl.DataFrame

    @staticmethod
    def concat(parts: list[Scored], rechunk: bool = True) -> Scored:
        """The parts' accepted pairs and unsure pairs, each in the parts' order."""
        return Scored(
            pl.concat([p.accepted for p in parts], rechunk=rechunk),
            pl.concat([p.unsure for p in parts], rechunk=rechunk),
        )


NO_UNSURE = pl.DataFrame(schema=UNSURE_SCHEMA)


def _learned(weights: Weights | None) -> list[pl.Expr]:
    """A compared pair's summed weight and the month's threshold (never reached without weights)."""
    if weights is not None:
        return [
            weights.total().alias("match_weight"),
            pl.lit(weights.threshold).alias("weight_threshold"),
        ]
    return [pl.lit(0.0).alias("match_weight"), pl.lit(float("inf")).alias("weight_threshold")]


def _accepted(decided: pl.DataFrame) -> pl.DataFrame:
    """The decided pairs a rule accepts, with their score and evidence mask (:func:`decide`)."""
    rule = pl.col("rule")
    return (
        decided.filter(rule.is_not_null())
        .with_columns(rules.score(rule).alias("score"), rules.evidence(rule).alias("agreed"))
        .select("rid_a", "rid_b", "rule", "score", "agreed")
    )


def decide(cmp: pl.DataFrame, weights: Weights | None = None) -> pl.DataFrame:
    """Keep the pairs a rule accepts, with ``rule``, ``score`` and ``agreed``: all three come from
    the rule table (rules.py); ``agreed`` is the mask of the levels that made the link (most pairs
    are never explained, so its text is only made for the edges that explain a record, see
    :func:`agreed_text`). ``weights``: this month's learned weights (weights.py), which rule
    ``weights`` reads; without them that rule never holds."""
    decided = cmp.with_columns(_learned(weights)).with_columns(rules.decision().alias("rule"))
    return _accepted(decided)


def decide_all(cmp: pl.DataFrame, weights: Weights | None = None) -> Scored:
    """:func:`decide`, and beside the accepted pairs the unsure ones (:data:`UNSURE_SCHEMA`), from
    one decision per pair."""
    decided = cmp.with_columns(_learned(weights)).with_columns(rules.decision().alias("rule"))
    if weights is None or not isfinite(weights.threshold):
        return Scored(_accepted(decided), NO_UNSURE)
    unsure = decided.filter(~pl.col("rule").is_in(list(rules.CERTAIN_RULES)).fill_null(False))
    return Scored(_accepted(decided), unsure.select(unsure_columns()))


def unsure_columns() -> list[pl.Expr]:
    """:data:`UNSURE_SCHEMA`'s columns of decided pairs (with ``rule`` and ``match_weight``)."""
    return [
        pl.col("rid_a").cast(pl.UInt32),
        pl.col("rid_b").cast(pl.UInt32),
        pl.col("rule").cast(RULE_ENUM),
        pl.col("match_weight").cast(pl.Float64),
        *(comp.level().alias(comp.column) for comp in COMPARISONS),
    ]


def agreed_text(mask: pl.Expr) -> pl.Expr:
    """An ``agreed`` mask as its level names joined by ',' ('' for none; see rules.py)."""
    return rules.evidence_text(mask).alias(mask.meta.output_name())


CHUNK = 400_000


def score_pairs(
    std: pl.DataFrame, pairs: pl.DataFrame, weights: Weights | None = None, chunk: int = CHUNK
) -> pl.DataFrame:
    """compare + decide, ``chunk`` pairs at a time, so memory stays flat however many pairs.

    Chunks run on a thread per core (comparing is mostly single-threaded work that releases
    the GIL); the result keeps the pairs' order. ``weights``: this month's (see :func:`decide`).
    """
    return _chunked(std, pairs, lambda cmp: Scored(decide(cmp, weights), NO_UNSURE), chunk).accepted


def score_all(
    std: pl.DataFrame, pairs: pl.DataFrame, weights: Weights | None = None, chunk: int = CHUNK
) -> Scored:
    """:func:`score_pairs`, keeping beside the accepted pairs the unsure ones the review queue is
    made of (:func:`decide_all`), chunk by chunk, both in the pairs' order: the queue compares
    nothing again."""
    return _chunked(std, pairs, lambda cmp: decide_all(cmp, weights), chunk)


def _chunked(
    std: pl.DataFrame, pairs: pl.DataFrame, decider: Callable[[pl.DataFrame], Scored], chunk: int
) -> Scored:
    """``decider`` on the comparisons of each ``chunk`` of ``pairs`` (:func:`score_pairs`)."""
    prep = prepare(std)
    # at least a chunk per core
    size = max(1, min(chunk, -(-pairs.height // max(pl.thread_pool_size(), 1))))
    if pairs.height <= size:
        return decider(compare(prep, pairs))
    with ThreadPoolExecutor(max_workers=max(pl.thread_pool_size(), 1)) as pool:
        return Scored.concat(
            list(
                pool.map(
                    lambda i: decider(compare(prep, pairs.slice(i, size))),
                    range(0, pairs.height, size),
                )
            )
        )
