"""People decide the pairs the matcher is unsure of (the contract: ../shared/spec/review.md).

Three pure steps, no database here (``datapool.review`` reads and writes the warehouse):

* :func:`queue`: the month's undecided candidate pairs, most useful first. Every candidate pair
  blocking finds and no hard constraint vetoes was compared by matching's scoring, which keeps
  the ones no identifier decides (scoring.score_all: ``Resolution.unsure``); each is given
  ``p``, the chance the two rows are one enterprise by this month's learned weights
  (weights.py: prior odds x 2^weight, so ``p`` is the target precision at the threshold).
  ``together`` says whether clustering put them in one enterprise. A decision changes the pool
  when it contradicts that: with probability ``change = 1 - p`` for a pair put together, ``p``
  for a pair kept apart. What it changes is ``rows``, the rows of the enterprise(s) the pair
  touches (two enterprises joined, or one split), and more when one of them is a visit target::

      priority = change * (1 + log2(rows)) * (2 if a target is touched else 1)

  A pair is queued when ``change >= MIN_CHANGE`` (near the threshold on either side), or
  ``change >= MIN_CHANGE_LARGE`` when it joins or splits ``LARGE_ROWS`` rows or more or touches a
  target. Pairs an identifier links (rules ``uscc``, ``org_code``, ``regno``) are never queued:
  the identifiers decide them; nor are pairs kept apart whose two enterprises hold different
  valid USCCs (a ``same`` there would be refused).
* :func:`pair_ids`: a pair's id, a keyed hash of its two row keys (``source:source_key``, the
  registry's own id; see standardise.py for rows without one) in sorted order, so the same two
  rows give the same id in any row order and any month.
* :func:`constrain` / :func:`enforcement`: decisions become clustering constraints: ``same``
  a must-link edge (rule ``review``, ranked before every matcher rule), ``different`` a
  cannot-link (clusters.Apart: the two rows, and so the clusters they are in, never share a
  cluster). Identifier constraints still win; :func:`enforcement` says which decisions held and
  why the others could not.
"""

from __future__ import annotations

import functools
import hashlib
import math
from typing import Any

import polars as pl

from datapool.matching import rules
from datapool.matching.clusters import APART_COLUMN, REVIEW_RULE
from datapool.matching.ids import _mac_key
from datapool.matching.rules import CERTAIN_RULES  # identifiers decide these pairs
from datapool.matching.weights import COMPARISONS, Weights

MIN_CHANGE = 0.005  # a pair is queued when a decision would change the pool this likely
MIN_CHANGE_LARGE = 0.001  # ... or this likely, when it moves LARGE_ROWS rows or touches a target
LARGE_ROWS = 4
TARGET_FACTOR = 2.0
PRIOR_OVERTURNS, PRIOR_DECIDED = 1, 50  # a rule's links are doubted 1 in 50 until people decide
PAIR_PREFIX, PAIR_HEX = "P", 16
DECISIONS = ("same", "different", "unsure")
MAX_P_BITS = 60.0  # log-odds clipped here, so p stays a float strictly inside (0, 1)

QUEUE_SCHEMA: dict[str, Any] = {
    "pair_id": pl.Utf8,
    "priority": pl.Float64,
    "left_source": pl.Utf8,
    "left_row": pl.Int64,
    "left_key": pl.Utf8,
    "right_source": pl.Utf8,
    "right_row": pl.Int64,
    "right_key": pl.Utf8,
    "left_enterprise": pl.Utf8,
    "right_enterprise": pl.Utf8,
    "together": pl.Boolean,
    "rule": pl.Utf8,
    "score": pl.Float64,
    "margin": pl.Float64,
    "rows": pl.Int64,
    "target": pl.Boolean,
    "evidence": pl.Utf8,
}


def row_key(source: pl.Series, source_key: pl.Series) -> pl.Series:
    """A row's stable key: ``source:source_key``."""
    return source + ":" + source_key


