"""Weights learned each month from the pairs the identifiers label for free (Fellegi-Sunter).

Rows that hold a check-passing organisation code (inside a valid USCC, a 9-character code or an
old tax id) are labelled by it: two such rows with the same code are one enterprise, with two
different codes two. They (above :data:`SAMPLE_ROWS`, all the rows of a seeded sample of codes) are
blocked and compared as if they had no identifiers at all
(the codes are blanked, so only name, region, address, phone, headcount and founding date are
compared, on the pairs that share a name, address or phone key as unlabelled pairs do). For each
comparison level ``m`` is its share among the labelled matches, ``u`` among the labelled
non-matches, and its weight is log2(m / u). A pair's weight is the sum over the comparisons.

The threshold follows from the weights and :data:`TARGET_PRECISION`: with ``prior`` the share of
matches among the labelled pairs, a pair's odds of being a match are prior odds x 2^weight, so a
pair is accepted (rule ``weights`` in rules.py) when

    weight >= log2(p / (1 - p)) - log2(prior / (1 - prior)),   p = TARGET_PRECISION.

Hard constraints stay hard: pairs they forbid are never compared (scoring.compare).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from datapool.matching.standardise import EMPTY_KEY

c = pl.col
TARGET_PRECISION = 0.99
SAMPLE_ROWS = 20_000  # labelled rows compared each month (about; a seeded sample of codes above)
SEED = 15
SMOOTHING = 0.5  # added to every level's count, so no weight is infinite


@dataclass(frozen=True)
class Comparison:
    """A field compared in levels: a pair is at the first level whose test holds (last: else)."""

    name: str
    description: str
    levels: tuple[tuple[str, Callable[[], pl.Expr]], ...]

    @property
    def column(self) -> str:
        """The name of the column that holds a compared pair's level of this comparison, where one
        is kept (scoring.Scored.unsure)."""
        return f"{self.name}_level"

    def level(self) -> pl.Expr:
        """The index of the pair's level (UInt8)."""
        expr = pl.lit(len(self.levels) - 1, pl.UInt8)
        for i, (_, test) in reversed(list(enumerate(self.levels[:-1]))):
            expr = pl.when(test().fill_null(False)).then(pl.lit(i, pl.UInt8)).otherwise(expr)
        return expr


def _missing(col: str, empty: object = None) -> pl.Expr:
    a, b = c(col), c(f"{col}_b")
    out = a.is_null() | b.is_null()
    return out | (a == empty) | (b == empty) if empty is not None else out


ALWAYS = lambda: pl.lit(True)  # noqa: E731

COMPARISONS: tuple[Comparison, ...] = (
    Comparison(
        "name",
        "the same 字号 + industry (pinyin), else how alike the names are",
        (
            ("core", lambda: c("core_eq")),
            ("close", lambda: c("name_sim") >= 0.9),
            ("alike", lambda: c("name_sim") >= 0.8),
            ("near", lambda: c("name_sim") >= 0.6),
            ("differ", ALWAYS),
        ),
    ),
    Comparison(
        "region",
        "the names' regions and the USCCs' registering authorities (regions.py)",
        (
            ("conflict", lambda: c("region_conflict")),
            ("same", lambda: c("region_same")),
            ("nested", lambda: c("region_nested")),
            ("none", ALWAYS),
        ),
    ),
    Comparison(
        "registered",
        "where a valid USCC says the row was registered, against the other side's name region",
        (
            ("apart", lambda: c("registered_apart")),
            ("within", lambda: c("registered_within")),
            ("unknown", ALWAYS),
        ),
    ),
    Comparison(
        "address",
        "town + road + number, else how alike the addresses are, else town + road",
        (
            ("missing", lambda: _missing("addr_norm_h", EMPTY_KEY)),
            ("same", lambda: c("addr_eq")),
            ("close", lambda: c("addr_sim") >= 0.85),
            ("road", lambda: c("road_eq")),
            ("near", lambda: c("addr_sim") >= 0.6),
            ("differ", ALWAYS),
        ),
    ),
    Comparison(
        "phone",
        "the phone's HMAC",
        (
            ("missing", lambda: _missing("phone_hash")),
            ("same", lambda: c("phone_eq")),
            ("differ", ALWAYS),
        ),
    ),
    Comparison(
        "headcount",
        "headcounts within 20% (or 2) of each other",
        (
            ("missing", lambda: _missing("headcount")),
            (
                "close",
                lambda: (
                    (c("headcount") - c("headcount_b")).abs()
                    <= pl.max_horizontal(
                        pl.lit(2), 0.2 * pl.max_horizontal("headcount", "headcount_b")
                    )
                ),
            ),
            ("far", ALWAYS),
        ),
    ),
    Comparison(
        "founded",
        "the founding date",
        (
            ("missing", lambda: _missing("founded")),
            ("same", lambda: c("founded") == c("founded_b")),
            ("differ", ALWAYS),
        ),
    ),
)


