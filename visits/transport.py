"""Points into clusters of fixed sizes at least total cost: the transportation problem.

:func:`transport` assigns ``n`` points to ``k`` clusters, cluster ``j`` taking exactly
``caps[j]`` points, minimising the summed cost ``cost[i, cluster of i]``. It is what each round
of the weekly split's balanced k-means (:func:`datapool.visits.weekly.balanced_clusters`) solves:
an assignment of points to the clusters' *slots* (``linear_sum_assignment`` on an ``n x n``
matrix, cubic time) is the same problem, but the slots of one cluster are interchangeable, so
only the ``n x k`` costs matter.

**How.** Cycle cancelling on the clusters: start from a feasible assignment (every cluster at
its size: the previous round's), and while moving points around a cycle of clusters (one point
from ``a1`` to ``a2``, one from ``a2`` to ``a3``, ..., one from ``aL`` back to ``a1``) lowers the
cost, move them. With ``W[a, b]`` the cheapest move of a point of ``a`` into ``b`` (``cost[i, b] -
cost[i, a]``, least over ``a``'s points), an assignment is optimal exactly when the ``k``-node
graph ``W`` has no negative cycle (the residual-graph condition of min-cost flow: any residual
cycle over points is a cycle over clusters, each leg moving a different point). From
:data:`PAIRS_FROM` clusters on, each pass first cancels every disjoint two-cluster cycle that is
negative (from ``W + W.T``, the most negative first: no search); when none is left (and with
fewer clusters, every pass), a negative cycle is looked for by Bellman-Ford over the ``k``
clusters, and none found ends it. Along a cycle as many points
move at once as keep each further point's move negative (the ``t``-th cheapest of each leg,
summed around the cycle, below zero). Each pass costs ``O(n k)`` at most (only the clusters on
the cycles are looked at again) and ``O(k^2)`` a Bellman-Ford step, memory ``n x k``; no
``n x n`` matrix.

The result is an exact optimum (up to :data:`TOLERANCE` of the cost's scale per move); among
equal-cost optima which one is returned is deterministic but need not be the one
``linear_sum_assignment`` would give.
"""

from __future__ import annotations

import numpy as np

TOLERANCE = 1e-12  # a cycle lowers the cost when it gains more than this times the costs' scale
PAIRS_FROM = 8  # from this many clusters each pass cancels two-cluster cycles before searching


def feasible(caps: np.ndarray | list[int]) -> np.ndarray:
    """A start for :func:`transport`: the first ``caps[0]`` points in cluster 0, and so on."""
    return np.repeat(np.arange(len(caps)), np.asarray(caps, dtype=np.int64))


def transport(
    cost: np.ndarray, caps: np.ndarray | list[int], start: np.ndarray | None = None
) -> np.ndarray:
    """The cluster of each point: cluster ``j`` holds ``caps[j]`` points, summed cost least.

    Args:
        cost: ``n x k`` costs, finite.
        caps: each cluster's size (``k`` integers summing to ``n``).
        start: a feasible assignment to improve (each cluster ``j`` holding ``caps[j]``
            points), e.g. the previous k-means round's; :func:`feasible` when omitted.

    Returns:
        ``n`` cluster numbers (int64).
    """
    cost = np.asarray(cost, dtype=np.float64)
    n, k = cost.shape
    caps = np.asarray(caps, dtype=np.int64)
    if caps.shape != (k,) or int(caps.sum()) != n or (caps < 0).any():
        raise ValueError(f"caps {caps.tolist()} do not split {n} points into {k} clusters")
    lab = feasible(caps) if start is None else np.array(start, dtype=np.int64)
    if lab.shape != (n,) or not np.array_equal(np.bincount(lab, minlength=k), caps):
        raise ValueError("start does not give each cluster its size")
    if n == 0 or k <= 1:
        return lab
    tol = TOLERANCE * max(1.0, float(np.abs(cost).max()))
    rows = np.arange(n)
    delta = cost - cost[rows, lab][:, None]  # delta[i, b]: moving i from its cluster into b
    w = np.full((k, k), np.inf)  # w[a, b]: the cheapest move of one of a's points into b

    def refresh(a: int) -> None:
        idx = np.flatnonzero(lab == a)  # O(n) but in numpy: cheaper than keeping sorted sets
        w[a] = delta[idx].min(axis=0) if len(idx) else np.inf
        w[a, a] = np.inf

    for a in range(k):
        refresh(a)
    while True:
        cycles = _negative_pairs(w, tol) if k >= PAIRS_FROM else []
        if not cycles:
            cycle = _negative_cycle(w, tol)
            if cycle is None:
                return lab
            cycles = [cycle]
        for cycle in cycles:  # on disjoint clusters: each moves its own points
            _cancel(cycle, cost, delta, lab, tol)
        for cycle in cycles:
            for a in cycle:
                refresh(a)