def pair_ids(left: pl.Series, right: pl.Series, key: str) -> pl.Series:
    """Each pair's id from its two row keys (any order): a keyed BLAKE2b hash (a source key may be
    personal, e.g. an old tax id built from an owner's ID number), ``P`` + 16 hex digits.

    The loop only hashes (as ids.new_ids); the text is built per column.
    """
    lo = pl.select(pl.min_horizontal(left, right)).to_series()
    hi = pl.select(pl.max_horizontal(left, right)).to_series()
    text = (lo + "\x1f" + hi).cast(pl.Binary)
    mac = functools.partial(hashlib.blake2b, key=_mac_key(key), person=b"datapool-pair")
    hexdigest = type(hashlib.blake2b()).hexdigest
    digests = list(map(hexdigest, map(mac, text.to_list())))
    return PAIR_PREFIX + pl.Series(digests, dtype=pl.Utf8).str.slice(0, PAIR_HEX).str.to_uppercase()


def probability(margin: pl.Expr, weights: Weights) -> pl.Expr:
    """The chance a pair is a match from its summed weight less the threshold (see weights.py)."""
    at_threshold = math.log2(weights.target / (1 - weights.target))
    bits = (margin + at_threshold).clip(-MAX_P_BITS, MAX_P_BITS)
    return 1.0 / (1.0 + (pl.lit(2.0) ** (-bits)))


def evidence_text(weights: Weights) -> pl.Expr:
    """Each compared pair's levels (its level columns, scoring.UNSURE_SCHEMA) with their weights,
    then the total against the threshold:
    ``name=close(+5.1) region=none(+0.0) ... total -2.3 / threshold +6.2``."""
    parts = []
    for comp in COMPARISONS:
        names = [lv for lv, _ in comp.levels]
        w = weights.of(comp.name).tolist()
        label = [f"{comp.name}={n}({x:+.1f})" for n, x in zip(names, w, strict=True)]
        parts.append(
            pl.col(comp.column).replace_strict(list(range(len(names))), label, return_dtype=pl.Utf8)
        )
    total = pl.format(
        "total {} / threshold {}",
        pl.col("match_weight").round(1).cast(pl.Utf8),
        pl.lit(f"{weights.threshold:+.1f}"),
    )
    return pl.concat_str([*parts, total], separator=" ")


def doubt(overturned: int, decided: int) -> float:
    """How likely a link a matcher rule made is wrong: people's overturns of that rule, with a prior
    of :data:`PRIOR_OVERTURNS` in :data:`PRIOR_DECIDED` (a rule is trusted until people say)."""
    return (overturned + PRIOR_OVERTURNS) / (decided + PRIOR_DECIDED)


