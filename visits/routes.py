"""Walking routes through a grid's targets, from the grid's centre.

A grid worker sets out from the community, which we take to be the grid's
centroid, and does not come back: the route is an open path from there
through every target with coordinates. Up to ``EXACT_UP_TO`` targets it is the
shortest such path (Held-Karp); above that, nearest neighbour then 2-opt, and above
``NEAR_FROM`` both over each target's ``NEAR`` nearest targets only (linear memory).

It is compared with the unordered list (targets by enterprise id) walked in
list order from the same centre, so both lengths count the same first leg.
Distances are metres on an equirectangular projection (fine within a grid).
Targets without coordinates go to the end, ordered by address.
"""

from __future__ import annotations

import collections
import math
from typing import Any, TypedDict, cast

import numpy as np
import polars as pl
from scipy.spatial import cKDTree

EARTH_M = 6_371_000.0
MIN_GAIN_M = 1e-6  # a 2-opt move must shorten the route by more than this (float noise aside)
TIE_M = 1e-9  # of two free-start routes within this of each other, the first found is kept


def _metres(lon: np.ndarray, lat: np.ndarray, lat0: float) -> np.ndarray:
    k = math.pi / 180 * EARTH_M
    return np.column_stack([lon * k * math.cos(math.radians(lat0)), lat * k])


def route_length(xy: np.ndarray, order: list[int]) -> float:
    """Length of the open path order[0] -> order[1] -> ... (metres)."""
    if len(order) < 2:
        return 0.0
    return float(np.linalg.norm(np.diff(xy[order], axis=0), axis=1).sum())


def walk_length(xy: np.ndarray, order: list[int], start: np.ndarray | None = None) -> float:
    """Length of walking the points in ``order``, from ``start`` when given (metres)."""
    if start is None:
        return route_length(xy, order)
    return route_length(
        np.vstack([np.asarray(start, dtype=float)[None, :], xy]), [0, *[k + 1 for k in order]]
    )


def _distances(xy: np.ndarray) -> np.ndarray:
    distances: np.ndarray = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=2)
    return distances


def _held_karp(d: np.ndarray) -> list[int]:
    """Exact shortest open path from node 0 through every other node (DP over subsets).

    The subsets are taken a size at a time, all of one size in one array step: the cost of
    ending at ``k`` having visited ``mask`` is the least over ``j`` of the cost of ``mask``
    without ``k`` ending at ``j``, plus the leg ``j -> k`` (the first such ``j`` on a tie).
    """
    n = len(d) - 1
    full = 1 << n
    cost = np.full((full, n), np.inf)
    back = np.full((full, n), -1, dtype=np.int16)
    bit = 1 << np.arange(n)
    cost[bit, np.arange(n)] = d[0, 1:]
    legs_in = d[1:, 1:].T  # legs_in[k, j]: the leg j -> k
    masks = np.arange(full)
    holds = (masks[:, None] & bit[None, :]) != 0  # holds[mask, k]: k is in mask
    size = holds.sum(axis=1)
    for s in range(2, n + 1):
        nxt = masks[size == s]
        cand = cost[nxt[:, None] & ~bit[None, :]] + legs_in[None, :, :]  # [mask, k, j]
        j = cand.argmin(axis=2)
        best = np.take_along_axis(cand, j[:, :, None], axis=2)[:, :, 0]
        ok = holds[nxt] & (best < np.inf)
        cost[nxt] = np.where(ok, best, np.inf)
        back[nxt] = np.where(ok, j, -1)
    mask, k = full - 1, int(np.argmin(cost[full - 1]))
    order = []
    while k >= 0:
        order.append(k + 1)
        mask, k = mask ^ (1 << k), int(back[mask, k])
    return [0, *order[::-1]]


def _nearest_neighbour(d: np.ndarray, first: int) -> list[int]:
    """From ``first``, always on to the nearest point not yet visited (the lowest on a tie)."""
    left = np.ones(len(d), dtype=bool)
    left[first] = False
    order = [first]
    for _ in range(len(d) - 1):
        cand = np.flatnonzero(left)
        nxt = int(cand[int(np.argmin(d[order[-1], cand]))])
        order.append(nxt)
        left[nxt] = False
    return order


def _two_opt(d: np.ndarray, order: list[int], fixed_first: bool) -> list[int]:
    """Reverse segments of the open path while that shortens it (a fixed first node stays).

    First improvement: for each ``i`` the segments ``i..j`` are tried in order of ``j``, and a
    reversal that shortens the path is made at once, the search going on from ``j + 1`` on the
    new path. The gains of every ``j`` left are computed in one array step.
    """
    path = np.asarray(order, dtype=np.int64)
    n = len(path)
    improved = True
    while improved:
        improved = False
        for i in range(1 if fixed_first else 0, n - 1):
            j0 = i + 1
            while j0 < n:
                b, c = path[i], path[j0:]
                e = path[j0 + 1 :]  # the node after each c; none after the last
                d_ce = np.append(d[c[:-1], e], 0.0)
                d_be = np.append(d[b, e], 0.0)
                if i > 0:
                    a = path[i - 1]
                    before, after = d[a, b] + d_ce, d[a, c] + d_be
                else:
                    before, after = 0.0 + d_ce, 0.0 + d_be
                hit = np.flatnonzero(after < before - MIN_GAIN_M)
                if not hit.size:
                    break
                j = j0 + int(hit[0])
                path[i : j + 1] = path[i : j + 1][::-1].copy()
                improved = True
                j0 = j + 1
    return [int(k) for k in path]


