from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from datapool.connectors.grids import GridShape
from datapool.visits import routes
from datapool.visits.placement import place
from datapool.visits.routes import (
    MIN_GAIN_M,
    _nearest_neighbour,
    _nearest_neighbour_near,
    _neighbours,
    _two_opt,
    _two_opt_near,
    order_targets,
    plan,
    route_length,
    walk_length,
)


def brute_force(xy: np.ndarray) -> float:
    return min(route_length(xy, list(p)) for p in itertools.permutations(range(len(xy))))


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7])
def test_free_start_route_is_optimal_on_small_grids(n):
    rng = np.random.default_rng(n)
    ratios = []
    for _ in range(20):
        xy = rng.random((n, 2)) * [2900, 8300]
        best = brute_force(xy)
        got = route_length(xy, plan(xy))
        assert got <= route_length(xy, list(range(n))) + 1e-6
        ratios.append(got / best)
    assert max(ratios) <= 1 + 1e-9  # exact (Held-Karp) up to EXACT_UP_TO stops


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7])
def test_route_from_the_centre_is_the_shortest_walk(n):
    rng = np.random.default_rng(100 + n)
    for _ in range(10):
        xy, centre = rng.random((n, 2)) * 3000, rng.random(2) * 3000
        best = min(walk_length(xy, list(p), centre) for p in itertools.permutations(range(n)))
        assert walk_length(xy, plan(xy, centre), centre) == pytest.approx(best)


def test_long_routes_use_the_heuristic_and_beat_the_list():
    rng = np.random.default_rng(7)
    xy, centre = rng.random((25, 2)) * 3000, np.array([1500.0, 1500.0])
    order = plan(xy, centre)
    assert sorted(order) == list(range(25))
    assert walk_length(xy, order, centre) < 0.6 * walk_length(xy, list(range(25)), centre)


def test_targets_without_coordinates_go_last_by_address():
    t = pl.DataFrame(
        {
            "enterprise_id": ["a", "b", "c", "d"],
            "grid_id": ["G1"] * 4,
            "address": ["z路1号", "a路1号", "m路1号", "b路2号"],
            "lon": [114.9, None, 114.91, None],
            "lat": [25.7, None, 25.71, None],
        }
    )
    out, stats = order_targets(t, {"G1": (114.9, 25.7)})
    assert out.sort("route_order")["enterprise_id"].to_list()[2:] == ["b", "d"]
    assert sorted(out["route_order"]) == [1, 2, 3, 4] and stats["G1"]["stops"] == 2


def test_placement_by_point_then_address_then_reason():
    grids = [
        GridShape(
            "G1", "梅林镇广场社区网格", "广场社区", "梅林镇", "w1", box(114.0, 25.0, 115.0, 26.0)
        ),
        GridShape(
            "G2", "茅店镇红旗村网格", "红旗村", "茅店镇", "w2", box(115.0, 25.0, 116.0, 26.0)
        ),
    ]
    ents = pl.DataFrame(
        {
            "enterprise_id": ["p", "a", "u", "o"],
            "lon": [115.5, None, None, 120.0],
            "lat": [25.5, None, None, 30.0],
            "address": ["", "江西省赣州市赣县区茅店镇红旗村解放路1号", "梅林镇人民路2号", ""],
        }
    )
    got = {
        r["enterprise_id"]: (r["grid_id"], r["grid_method"])
        for r in place(ents, grids).iter_rows(named=True)
    }
    assert got["p"] == ("G2", "coordinates") and got["a"] == ("G2", "address")
    assert got["u"][0] is None and got["u"][1].startswith("unplaced: ")
    assert got["o"] == (None, "unplaced: coordinates outside every grid")


def _reversal_gains(d: np.ndarray, path: list[int], first: int) -> list[tuple[int, int, float]]:
    """Every reversal of ``path[i..j]`` (``i >= first``) that would shorten the open path."""
    found = []
    for i in range(first, len(path) - 1):
        for j in range(i + 1, len(path)):
            a = path[i - 1] if i > 0 else None
            e = path[j + 1] if j + 1 < len(path) else None
            before = (d[a, path[i]] if a is not None else 0.0) + (
                d[path[j], e] if e is not None else 0.0
            )
            after = (d[a, path[j]] if a is not None else 0.0) + (
                d[path[i], e] if e is not None else 0.0
            )
            if after < before - MIN_GAIN_M:
                found.append((i, j, before - after))
    return found


