"""Stable enterprise ids across snapshots.

A new cluster's id comes from its anchor (its valid USCC, else its smallest
source key), hashed, so the same enterprise gets the same id even with no
history. When the previous snapshot's crosswalk (source, source_key ->
enterprise_id) is given, it wins: each cluster takes the previous id most of
its rows carried, so a renamed enterprise, or one whose USCC only appears
this month, keeps its id. No id is given to two clusters.
"""

from __future__ import annotations

import hashlib

import polars as pl


def new_id(anchor: str) -> str:
    """Deterministic id for a cluster anchor."""
    return "E" + hashlib.sha1(anchor.encode("utf-8")).hexdigest()[:12].upper()


def assign_ids(std: pl.DataFrame, assign: pl.DataFrame, previous: pl.DataFrame | None = None) -> pl.DataFrame:
    """Return ``cluster -> enterprise_id``."""
    df = std.select("rid", "source", "source_key", "uscc", "uscc_valid").join(assign, on="rid")
    if previous is not None and previous.height:
        prev = previous.select("source", "source_key", "enterprise_id").unique(["source", "source_key"], keep="first")
        df = df.join(prev, on=["source", "source_key"], how="left")
    else:
        df = df.with_columns(pl.lit(None, dtype=pl.Utf8).alias("enterprise_id"))
    anchors = df.group_by("cluster").agg(
        pl.col("uscc").filter(pl.col("uscc_valid")).min().alias("uscc"),
        (pl.col("source") + ":" + pl.col("source_key")).min().alias("key"),
    )
    votes = (df.filter(pl.col("enterprise_id").is_not_null()).group_by("cluster", "enterprise_id").len("votes")
             .sort(["cluster", "votes", "enterprise_id"], descending=[False, True, False])
             .group_by("cluster", maintain_order=True).agg(pl.col("enterprise_id").alias("prev"),
                                                           pl.col("votes").first().alias("top")))
    plan = (anchors.join(votes, on="cluster", how="left")
            .with_columns(pl.col("top").fill_null(0), pl.coalesce("uscc", "key", pl.col("cluster").cast(pl.Utf8)).alias("anchor"))
            .sort(["top", "cluster"], descending=[True, False]))
    taken: set[str] = set()
    result: dict[int, str] = {}
    for cl, candidates, anchor in plan.select("cluster", "prev", "anchor").iter_rows():
        chosen = next((p for p in candidates or () if p not in taken), None)
        if chosen is None:
            chosen, k = new_id(anchor), 1
            while chosen in taken:
                k += 1
                chosen = new_id(f"{anchor}#{k}")
        taken.add(chosen)
        result[cl] = chosen
    return pl.DataFrame({"cluster": list(result), "enterprise_id": list(result.values())},
                        schema={"cluster": pl.UInt32, "enterprise_id": pl.Utf8})
