from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest
from shapely.geometry import box

from datapool.connectors.grids import GridShape
from datapool.visits.placement import place
from datapool.visits.routes import order_targets, plan, route_length, walk_length


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