def _neighbours(pts: np.ndarray, k: int) -> np.ndarray:
    """Each point's ``k`` nearest other points (a k-d tree; nearest first), an n x k array."""
    k = min(k, len(pts) - 1)
    _, idx = cKDTree(pts).query(pts, k=k + 1)
    return _without_self(np.asarray(idx).reshape(len(pts), k + 1))


def _without_self(idx: np.ndarray) -> np.ndarray:
    """Rows of ``idx`` (k + 1 neighbours each) without the row's own index, or without their last
    one where points at distance 0 crowded it out."""
    rows = np.arange(len(idx))[:, None]
    self_at = np.where(idx == rows, np.arange(idx.shape[1])[None, :], idx.shape[1] - 1).min(axis=1)
    keep = np.arange(idx.shape[1])[None, :] != self_at[:, None]
    out: np.ndarray = idx[keep].reshape(len(idx), idx.shape[1] - 1)
    return out


def _nearest_neighbour_near(pts: np.ndarray, near: np.ndarray, first: int) -> list[int]:
    """Nearest neighbour from ``first`` over each point's ``near`` list (:func:`_neighbours`);
    when every point on it is visited, the nearest unvisited point of all (lowest on a tie)."""
    n = len(pts)
    left = np.ones(n, dtype=bool)
    left[first] = False
    order, cur = [first], first
    for _ in range(n - 1):
        free = near[cur][left[near[cur]]]
        if free.size:
            nxt = int(free[0])
        else:
            cand = np.flatnonzero(left)
            gap = pts[cand] - pts[cur]
            nxt = int(cand[int(np.argmin(np.einsum("ij,ij->i", gap, gap)))])
        order.append(nxt)
        left[nxt] = False
        cur = nxt
    return order


def _two_opt_near(
    pts: np.ndarray, near: np.ndarray, order: list[int], fixed_first: bool
) -> list[int]:
    """2-opt on the open path ``order`` that only tries moves joining a point to one of its
    ``near`` points (neighbour lists with don't-look bits): a point is looked at again only when
    a move touched it. Each move reverses a segment so that a point and its neighbour become
    adjacent; a fixed first node stays first. It ends after a pass over every point finds no move
    that shortens the path. Linear memory; a few ``n * k`` moves tried."""
    path = np.asarray(order, dtype=np.int64)
    n = len(path)
    pos = np.empty(n, dtype=np.int64)
    pos[path] = np.arange(n)
    xs, ys = pts[:, 0].tolist(), pts[:, 1].tolist()
    hypot = math.hypot

    def dist(a: int, b: int) -> float:
        return hypot(xs[a] - xs[b], ys[a] - ys[b])

    first = 1 if fixed_first else 0
    todo: collections.deque[int] = collections.deque()
    queued = np.zeros(n, dtype=bool)
    lists = near.tolist()
    moved = True
    while todo or moved:
        if not todo:  # a pass over every point again: a move elsewhere may have opened one here
            todo.extend(range(n))
            queued[:] = True
            moved = False
        a = todo.popleft()
        queued[a] = False
        for c in lists[a]:
            pa, pc = int(pos[a]), int(pos[c])
            lo, hi = (pa, pc) if pa < pc else (pc, pa)
            if hi - lo < 2:
                continue
            x, y = int(path[lo]), int(path[hi])  # to become adjacent
            u = int(path[lo + 1])  # x u ... y w  ->  x y ... u w
            w = int(path[hi + 1]) if hi + 1 < n else -1
            gain = dist(x, u) - dist(x, y) + (dist(y, w) - dist(u, w) if w >= 0 else 0.0)
            i, j, touched = lo + 1, hi, (x, u, y, w)
            if gain <= MIN_GAIN_M:
                if lo < first:
                    continue
                v = int(path[hi - 1])  # t x ... v y  ->  t v ... x y
                t = int(path[lo - 1]) if lo > 0 else -1
                gain = dist(v, y) - dist(x, y) + (dist(t, x) - dist(t, v) if t >= 0 else 0.0)
                if gain <= MIN_GAIN_M:
                    continue
                i, j, touched = lo, hi - 1, (t, x, v, y)
            path[i : j + 1] = path[i : j + 1][::-1].copy()
            pos[path[i : j + 1]] = np.arange(i, j + 1)
            moved = True
            for k in (*touched, a):
                if k >= 0 and not queued[k]:
                    queued[k] = True
                    todo.append(k)
            break
    return [int(k) for k in path]


