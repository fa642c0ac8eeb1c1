"""Constrained, deterministic clustering of accepted pairs.

Edges are taken strongest first (rule rank, then score, then row ids), and a
union is refused when the merged cluster would hold two distinct valid USCCs,
two rows of a registry that lists each entity once, or branch and non-branch
rows. The order makes the result independent of input order.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from datapool.matching.scoring import RULE_RANK, UNIQUE_SOURCES

_REGISTRY_INDEX = {s: i for i, s in enumerate(UNIQUE_SOURCES)}


def _constrained(n: int, edges: list[tuple[int, int]], uscc: list, seen: list[int], branch: list[int]) -> tuple[list[int], list[bool]]:
    """Union-find over ``edges`` in order, refusing unions that break a constraint. Returns roots and accepted flags."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    accepted = []
    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra == rb:
            accepted.append(True)
            continue
        ua, ub = uscc[ra], uscc[rb]
        if (ua and ub and ua != ub) or (seen[ra] & seen[rb]) or (branch[ra] | branch[rb]) == 3:
            accepted.append(False)
            continue
        root, child = (ra, rb) if ra < rb else (rb, ra)
        parent[child] = root
        uscc[root] = ua or ub
        seen[root] |= seen[child]
        branch[root] |= branch[child]
        accepted.append(True)
    return [find(i) for i in range(n)], accepted


def cluster(std: pl.DataFrame, edges: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return ``(assignments: rid -> cluster, accepted edges)``; cluster = smallest rid in it.

    The constraints are monotone (a cluster that keeps them keeps them in every part), so a
    connected component of all edges that keeps them is one cluster, whatever the order:
    those are found at once (scipy). Only components that would break a constraint run
    the ordered union-find, whose per-cluster state lives in flat lists indexed by the
    root: the valid USCC, a bit per once-only registry, a branch bitmask (1 = not a
    branch, 2 = a branch).
    """
    n = std.height
    # the order is computed on the numbers alone; the edges themselves are gathered once, at the end
    ordered = edges.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("e"), "rid_a", "rid_b", "score",
                           pl.col("rule").replace_strict(RULE_RANK, return_dtype=pl.Int32).alias("_rank")) \
        .sort(["_rank", "score", "rid_a", "rid_b"], descending=[False, True, False, False])
    order = ordered.get_column("e")
    ia, ib = ordered["rid_a"].to_numpy().astype(np.int64), ordered["rid_b"].to_numpy().astype(np.int64)
    graph = coo_matrix((np.ones(len(ia), dtype=np.int8), (ia, ib)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    rows = pl.DataFrame({
        "comp": comp,
        "uscc": std.select(pl.when(pl.col("uscc_valid")).then(pl.col("uscc")).otherwise(None)).to_series(),
        "reg": std.get_column("source").replace_strict(_REGISTRY_INDEX, default=-1, return_dtype=pl.Int8),
        "branch": std.get_column("branch").fill_null(False),
    })
    bad = rows.group_by("comp").agg((
        (pl.col("uscc").n_unique() - pl.col("uscc").null_count().clip(0, 1) > 1)
        | (pl.col("reg").filter(pl.col("reg") >= 0).is_duplicated().any())
        | (pl.col("branch").n_unique() > 1)).alias("bad")).filter(pl.col("bad")).get_column("comp").to_numpy()
    is_bad = np.zeros(int(comp.max()) + 1 if n else 0, dtype=bool)
    is_bad[bad] = True
    # a good component's cluster is its smallest rid; every edge in it is accepted
    smallest = np.full(len(is_bad), n, dtype=np.int64)
    np.minimum.at(smallest, comp, np.arange(n))
    roots = smallest[comp]
    keep = ~is_bad[comp[ia]]
    if is_bad.any():
        members = np.flatnonzero(is_bad[comp])
        local = {int(r): i for i, r in enumerate(members)}
        sub = rows[members]
        reg = sub["reg"].to_list()
        hard = np.flatnonzero(is_bad[comp[ia]])
        sub_roots, ok = _constrained(
            len(members), [(local[int(a)], local[int(b)]) for a, b in zip(ia[hard], ib[hard], strict=True)],
            sub["uscc"].to_list(), [1 << r if r >= 0 else 0 for r in reg], [2 if b else 1 for b in sub["branch"].to_list()])
        roots[members] = members[sub_roots]
        keep[hard] = ok
    assign = pl.DataFrame({"rid": std.get_column("rid"), "cluster": pl.Series(roots, dtype=pl.UInt32)})
    return assign, edges[order.filter(pl.Series(keep))]


def record_rules(std: pl.DataFrame, accepted: pl.DataFrame) -> pl.DataFrame:
    """Each record's explanation: the strongest accepted edge touching it, else ``singleton``.

    Strongest = rule rank, then score, then the edge's place in ``accepted``; edges are chosen
    by number and only the chosen ones' texts are gathered.
    """
    edges = accepted.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("e"), "rid_a", "rid_b", "score",
                            pl.col("rule").replace_strict(RULE_RANK, return_dtype=pl.Int32).alias("_rank"))
    long = pl.concat([edges.select(pl.col("rid_a").alias("rid"), "e", "_rank", "score"),
                      edges.select(pl.col("rid_b").alias("rid"), "e", "_rank", "score")])
    best = long.sort(["rid", "_rank", "score", "e"], descending=[False, False, True, False]).unique("rid", keep="first")
    chosen = accepted.select("rule", "score", "agreed")[best["e"]].with_columns(best["rid"])
    return std.select("rid").join(chosen, on="rid", how="left", maintain_order="left").with_columns(
        pl.col("rule").fill_null("singleton"), pl.col("score").fill_null(1.0), pl.col("agreed").fill_null(""))
