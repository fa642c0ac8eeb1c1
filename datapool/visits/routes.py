"""Walking routes through a grid's targets: nearest neighbour, then 2-opt.

Distances are metres on an equirectangular projection (fine within a grid).
Targets without coordinates go to the end, ordered by address.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

EARTH_M = 6_371_000.0


def _metres(lon: np.ndarray, lat: np.ndarray, lat0: float) -> np.ndarray:
    k = math.pi / 180 * EARTH_M
    return np.column_stack([lon * k * math.cos(math.radians(lat0)), lat * k])


def route_length(xy: np.ndarray, order: list[int], start: np.ndarray) -> float:
    """Length of the path start -> order[0] -> ... (metres)."""
    if not order:
        return 0.0
    pts = np.vstack([start, xy[order]])
    return float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())


def plan(xy: np.ndarray, start: np.ndarray) -> list[int]:
    """Nearest-neighbour tour from ``start`` improved by 2-opt (open path)."""
    n = len(xy)
    if n <= 1:
        return list(range(n))
    left = set(range(n))
    order, cur = [], start
    while left:
        cand = sorted(left)
        d = np.linalg.norm(xy[cand] - cur, axis=1)
        nxt = cand[int(np.argmin(d))]
        order.append(nxt)
        left.discard(nxt)
        cur = xy[nxt]
    pts = np.vstack([start, xy])
    path = [0] + [i + 1 for i in order]
    improved = True
    while improved:
        improved = False
        for i in range(1, len(path) - 1):
            for j in range(i + 1, len(path)):
                a, b = pts[path[i - 1]], pts[path[i]]
                c = pts[path[j]]
                d = pts[path[j + 1]] if j + 1 < len(path) else None
                before = np.linalg.norm(a - b) + (np.linalg.norm(c - d) if d is not None else 0.0)
                after = np.linalg.norm(a - c) + (np.linalg.norm(b - d) if d is not None else 0.0)
                if after < before - 1e-6:
                    path[i:j + 1] = path[i:j + 1][::-1]
                    improved = True
    return [p - 1 for p in path[1:]]


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
            start = _metres(np.array([c_lon]), np.array([c_lat]), lat0)[0] if c_lon is not None else xy[0]
            order = plan(xy, start)
            unordered = route_length(xy, list(range(len(xy))), start)
            if route_length(xy, order, start) > unordered:  # NN + 2-opt is a heuristic: never worse than the list
                order = list(range(len(xy)))
            stats[grid_id] = {"route_m": route_length(xy, order, start), "unordered_m": unordered}
            legs = [float(np.linalg.norm(xy[a] - xy[b])) for a, b in zip(order, order[1:], strict=False)] + [None]
            for pos, (k, leg) in enumerate(zip(order, legs, strict=True), start=1):
                rows.append({**with_xy.row(k, named=True), "route_order": pos, "distance_to_next_m": leg})
        for pos, r in enumerate(without.iter_rows(named=True), start=len(order) + 1):
            rows.append({**r, "route_order": pos, "distance_to_next_m": None})
    if not rows:
        return targets.head(0).with_columns(pl.lit(None, pl.Int64).alias("route_order"),
                                            pl.lit(None, pl.Float64).alias("distance_to_next_m")), stats
    return pl.DataFrame(rows, infer_schema_length=None).drop("_i"), stats
