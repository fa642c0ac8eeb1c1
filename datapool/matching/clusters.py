"""Constrained, deterministic clustering of accepted pairs.

Edges are taken strongest first (rule rank, then score, then row ids), and a
union is refused when the merged cluster would hold two distinct valid USCCs,
two rows of a registry that lists each entity once, or branch and non-branch
rows. The order makes the result independent of input order.
"""

from __future__ import annotations

import polars as pl

from datapool.matching.scoring import RULE_RANK, UNIQUE_SOURCES

_REGISTRY_INDEX = {s: i for i, s in enumerate(UNIQUE_SOURCES)}


def cluster(std: pl.DataFrame, edges: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return ``(assignments: rid -> cluster, accepted edges)``; cluster = smallest rid in it.

    Per-cluster state lives in flat lists indexed by the root: the valid USCC,
    how many rows of each once-only registry, and a branch bitmask (1 = not a
    branch, 2 = a branch).
    """
    n = std.height
    parent = list(range(n))
    uscc = std.select(pl.when(pl.col("uscc_valid")).then(pl.col("uscc")).otherwise(None)).to_series().to_list()
    reg = std.get_column("source").replace_strict(_REGISTRY_INDEX, default=-1, return_dtype=pl.Int8).to_list()
    seen = [1 << r if r >= 0 else 0 for r in reg]  # bit per once-only registry present in the cluster
    branch = [2 if b else 1 for b in std.get_column("branch").fill_null(False).to_list()]

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    ordered = edges.with_columns(pl.col("rule").replace_strict(RULE_RANK, return_dtype=pl.Int32).alias("_rank")) \
        .sort(["_rank", "score", "rid_a", "rid_b"], descending=[False, True, False, False])
    accepted = []
    for i, (a, b) in enumerate(zip(ordered["rid_a"].to_list(), ordered["rid_b"].to_list(), strict=True)):
        ra, rb = find(a), find(b)
        if ra == rb:
            accepted.append(i)
            continue
        ua, ub = uscc[ra], uscc[rb]
        if (ua and ub and ua != ub) or (seen[ra] & seen[rb]) or (branch[ra] | branch[rb]) == 3:
            continue
        root, child = (ra, rb) if ra < rb else (rb, ra)
        parent[child] = root
        uscc[root] = ua or ub
        seen[root] |= seen[child]
        branch[root] |= branch[child]
        accepted.append(i)
    roots = [find(i) for i in range(n)]
    assign = pl.DataFrame({"rid": std.get_column("rid"), "cluster": pl.Series(roots, dtype=pl.UInt32)})
    return assign, ordered[accepted].drop("_rank") if accepted else ordered.head(0).drop("_rank")


def record_rules(std: pl.DataFrame, accepted: pl.DataFrame) -> pl.DataFrame:
    """Each record's explanation: the strongest accepted edge touching it, else ``singleton``."""
    long = pl.concat([
        accepted.select(pl.col("rid_a").alias("rid"), "rule", "score", "agreed"),
        accepted.select(pl.col("rid_b").alias("rid"), "rule", "score", "agreed"),
    ]).with_columns(pl.col("rule").replace_strict(RULE_RANK, return_dtype=pl.Int32).alias("_rank"))
    best = long.sort(["rid", "_rank", "score"], descending=[False, False, True]).unique("rid", keep="first")
    return std.select("rid").join(best.drop("_rank"), on="rid", how="left").with_columns(
        pl.col("rule").fill_null("singleton"), pl.col("score").fill_null(1.0), pl.col("agreed").fill_null(""))
