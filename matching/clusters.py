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


def _constrained(
    n: int, edges: list[tuple[int, int]], uscc: list, seen: list[int], branch: list[int]
) -> tuple[list[int], list[bool]]:
    """Union-find over ``edges`` in order, refusing unions that break a constraint.

    Returns the roots and the accepted flags.
    """
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
        if (
            (ua != ub and ua is not None and ub is not None)
            or (seen[ra] & seen[rb])
            or (branch[ra] | branch[rb]) == 3
        ):
            accepted.append(False)
            continue
        root, child = (ra, rb) if ra < rb else (rb, ra)
        parent[child] = root
        uscc[root] = ua if ua is not None else ub
        seen[root] |= seen[child]
        branch[root] |= branch[child]
        accepted.append(True)
    return [find(i) for i in range(n)], accepted


def _by_rank(
    n: int,
    la: np.ndarray,
    lb: np.ndarray,
    rank: np.ndarray,
    uscc: np.ndarray,
    seen: np.ndarray,
    branch: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_constrained` over edges ``(la, lb)`` in order, their ``rank`` rising.

    Per node: ``uscc`` (a hash, or -1 for none), ``seen`` and ``branch`` arrays. Returns the roots
    and the accepted flags.

    The edges of one rank are taken together: over the clusters they join, a connected component
    that keeps the constraints when merged whole is merged whole (in any order every one of its
    edges would be accepted, as the constraints are monotone); components of one rank never share
    a cluster, so only the components that would break a constraint need the ordered union-find.
    """
    root, ok = np.arange(n), np.zeros(len(la), dtype=bool)
    # the state of each cluster, at its root
    uscc, seen, branch = uscc.copy(), seen.copy(), branch.copy()
    bounds = np.r_[0, np.flatnonzero(np.diff(rank)) + 1, len(rank)]
    for s, e in zip(bounds[:-1], bounds[1:], strict=True):
        ra, rb = root[la[s:e]], root[lb[s:e]]
        cross = np.flatnonzero(ra != rb)
        ok[s:e] = ra == rb  # already one cluster
        if not len(cross):
            continue
        joined = np.zeros(n, dtype=bool)
        joined[ra[cross]], joined[rb[cross]] = True, True
        nodes = np.flatnonzero(joined)  # the clusters this rank joins, by root (ascending)
        m = len(nodes)
        place = np.empty(n, dtype=np.int64)
        place[nodes] = np.arange(m)
        ia, ib = place[ra[cross]], place[rb[cross]]
        _, comp = connected_components(
            coo_matrix((np.ones(len(ia), dtype=np.int8), (ia, ib)), shape=(m, m)), directed=False
        )
        k = int(comp.max()) + 1
        u = uscc[nodes]
        lo, hi = np.full(k, np.iinfo(np.int64).max), np.full(k, -1)
        np.minimum.at(lo, comp[u >= 0], u[u >= 0])
        np.maximum.at(hi, comp[u >= 0], u[u >= 0])
        # two valid USCCs, two rows of a once-only registry, branch and not
        bad = (hi >= 0) & (lo != hi)
        for bit in range(len(UNIQUE_SOURCES)):
            bad |= np.bincount(comp, weights=(seen[nodes] >> bit) & 1, minlength=k) > 1
        bad |= (np.bincount(comp, weights=branch[nodes] & 1, minlength=k) > 0) & (
            np.bincount(comp, weights=branch[nodes] & 2, minlength=k) > 0
        )
        to = np.arange(n)
        # a good component: one cluster, named by its smallest root (nodes are sorted: its first)
        good = ~bad[comp]
        first = np.full(k, n)
        np.minimum.at(first, comp, np.arange(m))
        new = nodes[first[comp]]
        to[nodes[good]] = new[good]
        ok[s + cross[~bad[comp[ia]]]] = True
        seen_or, branch_or = np.zeros(k, dtype=seen.dtype), np.zeros(k, dtype=branch.dtype)
        np.bitwise_or.at(seen_or, comp, seen[nodes])
        np.bitwise_or.at(branch_or, comp, branch[nodes])
        uscc[new[good]], seen[new[good]], branch[new[good]] = (
            hi[comp[good]],
            seen_or[comp[good]],
            branch_or[comp[good]],
        )
        hard = np.flatnonzero(bad[comp[ia]])
        if len(hard):  # the ordered union-find over the clusters of the bad components
            sub = np.flatnonzero(bad[comp])
            local = np.full(m, -1)
            local[sub] = np.arange(len(sub))
            us, ss, bs = (
                [None if x < 0 else x for x in uscc[nodes[sub]].tolist()],
                seen[nodes[sub]].tolist(),
                branch[nodes[sub]].tolist(),
            )
            edges = list(zip(local[ia[hard]].tolist(), local[ib[hard]].tolist(), strict=True))
            # it leaves each root's state in us, ss, bs
            sub_roots, flags = _constrained(len(sub), edges, us, ss, bs)
            sub_roots = np.asarray(sub_roots)
            to[nodes[sub]] = nodes[sub[sub_roots]]
            ok[s + cross[hard]] = flags
            is_root = sub_roots == np.arange(len(sub))
            at = nodes[sub[is_root]]
            uscc[at] = [
                -1 if x is None else x for x in np.asarray(us, dtype=object)[is_root].tolist()
            ]
            seen[at], branch[at] = np.asarray(ss)[is_root], np.asarray(bs)[is_root]
        root = to[root]
    return root, ok


_RANK_STEP = 100_000  # in an edge key, rule rank * _RANK_STEP + (_RANK_STEP - 1 - score * 10^4)


def _edge_keys(edges: pl.DataFrame) -> pl.DataFrame:
    """``rid_a``, ``rid_b`` and ``_key``: rule rank, then score (higher first), as one integer.

    A smaller key is a stronger edge.
    """
    rank = pl.col("rule").replace_strict(RULE_RANK, return_dtype=pl.Int64)
    score = (pl.col("score") * 10_000).round(0).cast(pl.Int64)  # scores carry 4 decimals
    return edges.select(
        "rid_a", "rid_b", (rank * _RANK_STEP + _RANK_STEP - 1 - score).alias("_key")
    )


def cluster(std: pl.DataFrame, edges: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return ``(assignments: rid -> cluster, accepted edges)``; cluster = smallest rid in it.

    The constraints are monotone (a cluster that keeps them keeps them in every part), so a
    connected component of all edges that keeps them is one cluster, whatever the order:
    those are found at once (scipy). Only the edges of components that would break a
    constraint are ordered (strongest first: rule rank, score, rid_a, rid_b) and run through
    the union-find (:func:`_by_rank`, the same idea again rank by rank, then :func:`_constrained`),
    whose per-cluster state, at the root, is the valid USCC (hashed), a bit per once-only
    registry, a branch bitmask (1 = not a branch, 2 = a branch).
    Accepted edges keep the order of ``edges``.
    """
    n = std.height
    ia, ib = edges["rid_a"].to_numpy().astype(np.int64), edges["rid_b"].to_numpy().astype(np.int64)
    graph = coo_matrix((np.ones(len(ia), dtype=np.int8), (ia, ib)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    # per row: its valid USCC as a 63-bit hash (-1 for none), its once-only registry (-1 for none),
    # branch or not
    valid = pl.col("uscc_valid").fill_null(False) & pl.col("uscc").is_not_null()
    uscc = (
        std.select(
            pl.when(valid).then((pl.col("uscc").hash(seed=5) // 2).cast(pl.Int64)).otherwise(-1)
        )
        .to_series()
        .to_numpy()
    )
    reg = (
        std.get_column("source")
        .replace_strict(_REGISTRY_INDEX, default=-1, return_dtype=pl.Int64)
        .to_numpy()
    )
    branch = std.get_column("branch").fill_null(False).to_numpy()
    # a component breaks a constraint when it holds two valid USCCs (their hashes' min and max
    # differ), two rows of one once-only registry, or branch and non-branch rows
    k = int(comp.max()) + 1 if n else 0
    has = uscc >= 0
    lo, hi = np.full(k, np.iinfo(np.int64).max), np.full(k, -1, dtype=np.int64)
    np.minimum.at(lo, comp[has], uscc[has])
    np.maximum.at(hi, comp[has], uscc[has])
    is_bad = (hi >= 0) & (lo != hi)
    for i in range(len(UNIQUE_SOURCES)):
        is_bad |= np.bincount(comp[reg == i], minlength=k) > 1
    branches = np.bincount(comp[branch], minlength=k)
    is_bad |= (branches > 0) & (branches < np.bincount(comp, minlength=k))
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
        order = (
            _edge_keys(edges[hard])
            .with_columns(pl.Series("e", hard))
            .sort("_key", "rid_a", "rid_b")
        )
        hard = order.get_column("e").to_numpy()
        sub_reg = reg[members]
        sub_roots, ok = _by_rank(
            len(members),
            local[ia[hard]],
            local[ib[hard]],
            order.get_column("_key").to_numpy() // _RANK_STEP,
            uscc[members],
            np.where(sub_reg >= 0, np.left_shift(1, np.maximum(sub_reg, 0)), 0),
            np.where(branch[members], 2, 1),
        )
        roots[members] = members[sub_roots]
        keep[hard] = ok
    assign = pl.DataFrame(
        {"rid": std.get_column("rid"), "cluster": pl.Series(roots, dtype=pl.UInt32)}
    )
    return assign, edges.filter(pl.Series(keep))


def row_clusters(std: pl.DataFrame, assign: pl.DataFrame) -> pl.Series:
    """Each row's ``cluster``, in std's row order (no join when ``assign`` already is in it)."""
    if assign.get_column("rid").equals(std.get_column("rid")):
        return assign.get_column("cluster")
    return (
        std.select("rid")
        .join(assign, on="rid", how="left", maintain_order="left")
        .get_column("cluster")
    )


def record_rules(std: pl.DataFrame, accepted: pl.DataFrame) -> pl.DataFrame:
    """Each record's explanation: the strongest accepted edge touching it, else ``singleton``.

    Strongest = rule rank, then score, then the edge's (rid_a, rid_b). Among the edges of one
    record, that last order is the order of the other end, so the edge key (below 2^20, see
    :func:`_edge_keys`) and the other end, packed into one integer, decide: each record's least is
    found without a sort. Edges are chosen by number and only the chosen ones' texts are gathered.
    """
    require_row_ids(std, "record_rules")
    # an edge's order seen from each end: its key, then the other end
    key = _edge_keys(accepted).get_column("_key").to_numpy().astype(np.uint64) << np.uint64(32)
    a, b = accepted.get_column("rid_a").to_numpy(), accepted.get_column("rid_b").to_numpy()
    rid = np.concatenate([a, b])
    order = np.concatenate([key | b.astype(np.uint64), key | a.astype(np.uint64)])
    least = np.full(std.height, np.iinfo(np.uint64).max, dtype=np.uint64)
    np.minimum.at(least, rid, order)
    # the edge that gives each row its least order (one only: no two edges share both ends)
    hit = np.flatnonzero(order == least[rid])
    # rid = row position: each row's edge number, -1 for none
    best = np.full(std.height, -1, dtype=np.int64)
    best[rid[hit]] = hit % max(len(a), 1)
    at = pl.Series(best).replace(-1, None)
    return (
        accepted.select("rule", "score", "agreed")
        .select(pl.all().gather(at))
        .with_columns(
            std.get_column("rid"),
            pl.col("rule").fill_null("singleton"),
            pl.col("score").fill_null(1.0),
            agreed_text(pl.col("agreed")).fill_null(""),
        )
        .select("rid", "rule", "score", "agreed")
    )