def _plan_near(xy: np.ndarray, start: np.ndarray | None) -> list[int]:
    """:func:`plan` above :data:`NEAR_FROM` stops: nearest neighbour and 2-opt over each stop's
    :data:`NEAR` nearest stops (:func:`_two_opt_near`), never an n x n matrix."""
    pts = xy if start is None else np.vstack([np.asarray(start, dtype=float)[None, :], xy])
    near = _neighbours(pts, NEAR)
    path = _two_opt_near(pts, near, _nearest_neighbour_near(pts, near, 0), start is not None)
    return path if start is None else [k - 1 for k in path[1:]]


EXACT_UP_TO = 10  # stops; Held-Karp is 2^n * n^2, a few milliseconds at 10
FREE_STARTS = 30  # without a given start, nearest neighbour + 2-opt from this many first stops
# above this many stops a route is planned over each stop's NEAR nearest stops (_plan_near):
# the n x n matrix and full 2-opt are quadratic and worse (2.6 s at 4,000 stops, 800 MB at
# 10,000); below it the plans are those of the full search
NEAR_FROM = 1_000
NEAR = 16


def plan(xy: np.ndarray, start: np.ndarray | None = None) -> list[int]:
    """A short open path through the points ``xy``; returns their order.

    With ``start`` (where the worker sets out, e.g. the grid's centre) the path
    begins there; without it, it may begin at any point. Up to ``EXACT_UP_TO``
    stops the path is the shortest there is (Held-Karp); above that it is
    nearest neighbour improved by 2-opt (from every start when none is given).
    """
    n = len(xy)
    if n <= 1 or (n == 2 and start is None):
        return list(range(n))
    if n > NEAR_FROM:
        return _plan_near(xy, start)
    if start is not None:
        d = _distances(np.vstack([np.asarray(start, dtype=float)[None, :], xy]))
        if n <= EXACT_UP_TO:
            return [k - 1 for k in _held_karp(d)[1:]]
        return [k - 1 for k in _two_opt(d, _nearest_neighbour(d, 0), fixed_first=True)[1:]]
    d = _distances(xy)
    if n <= EXACT_UP_TO:  # a free start is a start at a virtual point at distance 0 from all
        return [k - 1 for k in _held_karp(np.pad(d, ((1, 0), (1, 0))))[1:]]
    best, best_len = list(range(n)), float("inf")
    for first in range(min(n, FREE_STARTS)):
        order = _two_opt(d, _nearest_neighbour(d, first), fixed_first=False)
        length = route_length(xy, order)
        if length < best_len - TIE_M:
            best, best_len = order, length
    return best


class RouteStats(TypedDict):
    """One grid's walk: the route's and the unordered list's length in metres, and its stops."""

    route_m: float
    unordered_m: float
    stops: int


def order_targets(
    targets: pl.DataFrame, centroids: dict[str, tuple[float, float]]
) -> tuple[pl.DataFrame, dict[str, RouteStats]]:
    """Route order per grid: rows with ``route_order``, ``distance_to_next_m``, per-grid lengths.

    Per grid, ``stats`` holds ``route_m`` and ``unordered_m`` (from the centre when the grid has
    one) and ``stops``.
    """
    rows: list[dict[str, Any]] = []
    stats: dict[str, RouteStats] = {}
    for (grid_id,), group in targets.sort("enterprise_id").group_by(
        ["grid_id"], maintain_order=True
    ):
        g = group.with_row_index("_i")
        with_xy = g.filter(pl.col("lon").is_not_null() & pl.col("lat").is_not_null())
        without = g.filter(pl.col("lon").is_null() | pl.col("lat").is_null()).sort(
            "address", "enterprise_id"
        )
        c_lon, c_lat = centroids.get(grid_id, (None, None))
        order: list[int] = []
        if with_xy.height:
            lat0 = float(cast(float, with_xy["lat"].mean()))
            xy = _metres(with_xy["lon"].to_numpy(), with_xy["lat"].to_numpy(), lat0)
            listed = list(range(len(xy)))
            centre = (
                None if c_lon is None else _metres(np.array([c_lon]), np.array([c_lat]), lat0)[0]
            )
            order = plan(xy, centre)
            unordered = walk_length(xy, listed, centre)
            # a heuristic: never hand out a route worse than the list
            if walk_length(xy, order, centre) > unordered:
                order = listed
            stats[str(grid_id)] = RouteStats(
                route_m=walk_length(xy, order, centre), unordered_m=unordered, stops=len(order)
            )
            # to the metre: what a walker can use (and no false precision in sheets or tables)
            legs = [
                float(round(float(np.linalg.norm(xy[a] - xy[b]))))
                for a, b in zip(order, order[1:], strict=False)
            ] + [None]
            for pos, (k, leg) in enumerate(zip(order, legs, strict=True), start=1):
                rows.append(
                    {**with_xy.row(k, named=True), "route_order": pos, "distance_to_next_m": leg}
                )
        for pos, r in enumerate(without.iter_rows(named=True), start=len(order) + 1):
            rows.append({**r, "route_order": pos, "distance_to_next_m": None})
    if not rows:
        return targets.head(0).with_columns(
            pl.lit(None, pl.Int64).alias("route_order"),
            pl.lit(None, pl.Float64).alias("distance_to_next_m"),
        ), stats
    return pl.DataFrame(rows, infer_schema_length=None).drop("_i"), stats