def queue(
    std: pl.DataFrame,
    links: pl.DataFrame,
    weights: Weights,
    key: str,
    unsure: pl.DataFrame,
    targets: pl.Series | None = None,
    decided: pl.Series | None = None,
    overturned: dict[str, tuple[int, int]] | None = None,
) -> pl.DataFrame:
    """The month's review queue (:data:`QUEUE_SCHEMA`), highest priority first (module docstring).

    ``links``: each row's ``enterprise_id``, in std's row order (engine.Resolution.links);
    ``unsure``: the compared pairs of ``std`` no identifier decided, in candidate-pair order, as
    matching's scoring kept them (engine.Resolution.unsure, scoring.UNSURE_SCHEMA): nothing is
    blocked or compared here; ``targets``: the month's target enterprise ids; ``decided``: pair
    ids people decided already, never queued again; ``overturned``: per rule, (pairs people
    overturned, pairs they decided), which sets how far a link that rule made is doubted
    (:func:`doubt`).
    """
    empty = pl.DataFrame(schema=QUEUE_SCHEMA)
    if not math.isfinite(weights.threshold) or std.height < 2 or unsure.height == 0:
        return empty
    doubts = {
        r: doubt(*(overturned or {}).get(r, (0, 0)))
        for r in rules.RULE_NAMES
        if r not in CERTAIN_RULES and r != "weights"
    }
    eid = links.get_column("enterprise_id")
    size = eid.to_frame().group_by("enterprise_id").len("n")
    # an enterprise's valid USCC: two enterprises holding different ones are kept apart by the
    # identifiers, and a person's `same` would be refused, so such a pair is never asked
    valid = pl.col("uscc_valid").fill_null(False) & pl.col("uscc").is_not_null()
    held = (
        pl.DataFrame(
            {"enterprise_id": eid, "uscc": std.select(pl.when(valid).then("uscc")).to_series()}
        )
        .drop_nulls()
        .group_by("enterprise_id")
        .agg(pl.col("uscc").first())
    )
    d = unsure.with_columns(
        pl.col("rule").cast(pl.Utf8),
        (pl.col("match_weight") - weights.threshold).alias("margin"),
        eid.gather(unsure["rid_a"]).alias("left_enterprise"),
        eid.gather(unsure["rid_b"]).alias("right_enterprise"),
    ).with_columns(
        probability(pl.col("margin"), weights).alias("p"),
        (pl.col("left_enterprise") == pl.col("right_enterprise")).alias("together"),
    )
    d = (
        d.join(size.rename({"n": "n_left"}), left_on="left_enterprise", right_on="enterprise_id")
        .join(size.rename({"n": "n_right"}), left_on="right_enterprise", right_on="enterprise_id")
        .join(
            held.rename({"uscc": "uscc_l"}),
            left_on="left_enterprise",
            right_on="enterprise_id",
            how="left",
        )
        .join(
            held.rename({"uscc": "uscc_r"}),
            left_on="right_enterprise",
            right_on="enterprise_id",
            how="left",
        )
        .filter(
            pl.col("together")
            | pl.col("uscc_l").is_null()
            | pl.col("uscc_r").is_null()
            | (pl.col("uscc_l") == pl.col("uscc_r"))
        )
        .with_columns(
            pl.when(~pl.col("together"))
            .then(pl.col("p"))
            .when(pl.col("rule").is_in(list(doubts)))
            .then(
                pl.min_horizontal(
                    1.0 - pl.col("p"),
                    pl.col("rule").replace_strict(doubts, default=1.0, return_dtype=pl.Float64),
                )
            )
            .otherwise(1.0 - pl.col("p"))
            .alias("change"),
            pl.when("together")
            .then(pl.col("n_left"))
            .otherwise(pl.col("n_left") + pl.col("n_right"))
            .cast(pl.Int64)
            .alias("rows"),
            (
                pl.col("left_enterprise").is_in(targets.implode())
                | pl.col("right_enterprise").is_in(targets.implode())
                if targets is not None and len(targets)
                else pl.lit(False)
            ).alias("target"),
        )
    )
    d = d.filter(
        (pl.col("change") >= MIN_CHANGE)
        | (
            (pl.col("change") >= MIN_CHANGE_LARGE)
            & ((pl.col("rows") >= LARGE_ROWS) | pl.col("target"))
        )
    )
    if d.height == 0:
        return empty
    side = std.select("source", "source_row", "source_key")
    a, b = side.select(pl.all().gather(d["rid_a"])), side.select(pl.all().gather(d["rid_b"]))
    out = d.with_columns(
        a["source"].alias("left_source"),
        a["source_row"].cast(pl.Int64).alias("left_row"),
        a["source_key"].alias("left_key"),
        b["source"].alias("right_source"),
        b["source_row"].cast(pl.Int64).alias("right_row"),
        b["source_key"].alias("right_key"),
        (
            pl.col("change")
            * (1.0 + pl.col("rows").cast(pl.Float64).log(2))
            * pl.when("target").then(TARGET_FACTOR).otherwise(1.0)
        ).alias("priority"),
        pl.col("rule").fill_null("none"),
        pl.col("p").round(4).alias("score"),
        pl.col("margin").round(2),
        evidence_text(weights).alias("evidence"),
    ).filter(pl.col("left_key").is_not_null() & pl.col("right_key").is_not_null())
    out = out.with_columns(
        pair_ids(
            row_key(out["left_source"], out["left_key"]),
            row_key(out["right_source"], out["right_key"]),
            key,
        ).alias("pair_id")
    ).filter(
        pl.col("left_source") + pl.col("left_key") != pl.col("right_source") + pl.col("right_key")
    )
    if decided is not None and len(decided):
        out = out.filter(~pl.col("pair_id").is_in(decided.implode()))
    return (
        out.select(list(QUEUE_SCHEMA))
        .unique("pair_id", keep="first", maintain_order=True)
        .sort(["priority", "pair_id"], descending=[True, False])
        .with_columns(pl.col("priority").round(6))
    )