def _cancel(
    cycle: list[int], cost: np.ndarray, delta: np.ndarray, lab: np.ndarray, tol: float
) -> None:
    """Move points around ``cycle`` (each leg from a cluster into the next), as many per leg as
    keep the next point's move negative around the cycle; ``lab`` and ``delta`` in place."""
    legs = list(zip(cycle, cycle[1:] + cycle[:1], strict=True))
    members = [np.flatnonzero(lab == a) for a, _ in legs]
    most = min(len(idx) for idx in members)
    picks, gains = [], np.zeros(most)
    for (_, b), idx in zip(legs, members, strict=True):  # cheapest moves first
        d = delta[idx, b]
        order = np.argsort(d, kind="stable")[:most]
        picks.append(idx[order])
        gains += d[order]
    t = max(1, int(np.count_nonzero(gains < -tol)))  # marginal costs rise with t
    for (_, b), pick in zip(legs, picks, strict=True):
        moved = pick[:t]  # each leg's own points: disjoint
        lab[moved] = b
        delta[moved] = cost[moved] - cost[moved, b][:, None]


def _negative_pairs(w: np.ndarray, tol: float) -> list[list[int]]:
    """Disjoint two-cluster cycles (a point of ``a`` into ``b`` and one of ``b`` into ``a``)
    weighing less than ``-tol``, the most negative first: the common case, found without
    Bellman-Ford."""
    two = np.triu(w + w.T, 1)
    a, b = np.nonzero(two < -tol)
    if not len(a):
        return []
    used: set[int] = set()
    pairs = []
    for i in np.argsort(two[a, b], kind="stable").tolist():
        x, y = int(a[i]), int(b[i])
        if x not in used and y not in used:
            used.update((x, y))
            pairs.append([x, y])
    return pairs


def _negative_cycle(w: np.ndarray, tol: float) -> list[int] | None:
    """A cycle of ``w`` (``k x k`` weights, ``inf`` for no edge) weighing less than ``-tol``,
    as its nodes in order, or None. Bellman-Ford from a source joined to every node at 0,
    looking for a cycle among the predecessors after each pass."""
    k = len(w)
    dist = np.zeros(k)
    pred = np.full(k, -1, dtype=np.int64)
    cols = np.arange(k)
    for _ in range(k + 1):
        through = dist[:, None] + w
        best = through.argmin(axis=0)
        new = through[best, cols]
        better = new < dist - tol
        if not better.any():
            return None
        dist[better] = new[better]
        pred[better] = best[better]
        cycle = _pred_cycle(pred)
        if cycle is not None and _weight(w, cycle) < -tol:
            return cycle
    return None  # pragma: no cover - k + 1 passes always end in one of the returns above


def _pred_cycle(pred: np.ndarray) -> list[int] | None:
    """A cycle among the predecessor links (``-1``: none), in forward order, or None.

    Pointer doubling in numpy (``log k`` steps): after at least ``k`` links every node either
    fell off (reached a node with no predecessor) or stands on a cycle; one cycle is then
    walked in Python."""
    k = len(pred)
    hop = np.append(np.where(pred >= 0, pred, k), k)  # node k: where the links end
    steps = 1
    while steps <= k:
        hop = hop[hop]
        steps *= 2
    on = np.flatnonzero(hop[:k] != k)
    if not len(on):
        return None
    v = int(hop[on[0]])  # on a cycle
    back = [v]
    u = int(pred[v])
    while u != v:
        back.append(u)
        u = int(pred[u])
    return back[::-1]  # pred points backwards: reversed, each node's edge goes forward


def _weight(w: np.ndarray, cycle: list[int]) -> float:
    return float(sum(w[a, b] for a, b in zip(cycle, cycle[1:] + cycle[:1], strict=True)))
