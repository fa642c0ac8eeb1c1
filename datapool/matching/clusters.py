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

from datapool.matching.scoring import RULE_RANK, UNIQUE_SOURCES, agreed_text
from datapool.matching.standardise import require_row_ids

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


def _edge_keys(edges: pl.DataFrame) -> pl.DataFrame:
    """``rid_a``, ``rid_b`` and ``_key``: rule rank, then score (higher first), as one integer (smaller is stronger)."""
    rank = pl.col("rule").replace_strict(RULE_RANK, return_dtype=pl.Int64)
    score = (pl.col("score") * 10_000).round(0).cast(pl.Int64)  # scores carry 4 decimals
    return edges.select("rid_a", "rid_b", (rank * 100_000 + 100_000 - 1 - score).alias("_key"))


def cluster(std: pl.DataFrame, edges: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return ``(assignments: rid -> cluster, accepted edges)``; cluster = smallest rid in it.

    The constraints are monotone (a cluster that keeps them keeps them in every part), so a
    connected component of all edges that keeps them is one cluster, whatever the order:
    those are found at once (scipy). Only the edges of components that would break a
    constraint are ordered (strongest first: rule rank, score, rid_a, rid_b) and run through
    the union-find, whose per-cluster state lives in flat lists indexed by the root: the
    valid USCC, a bit per once-only registry, a branch bitmask (1 = not a branch, 2 = a branch).
    Accepted edges keep the order of ``edges``.
    """
    n = std.height
    ia, ib = edges["rid_a"].to_numpy().astype(np.int64), edges["rid_b"].to_numpy().astype(np.int64)
    graph = coo_matrix((np.ones(len(ia), dtype=np.int8), (ia, ib)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    rows = pl.DataFrame({
        "comp": comp,
        "uscc": std.select(pl.when(pl.col("uscc_valid")).then(pl.col("uscc")).otherwise(None)).to_series(),
        "reg": std.get_column("source").replace_strict(_REGISTRY_INDEX, default=-1, return_dtype=pl.Int8),
        "branch": std.get_column("branch").fill_null(False),
    })
    # a component breaks a constraint when it holds two valid USCCs (their hashes' min and max differ),
    # two rows of one once-only registry, or branch and non-branch rows
    h = pl.when(pl.col("uscc").is_not_null()).then(pl.col("uscc").hash(seed=5))
    bad = rows.group_by("comp").agg(
        ((h.min() != h.max()).fill_null(False)
         | pl.max_horizontal([(pl.col("reg") == i).sum() for i in range(len(UNIQUE_SOURCES))]).gt(1)
         | (pl.col("branch").min() != pl.col("branch").max())).alias("bad"),
    ).filter(pl.col("bad")).get_column("comp").to_numpy()
    is_bad = np.zeros(int(comp.max()) + 1 if n else 0, dtype=bool)
    is_bad[bad] = True
    # a good component's cluster is its smallest rid; every edge in it is accepted
    smallest = np.full(len(is_bad), n, dtype=np.int64)
    np.minimum.at(smallest, comp, np.arange(n))
    roots = smallest[comp]
    keep = ~is_bad[comp[ia]]
    if is_bad.any():
        members = np.flatnonzero(is_bad[comp])
        local = np.full(n, -1, dtype=np.int64)
        local[members] = np.arange(len(members))
        hard = np.flatnonzero(~keep)
        order = _edge_keys(edges[hard]).with_columns(pl.Series("e", hard)).sort("_key", "rid_a", "rid_b")
        hard = order.get_column("e").to_numpy()
        sub = rows[members]
        sub_roots, ok = _constrained(
            len(members), list(zip(local[ia[hard]].tolist(), local[ib[hard]].tolist(), strict=True)),
            sub["uscc"].to_list(), [1 << r if r >= 0 else 0 for r in sub["reg"].to_list()],
            [2 if b else 1 for b in sub["branch"].to_list()])
        roots[members] = members[sub_roots]
        keep[hard] = ok
    assign = pl.DataFrame({"rid": std.get_column("rid"), "cluster": pl.Series(roots, dtype=pl.UInt32)})
    return assign, edges.filter(pl.Series(keep))


def row_clusters(std: pl.DataFrame, assign: pl.DataFrame) -> pl.Series:
    """Each row's ``cluster``, in std's row order (``assign`` from :func:`cluster` already is: no join then)."""
    if assign.get_column("rid").equals(std.get_column("rid")):
        return assign.get_column("cluster")
    return std.select("rid").join(assign, on="rid", how="left", maintain_order="left").get_column("cluster")


def record_rules(std: pl.DataFrame, accepted: pl.DataFrame) -> pl.DataFrame:
    """Each record's explanation: the strongest accepted edge touching it, else ``singleton``.

    Strongest = rule rank, then score, then the edge's (rid_a, rid_b). Among the edges of one
    record, that last order is the order of the other end, so one integer key and the other
    end decide; edges are chosen by number and only the chosen ones' texts are gathered.
    """
    require_row_ids(std, "record_rules")
    keys = _edge_keys(accepted).with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).alias("e"))
    long = pl.concat([keys.select(pl.col("rid_a").alias("rid"), pl.col("rid_b").alias("other"), "_key", "e"),
                      keys.select(pl.col("rid_b").alias("rid"), pl.col("rid_a").alias("other"), "_key", "e")])
    ordered = long.sort("rid", "_key", "other")
    rid = ordered.get_column("rid").to_numpy()
    first = np.r_[True, rid[1:] != rid[:-1]] if len(rid) else np.zeros(0, dtype=bool)
    best = np.full(std.height, -1, dtype=np.int64)  # rid = row position: each row's edge number, -1 for none
    best[rid[first]] = ordered.get_column("e").to_numpy()[first]
    at = pl.Series(best).replace(-1, None)
    return accepted.select("rule", "score", "agreed").select(pl.all().gather(at)).with_columns(
        std.get_column("rid"), pl.col("rule").fill_null("singleton"), pl.col("score").fill_null(1.0),
        agreed_text(pl.col("agreed")).fill_null("")).select("rid", "rule", "score", "agreed")