def _rids(std: pl.DataFrame, source: pl.Series, key: pl.Series) -> pl.DataFrame:
    """The rows of ``std`` holding each (source, key): ``i`` (its input position), ``rid``."""
    want = pl.DataFrame({"source": source, "source_key": key}).with_row_index("i")
    return want.join(std.select("rid", "source", "source_key"), on=["source", "source_key"]).select(
        pl.col("i").cast(pl.Int64), pl.col("rid").cast(pl.Int64)
    )


def constrain(std: pl.DataFrame, decisions: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``std`` with :data:`clusters.APART_COLUMN` (the cannot-link labels of ``different``) and the
    must-link edges of ``same`` (``rid_a < rid_b``, rule ``review``, score 1, agreed 0).

    ``decisions``: the current decisions (``left_source``, ``left_key``, ``right_source``,
    ``right_key``, ``decision``); those whose rows are not in this month are left out.
    """
    sides = []
    for side in ("left", "right"):
        sides.append(
            _rids(std, decisions[f"{side}_source"], decisions[f"{side}_key"]).rename(
                {"rid": f"rid_{side}"}
            )
        )
    both = (
        sides[0]
        .join(sides[1], on="i")
        .join(
            decisions.select(pl.col("decision"))
            .with_row_index("i")
            .with_columns(pl.col("i").cast(pl.Int64)),
            on="i",
        )
    )
    same = both.filter(pl.col("decision") == "same")
    edges = (
        same.select(
            pl.min_horizontal("rid_left", "rid_right").cast(pl.UInt32).alias("rid_a"),
            pl.max_horizontal("rid_left", "rid_right").cast(pl.UInt32).alias("rid_b"),
        )
        .filter(pl.col("rid_a") != pl.col("rid_b"))
        .unique(maintain_order=True)
        .with_columns(
            pl.lit(REVIEW_RULE).alias("rule"),
            pl.lit(1.0).alias("score"),
            pl.lit(0, dtype=pl.UInt32).alias("agreed"),
        )
    )
    apart = both.filter(pl.col("decision") == "different")
    label = pl.col("i") + 1  # pair i: +label on its left rows, -label on its right ones
    labels = pl.concat(
        [
            apart.select(pl.col("rid_left").alias("rid"), label.alias("label")),
            apart.select(pl.col("rid_right").alias("rid"), (-label).alias("label")),
        ]
    )
    per_row = labels.group_by("rid").agg(pl.col("label").unique().sort())
    col = (
        std.select(pl.col("rid").cast(pl.Int64))
        .join(per_row, on="rid", how="left", maintain_order="left")
        .get_column("label")
        .alias(APART_COLUMN)
    )
    return std.with_columns(col), edges


def enforcement(std: pl.DataFrame, links: pl.DataFrame, decisions: pl.DataFrame) -> dict[str, Any]:
    """Which decisions of this month held: ``same`` rows together, ``different`` rows apart.

    Returns counts (``applicable``: decisions whose two rows are in the month; ``same_held``,
    ``different_held``) and, for a ``same`` that could not hold, the reasons (``refused``:
    reason -> count): an identifier constraint (two valid USCCs, two rows of a registry that
    lists each entity once, a branch with its head office) or another decision (``different``).
    """
    eid = std.select("source", "source_key").with_columns(links.get_column("enterprise_id"))
    out: dict[str, Any] = {"applicable": 0, "same_held": 0, "different_held": 0, "refused": {}}
    if decisions.height == 0:
        return out
    d = decisions.filter(pl.col("decision").is_in(["same", "different"])).with_row_index("i")
    for side in ("left", "right"):
        d = d.join(
            eid.rename(
                {
                    "source": f"{side}_source",
                    "source_key": f"{side}_key",
                    "enterprise_id": f"{side}_e",
                }
            ),
            on=[f"{side}_source", f"{side}_key"],
        )
    d = d.group_by("i", maintain_order=True).agg(
        pl.col("decision").first(),
        (pl.col("left_e") == pl.col("right_e")).all().alias("all_together"),
        (pl.col("left_e") != pl.col("right_e")).all().alias("all_apart"),
        pl.col("left_e").first(),
        pl.col("right_e").first(),
    )
    out["applicable"] = d.height
    out["same_held"] = d.filter((pl.col("decision") == "same") & pl.col("all_together")).height
    out["different_held"] = d.filter(
        (pl.col("decision") == "different") & pl.col("all_apart")
    ).height
    broken = d.filter((pl.col("decision") == "same") & ~pl.col("all_together"))
    if broken.height:
        out["refused"] = _reasons(std, links, broken)
    return out


def _reasons(std: pl.DataFrame, links: pl.DataFrame, broken: pl.DataFrame) -> dict[str, int]:
    """Why each ``same`` in ``broken`` (``left_e``, ``right_e``) could not hold: the first
    constraint the two enterprises would break together."""
    from datapool.matching.scoring import UNIQUE_SOURCES

    rows = std.select(
        pl.when(pl.col("uscc_valid").fill_null(False)).then(pl.col("uscc")).alias("uscc"),
        pl.when(pl.col("source").is_in(list(UNIQUE_SOURCES))).then(pl.col("source")).alias("once"),
        pl.col("branch").fill_null(False),
        pl.col(APART_COLUMN)
        if APART_COLUMN in std.columns
        else pl.lit(None, pl.List(pl.Int64)).alias(APART_COLUMN),
    ).with_columns(links.get_column("enterprise_id"))
    per = rows.group_by("enterprise_id").agg(
        pl.col("uscc").drop_nulls().unique(),
        pl.col("once").drop_nulls(),
        pl.col("branch").unique(),
        pl.col(APART_COLUMN).explode().drop_nulls().unique(),
    )
    j = broken.join(per, left_on="left_e", right_on="enterprise_id").join(
        per, left_on="right_e", right_on="enterprise_id", suffix="_r"
    )
    counts: dict[str, int] = {}
    for r in j.iter_rows(named=True):  # one per refused decision: a few
        u = set(r["uscc"]) | set(r["uscc_r"])
        if len(u) > 1:
            why = "two valid USCCs"
        elif set(r["once"]) & set(r["once_r"]):
            why = "two rows of a registry that lists each entity once"
        elif len(set(r["branch"]) | set(r["branch_r"])) > 1:
            why = "a branch with its head office"
        elif {-x for x in r[APART_COLUMN]} & set(r[f"{APART_COLUMN}_r"]):
            why = "a 'different' decision"
        else:
            why = "another constraint"
        counts[why] = counts.get(why, 0) + 1
    return dict(sorted(counts.items()))


def agreement(decided: pl.DataFrame) -> dict[str, Any]:
    """How often the matcher agreed with people (``decided``: ``decision``, ``matcher``, ``rule``,
    ``score``; ``same``/``different`` only): overall, per rule, per score band, and the rules
    people overturn most."""
    d = decided.filter(pl.col("decision").is_in(["same", "different"])).with_columns(
        (pl.col("decision") == pl.col("matcher")).alias("agreed"),
        (pl.col("score").fill_null(0.0) * 10).floor().clip(0, 9).cast(pl.Int64).alias("band"),
    )

    def table(by: str) -> list[dict[str, Any]]:
        if d.height == 0:
            return []
        g = (
            d.group_by(by)
            .agg(
                pl.len().alias("decided"),
                pl.col("agreed").sum().alias("agreed"),
            )
            .with_columns((pl.col("agreed") / pl.col("decided")).round(3).alias("agreement"))
        )
        return g.sort(by).to_dicts()

    per_band = table("band")
    for row in per_band:
        b = row.pop("band")
        row["score_band"] = f"{b / 10:.1f}-{(b + 1) / 10:.1f}"
    overturned = sorted(
        (
            {"rule": r["rule"], "overturned": r["decided"] - r["agreed"], "decided": r["decided"]}
            for r in table("rule")
            if r["decided"] > r["agreed"]
        ),
        key=lambda r: (-r["overturned"], r["rule"]),
    )
    return {
        "decided": d.height,
        "agreed": int(d["agreed"].sum()) if d.height else 0,
        "per_rule": table("rule"),
        "per_score_band": per_band,
        "overturned": overturned,
    }
