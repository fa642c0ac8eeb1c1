"""Walking routes through a grid's targets: nearest neighbour from every start, then 2-opt.

The route is an open path (a grid worker does not return to the start); it
is walked from the end nearer the grid's centroid. It is compared with the
unordered list (targets by enterprise id) walked in list order. Distances are
metres on an equirectangular projection (fine within a grid). Targets without
coordinates go to the end, ordered by address.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

EARTH_M = 6_371_000.0


def _metres(lon: np.ndarray, lat: np.ndarray, lat0: float) -> np.ndarray:
    k = math.pi / 180 * EARTH_M
    return np.column_stack([lon * k * math.cos(math.radians(lat0)), lat * k])


def route_length(xy: np.ndarray, order: list[int]) -> float:
    """Length of the open path order[0] -> order[1] -> ... (metres)."""
    if len(order) < 2:
        return 0.0
    return float(np.linalg.norm(np.diff(xy[order], axis=0), axis=1).sum())


def _nearest_neighbour(xy: np.ndarray, first: int) -> list[int]:
    left = set(range(len(xy))) - {first}
    order = [first]
    while left:
        cand = sorted(left)
        nxt = cand[int(np.argmin(np.linalg.norm(xy[cand] - xy[order[-1]], axis=1)))]
        order.append(nxt)
        left.discard(nxt)
    return order


def _two_opt(xy: np.ndarray, order: list[int]) -> list[int]:
    """Reverse segments of the open path while that shortens it."""
    path = list(order)
    improved = True
    while improved:
        improved = False
        for i in range(0, len(path) - 1):
            for j in range(i + 1, len(path)):
                a = xy[path[i - 1]] if i > 0 else None
                b, c = xy[path[i]], xy[path[j]]
                d = xy[path[j + 1]] if j + 1 < len(path) else None
                before = (np.linalg.norm(a - b) if a is not None else 0.0) + (np.linalg.norm(c - d) if d is not None else 0.0)
                after = (np.linalg.norm(a - c) if a is not None else 0.0) + (np.linalg.norm(b - d) if d is not None else 0.0)
                if after < before - 1e-6:
                    path[i:j + 1] = path[i:j + 1][::-1]
                    improved = True
    return path


def plan(xy: np.ndarray) -> list[int]:
    """Shortest open path found by nearest neighbour from every start, each improved by 2-opt."""
    n = len(xy)
    if n <= 2:
        return list(range(n))
    best, best_len = list(range(n)), float("inf")
    for first in range(min(n, 30)):
        order = _two_opt(xy, _nearest_neighbour(xy, first))
        length = route_length(xy, order)
        if length < best_len - 1e-9:
            best, best_len = order, length
    return best


def order_targets(targets: pl.DataFrame, centroids: dict[str, tuple[float, float]]) -> tuple[pl.DataFrame, dict]:
    """Route order per grid. Returns rows with ``route_order``, ``distance_to_next_m`` and per-grid lengths."""
    rows, stats = [], {}
    for (grid_id,), group in targets.sort("enterprise_id").group_by(["grid_id"], maintain_order=True):
        g = group.with_row_index("_i")
        with_xy = g.filter(pl.col("lon").is_not_null() & pl.col("lat").is_not_null())
        without = g.filter(pl.col("lon").is_null() | pl.col("lat").is_null()).sort("address", "enterprise_id")
        c_lon, c_lat = centroids.get(grid_id, (None, None))
        order: list[int] = []
        if with_xy.height:
            lat0 = float(with_xy["lat"].mean())
            xy = _metres(with_xy["lon"].to_numpy(), with_xy["lat"].to_numpy(), lat0)
            order = plan(xy)
            unordered = route_length(xy, list(range(len(xy))))
            if route_length(xy, order) > unordered:  # a heuristic: never hand out a route worse than the list
                order = list(range(len(xy)))
            if c_lon is not None and len(order) > 1:  # walk it from the end nearer the grid's centre
                centre = _metres(np.array([c_lon]), np.array([c_lat]), lat0)[0]
                if np.linalg.norm(xy[order[-1]] - centre) < np.linalg.norm(xy[order[0]] - centre):
                    order = order[::-1]
            stats[grid_id] = {"route_m": route_length(xy, order), "unordered_m": unordered, "stops": len(order)}
            legs = [float(np.linalg.norm(xy[a] - xy[b])) for a, b in zip(order, order[1:], strict=False)] + [None]
            for pos, (k, leg) in enumerate(zip(order, legs, strict=True), start=1):
                rows.append({**with_xy.row(k, named=True), "route_order": pos, "distance_to_next_m": leg})
        for pos, r in enumerate(without.iter_rows(named=True), start=len(order) + 1):
            rows.append({**r, "route_order": pos, "distance_to_next_m": None})
    if not rows:
        return targets.head(0).with_columns(pl.lit(None, pl.Int64).alias("route_order"),
                                            pl.lit(None, pl.Float64).alias("distance_to_next_m")), stats
    return pl.DataFrame(rows, infer_schema_length=None).drop("_i"), stats