@dataclass(frozen=True)
class Weights:
    """This month's weights: ``table`` (comparison, level, m, u, weight, matches, non_matches),
    the ``threshold`` a pair's summed weight must reach, the ``prior`` and the target precision."""

    table: pl.DataFrame
    threshold: float
    prior: float
    target: float = TARGET_PRECISION

    def of(self, comparison: str) -> np.ndarray:
        """The weights of a comparison's levels, in level order."""
        return self.table.filter(c("comparison") == comparison)["weight"].to_numpy()

    def total(self) -> pl.Expr:
        """A compared pair's summed weight."""
        parts = []
        for comp in COMPARISONS:
            w = self.of(comp.name)
            parts.append(
                comp.level().replace_strict(
                    list(range(len(w))), w.tolist(), return_dtype=pl.Float64
                )
            )
        return pl.sum_horizontal(parts)

    def rows(self) -> pl.DataFrame:
        """The table as stored (warehouse table ``match_weight``): the levels, then a row for the
        threshold (``weight``) with the prior (``m``)."""
        last = pl.DataFrame(
            {
                "comparison": ["threshold"],
                "level": [f"precision {self.target:g}"],
                "m": [self.prior],
                "u": [None],
                "weight": [self.threshold],
                "matches": [self.table["matches"].max()],
                "non_matches": [self.table["non_matches"].max()],
            },
            schema=self.table.schema,
        )
        return pl.concat([self.table, last])

    def summary(self) -> str:
        """One line per comparison: its levels' weights; then the threshold."""
        lines = []
        for comp in COMPARISONS:
            t = self.table.filter(c("comparison") == comp.name)
            lines.append(
                f"  {comp.name:<9} "
                + "  ".join(f"{lv} {w:+.1f}" for lv, w in zip(t["level"], t["weight"], strict=True))
            )
        n = self.table.select(pl.col("matches", "non_matches").max()).row(0)
        lines.append(
            f"  threshold {self.threshold:+.1f} (target precision {self.target:g}, prior "
            f"{self.prior:.3f}, from {n[0]} labelled matches and {n[1]} non-matches)"
        )
        return "\n".join(lines)


def learn(std: pl.DataFrame, target: float = TARGET_PRECISION) -> Weights:
    """Learn this month's weights from the rows of ``std`` that hold a check-passing organisation
    code (see the module docstring)."""
    from datapool.matching.blocking import KEY_COLUMNS, candidate_pairs
    from datapool.matching.clusters import APART_COLUMN
    from datapool.matching.scoring import PREPARED_FROM, compare, prepare

    # only the columns blocking and comparing read are copied, once: std also holds the records'
    # own (names and addresses as written, extra...), and copying the labelled rows of all of
    # them, then the sample's, was matching's peak at 5.6M rows
    read = ("rid", "org_strong", *KEY_COLUMNS, *PREPARED_FROM, APART_COLUMN)
    has = c("org_strong").fill_null("") != ""
    n_labelled = std.select(has.sum()).item()
    if n_labelled > SAMPLE_ROWS:
        # a sample of codes, not of rows: every row of a sampled code comes along, so the labelled
        # matches keep their number (a sample of rows would keep a share of them squared)
        share = SAMPLE_ROWS / n_labelled
        has = has & (c("org_strong").hash(SEED) % 1_000_000 < int(share * 1_000_000))
    labelled = std.select([col for col in dict.fromkeys(read) if col in std.columns]).filter(has)
    code = labelled["org_strong"]
    blank = labelled.with_columns(
        pl.lit(None, pl.Utf8).alias("uscc"),
        pl.lit(False).alias("uscc_valid"),
        pl.lit(None, pl.Utf8).alias("org_code"),
        pl.lit("").alias("org_strong"),
        pl.lit(None, pl.Utf8).alias("regno_valid"),
        pl.int_range(labelled.height, dtype=pl.UInt32).alias("rid"),
    )
    pairs = candidate_pairs(blank)
    cmp = compare(prepare(blank), pairs) if pairs.height else None
    if cmp is None or cmp.height == 0:
        return _flat(target)
    same = (code.gather(cmp["rid_a"]) == code.gather(cmp["rid_b"])).to_numpy()
    levels = cmp.select([comp.level().alias(comp.name) for comp in COMPARISONS])
    n_m, n_u = int(same.sum()), int((~same).sum())
    if n_m == 0 or n_u == 0:
        return _flat(target)
    rows = []
    for comp in COMPARISONS:
        lv = levels[comp.name].to_numpy()
        k = len(comp.levels)
        cm = np.bincount(lv[same], minlength=k) + SMOOTHING
        cu = np.bincount(lv[~same], minlength=k) + SMOOTHING
        m, u = cm / cm.sum(), cu / cu.sum()
        for i, (name, _) in enumerate(comp.levels):
            rows.append(
                (comp.name, name, float(m[i]), float(u[i]), math.log2(m[i] / u[i]), n_m, n_u)
            )
    table = pl.DataFrame(
        rows,
        orient="row",
        schema={
            "comparison": pl.Utf8,
            "level": pl.Utf8,
            "m": pl.Float64,
            "u": pl.Float64,
            "weight": pl.Float64,
            "matches": pl.Int64,
            "non_matches": pl.Int64,
        },
    )
    prior = n_m / (n_m + n_u)
    threshold = math.log2(target / (1 - target)) - math.log2(prior / (1 - prior))
    return Weights(table, threshold, prior, target)


def _flat(target: float) -> Weights:
    """No labelled pairs to learn from: every weight 0 and a threshold no pair reaches."""
    rows = [(cp.name, lv, None, None, 0.0, 0, 0) for cp in COMPARISONS for lv, _ in cp.levels]
    table = pl.DataFrame(
        rows,
        orient="row",
        schema={
            "comparison": pl.Utf8,
            "level": pl.Utf8,
            "m": pl.Float64,
            "u": pl.Float64,
            "weight": pl.Float64,
            "matches": pl.Int64,
            "non_matches": pl.Int64,
        },
    )
    return Weights(table, math.inf, 0.0, target)
