from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from datapool.connectors.grids import GridShape
from datapool.visits.placement import place
from datapool.visits.routes import (
    MIN_GAIN_M,
    _nearest_neighbour,
    _two_opt,
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