@given(
    st.integers(2, 40),
    st.integers(0, 2**32 - 1),
    st.booleans(),
    st.booleans(),
)
@settings(max_examples=60, deadline=None)
def test_two_opt_leaves_no_reversal_that_shortens_the_route(n, seed, fixed_first, grid):
    """2-opt ends on a path no segment reversal shortens (the first node kept when fixed),
    ties included (points on a small lattice lie at equal distances)."""
    rng = np.random.default_rng(seed)
    xy = rng.integers(0, 5, (n, 2)).astype(float) if grid else rng.random((n, 2)) * 3000
    d = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=2)
    start = _nearest_neighbour(d, 0)
    path = _two_opt(d, start, fixed_first)
    assert sorted(path) == list(range(n))
    assert not fixed_first or path[0] == start[0]
    assert _reversal_gains(d, path, 1 if fixed_first else 0) == []


@given(st.integers(1, 30), st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_nearest_neighbour_goes_to_the_nearest_unvisited_point(n, seed):
    rng = np.random.default_rng(seed)
    xy = rng.integers(0, 4, (n, 2)).astype(float)  # ties: the lowest index is taken
    d = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=2)
    order = _nearest_neighbour(d, n // 2)
    assert sorted(order) == list(range(n)) and order[0] == n // 2
    for k in range(1, n):
        left = sorted(set(range(n)) - set(order[:k]))
        assert order[k] == min(left, key=lambda i: (d[order[k - 1], i], i))


def _near_gains(xy: np.ndarray, near: np.ndarray, path: list[int], first: int) -> list[float]:
    """The gain of every move :func:`_two_opt_near` tries: a point and one of its near points made
    adjacent by a reversal (either way round)."""
    d = np.linalg.norm(xy[:, None, :] - xy[None, :, :], axis=2)
    pos = {k: i for i, k in enumerate(path)}
    gains = []
    for a in range(len(path)):
        for c in near[a]:
            lo, hi = sorted((pos[a], pos[int(c)]))
            if hi - lo < 2:
                continue
            x, y, u = path[lo], path[hi], path[lo + 1]
            w = path[hi + 1] if hi + 1 < len(path) else None
            gains.append(d[x, u] - d[x, y] + (d[y, w] - d[u, w] if w is not None else 0.0))
            if lo >= first:
                v = path[hi - 1]
                t = path[lo - 1] if lo > 0 else None
                gains.append(d[v, y] - d[x, y] + (d[t, x] - d[t, v] if t is not None else 0.0))
    return gains


@given(
    st.integers(3, 60),
    st.integers(1, 6),
    st.integers(0, 2**32 - 1),
    st.booleans(),
    st.booleans(),
)
@settings(max_examples=80, deadline=None)
def test_two_opt_over_near_points_leaves_no_such_move_that_shortens(n, k, seed, fixed_first, grid):
    """The large grids' 2-opt (over each point's k nearest points) ends where none of the moves it
    tries shortens the path, ties and points at the same place included; nearest neighbour over
    the near lists visits every point once from the first."""
    rng = np.random.default_rng(seed)
    xy = rng.integers(0, 4, (n, 2)).astype(float) if grid else rng.random((n, 2)) * 3000
    near = _neighbours(xy, k)
    assert near.shape == (n, min(k, n - 1))
    assert not (near == np.arange(n)[:, None]).any()  # never a point itself
    start = _nearest_neighbour_near(xy, near, 0)
    assert sorted(start) == list(range(n)) and start[0] == 0
    path = _two_opt_near(xy, near, start, fixed_first)
    assert sorted(path) == list(range(n))
    assert not fixed_first or path[0] == 0
    assert max(_near_gains(xy, near, path, 1 if fixed_first else 0), default=0.0) <= MIN_GAIN_M


@pytest.mark.parametrize("spread", ["uniform", "clustered"])
def test_large_grids_route_over_near_points_close_to_the_full_search(spread, monkeypatch):
    """Above routes.NEAR_FROM stops a route is planned over each stop's nearest stops (no n x n
    matrix): from the centre, every stop once, and about as short as the full search's."""
    rng = np.random.default_rng(3)
    n, centre = routes.NEAR_FROM + 200, np.array([1500.0, 1500.0])
    if spread == "uniform":
        xy = rng.random((n, 2)) * 3000
    else:  # a few dozen streets' worth of stops
        at = rng.random((n // 40, 2)) * 3000
        xy = at[rng.integers(0, len(at), n)] + rng.normal(0, 60, (n, 2))
    order = plan(xy, centre)
    assert sorted(order) == list(range(n))
    near = walk_length(xy, order, centre)
    monkeypatch.setattr(routes, "NEAR_FROM", 10 * n)
    full = walk_length(xy, plan(xy, centre), centre)
    assert near <= 1.06 * full
    assert near < 0.2 * walk_length(xy, list(range(n)), centre)
