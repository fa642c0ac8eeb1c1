"""Constrained, deterministic clustering of accepted pairs.

Edges are taken strongest first (rule rank, then score, then row ids), and a
union is refused when the merged cluster would hold two distinct valid USCCs,
two rows of a registry that lists each entity once, or branch and non-branch
rows. The order makes the result independent of input order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from datapool.matching.scoring import RULE_RANK, UNIQUE_SOURCES


@dataclass
class _Cluster:
    uscc: str | None
    registries: dict[str, int] = field(default_factory=dict)
    branch: set[bool] = field(default_factory=set)


def cluster(std: pl.DataFrame, edges: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return ``(assignments: rid -> cluster, accepted edges)``; cluster = smallest rid in it."""
    n = std.height
    parent = list(range(n))
    valid = std.select(pl.when(pl.col("uscc_valid")).then(pl.col("uscc")).otherwise(None)).to_series().to_list()
    sources = std.get_column("source").to_list()
    branches = std.get_column("branch").fill_null(False).to_list()
    state = [_Cluster(valid[i], {sources[i]: 1} if sources[i] in UNIQUE_SOURCES else {}, {branches[i]})
             for i in range(n)]

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
        sa, sb = state[ra], state[rb]
        if sa.uscc and sb.uscc and sa.uscc != sb.uscc:
            continue
        if any(sa.registries.get(s, 0) + c > 1 for s, c in sb.registries.items()):
            continue
        if len(sa.branch | sb.branch) > 1:
            continue
        root, child = (ra, rb) if ra < rb else (rb, ra)
        parent[child] = root
        merged = state[root]
        other = state[child]
        merged.uscc = merged.uscc or other.uscc
        for s, c in other.registries.items():
            merged.registries[s] = merged.registries.get(s, 0) + c
        merged.branch |= other.branch
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
