"""visits/transport.py: the weekly split's rounds as a transportation problem, exact."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from datapool.visits.transport import feasible, transport


def slot_optimum(cost: np.ndarray, caps: list[int]) -> float:
    """The least total cost by linear_sum_assignment over the clusters' slots (n x n)."""
    slots = cost[:, np.repeat(np.arange(len(caps)), caps)]
    rows, cols = linear_sum_assignment(slots)
    return float(slots[rows, cols].sum())


def check(cost: np.ndarray, caps: list[int], labels: np.ndarray) -> None:
    n = len(cost)
    assert labels.shape == (n,)
    assert np.bincount(labels, minlength=len(caps)).tolist() == list(caps)
    got = float(cost[np.arange(n), labels].sum())
    want = slot_optimum(cost, caps)
    assert got == pytest.approx(want, rel=1e-9, abs=1e-6)


@st.composite
def problems(draw: st.DrawFn) -> tuple[np.ndarray, list[int], np.ndarray | None]:
    k = draw(st.integers(1, 7))
    caps = draw(st.lists(st.integers(0, 12), min_size=k, max_size=k))
    n = sum(caps)
    # small integer costs: many ties, many equal-cost optima
    values = draw(st.lists(st.integers(0, 9), min_size=n * k, max_size=n * k))
    cost = np.array(values, dtype=np.float64).reshape(n, k)
    start = None
    if draw(st.booleans()):
        perm = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).permutation(n)
        start = feasible(caps)[perm]
    return cost, caps, start


@settings(max_examples=300, deadline=None)
@given(problems())
def test_transport_is_exact_with_ties(problem):
    cost, caps, start = problem
    check(cost, caps, transport(cost, caps, start))


@pytest.mark.parametrize(
    ("n", "k", "seed"),
    [(50, 2, 0), (120, 3, 1), (250, 5, 2), (300, 4, 3), (400, 5, 4), (400, 40, 5), (180, 10, 6)],
)
def test_transport_equals_linear_sum_assignment_on_squared_distances(n, k, seed):
    """Points to cluster means, as a k-means round: the same total as the n x n assignment."""
    rng = np.random.default_rng(seed)
    p = rng.normal(size=(n, 2)) * 1000
    means = rng.normal(size=(k, 2)) * 700
    cost = ((p[:, None, :] - means[None, :, :]) ** 2).sum(axis=-1)
    q, r = divmod(n, k)
    caps = [q + (j < r) for j in range(k)]
    check(cost, caps, transport(cost, caps))
    check(cost, caps, transport(cost, caps, rng.permutation(feasible(caps))))


def test_identical_points_and_an_optimal_start_do_not_move():
    cost = np.tile([[1.0, 2.0, 3.0]], (6, 1))  # every point the same: every split costs the same
    start = np.array([2, 0, 1, 0, 1, 2])
    assert transport(cost, [2, 2, 2], start).tolist() == start.tolist()


@pytest.mark.parametrize(
    ("caps", "start", "message"),
    [
        ([2, 2], None, "do not split"),
        ([4, -1], None, "do not split"),
        ([1, 2], [0, 0, 1], "start does not"),
        ([1, 2], [0, 1], "start does not"),
    ],
)
def test_transport_refuses_sizes_that_do_not_fit(caps, start, message):
    cost = np.zeros((3, len(caps)))
    with pytest.raises(ValueError, match=message):
        transport(cost, caps, None if start is None else np.array(start))
