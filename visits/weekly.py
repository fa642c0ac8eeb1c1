"""The month's visit plan (``visit_plan``): weeks, outings and stops per grid.

The contract is ``visits.md``: each grid worker makes at least ``outings_per_week`` outings a
week, every target of the month is planned exactly once, and follow-ups and a watch list fill
the outings after the targets.

**Which weeks.** A snapshot is published early in the month after its data (the deployment
runs on the 2nd), and its plan is walked in that month: the *plan month* is the month after
the snapshot. Its weeks are the Monday-to-Sunday weeks that start on one of its Mondays, so
``k`` (the weeks of a plan) is the number of Mondays in the plan month, 4 or 5. Week ``w``
starts on the plan month's ``w``-th Monday (:func:`week_starts`); the last one may end in the
month after, and the days before the first Monday belong to the previous plan's last week.

**How a grid is planned** (:func:`plan_grid`), with ``c`` = ``stops_per_outing`` (a cap):

1. What to visit, in priority order: the grid's targets, then its follow-ups, then its watch
   list. Each week holds ``m = max(outings_per_week, ceil(T / (k * c)))`` outings, so the
   ``T`` targets always fit; follow-ups and watch-list enterprises are taken while there is
   room (``k * m * c`` stops).
2. Weeks: the ``N`` stops taken are spread over ``W = min(k, max(1, N // m))`` weeks (front-
   loaded: a grid with little to visit finishes early, with at least ``m`` stops, hence ``m``
   outings, in every week it has work), week sizes differing by at most one, and the targets
   spread over them the same way (their counts per week differ by at most one).
3. Which stops go into which week, and then into which outing of the week, is geographic:
   balanced k-means (Lloyd's iterations in which each step assigns the stops to the clusters
   by an exact minimum-cost assignment, so every cluster gets exactly its size and, for weeks,
   exactly its number of targets), started from a sweep by angle around the grid's centre. Up
   to :data:`ASSIGN_UP_TO` stops the assignment is scipy's ``linear_sum_assignment`` over the
   clusters' slots (``n x n``); above it, a transportation problem over the clusters
   (:func:`datapool.visits.transport.transport`, ``n x k``: targets and the rest are two of
   them, over the same means). A week holds ``max(min(m, s), ceil(s / c))``
   outings for its ``s`` stops, their sizes differing by at most one.
4. Each outing is routed from the grid's centre (where the worker's community sits) with
   :func:`datapool.visits.routes.plan`: the shortest walk there is up to
   ``routes.EXACT_UP_TO`` (10) stops, nearest neighbour + 2-opt above that and never longer
   than the unordered list. Stops without coordinates come last, by address (for clustering they
   stand at the grid's community, where they were placed).

The watch list (:func:`watch_list`): active enterprises with no union that are not targets and
either have a headcount close below the threshold (within ``watch_margin``) that grew since
the previous month, or were registered in the last ``NEW_MONTHS`` months.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl
from scipy.optimize import linear_sum_assignment

from datapool.settings import month_end
from datapool.visits.routes import _metres, plan, walk_length
from datapool.visits.transport import transport

REASONS = ("target", "follow_up", "watch")  # visit_plan.reason, in priority order
NEW_MONTHS = 6  # an enterprise registered within this many months is on the watch list
KMEANS_ROUNDS = 25  # Lloyd's iterations at most (they stop as soon as nothing moves)
# up to this many points each k-means round is linear_sum_assignment over the clusters' slots
# (n x n, cubic: 2 ms a round at 200-260 points, 0.1 s at 1,000, 0.76 s at 1,500); above it the
# round is a transportation problem over the clusters (visits/transport.py: n x k, 2-4 ms a round
# at 1,000-1,500 points into 5 clusters, 26 ms at 10,000). The two give equal-cost rounds, but not
# always the same plan on ties, and the transport path starts from a sweep that keeps each kind
# apart; the shipped samples' grids stay on the slot path, so their plans are unchanged
ASSIGN_UP_TO = 200
_OTHER_KIND = 1e12  # cost that keeps a target out of a non-target slot and the other way round

PLAN_SCHEMA = pl.Schema(
    {
        "grid_id": pl.Utf8,
        "week": pl.Int64,
        "outing": pl.Int64,
        "stop": pl.Int64,
        "enterprise_id": pl.Utf8,
        "reason": pl.Utf8,
        "distance_to_next_m": pl.Float64,
    }
)
FOLLOW_UP_SCHEMA = pl.Schema({"enterprise_id": pl.Utf8})


@dataclass(frozen=True)
class Cadence:
    """How often a grid worker goes out, and how far: the district's settings.

    Attributes:
        outings_per_week: the fewest outings a grid has in a week while it has anything to
            visit (``DATAPOOL_OUTINGS_PER_WEEK``); more when its targets need more.
        stops_per_outing: the most stops of one outing (``DATAPOOL_STOPS_PER_OUTING``).
    """

    outings_per_week: int = 3
    stops_per_outing: int = 8


def plan_month(snapshot: str) -> tuple[int, int]:
    """The (year, month) a snapshot's plan is walked in: the month after the snapshot."""
    y, m = map(int, snapshot.split("-"))
    return (y + 1, 1) if m == 12 else (y, m + 1)


def week_starts(snapshot: str) -> list[date]:
    """The Mondays of the plan month (:func:`plan_month`): week ``w`` starts on the ``w``-th."""
    y, m = plan_month(snapshot)
    first = date(y, m, 1)
    monday = first + timedelta(days=(7 - first.weekday()) % 7)
    out = []
    while monday.month == m:
        out.append(monday)
        monday += timedelta(days=7)
    return out


def balanced(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` sizes differing by at most one, the larger first."""
    if parts <= 0:
        return []
    q, r = divmod(total, parts)
    return [q + (i < r) for i in range(parts)]


def _months_before(snapshot: str, months: int) -> date:
    y, m = map(int, snapshot.split("-"))
    k = y * 12 + (m - 1) - months
    return month_end(f"{k // 12:04d}-{k % 12 + 1:02d}")


def watch_list(
    enterprises: pl.DataFrame,
    coverage: pl.DataFrame,
    previous_coverage: pl.DataFrame | None,
    snapshot: str,
    threshold: int,
    margin: int,
) -> pl.DataFrame:
    """Enterprises to keep an eye on: ``enterprise_id, watch_rank`` (lower ranks first).

    Active, no union, not a target, and either a headcount in ``[threshold - margin,
    threshold]`` that grew since the previous month (``previous_coverage``), or registered
    (``founded_on``) in the last :data:`NEW_MONTHS` months up to the snapshot's end. Growing
    ones come first (largest first), then the newest registrations.
    """
    prev = (
        previous_coverage.select(
            "enterprise_id", pl.col("headcount").cast(pl.Int64).alias("previous_headcount")
        )
        if previous_coverage is not None and previous_coverage.height
        else pl.DataFrame(schema={"enterprise_id": pl.Utf8, "previous_headcount": pl.Int64})
    )
    cutoff = _months_before(snapshot, NEW_MONTHS)
    j = (
        enterprises.select("enterprise_id", "founded_on")
        .join(
            coverage.select(
                "enterprise_id", "covered", "target", "active", pl.col("headcount").cast(pl.Int64)
            ),
            on="enterprise_id",
        )
        .join(prev, on="enterprise_id", how="left")
        .filter(
            pl.col("active").fill_null(False)
            & ~pl.col("covered").fill_null(False)
            & ~pl.col("target").fill_null(False)
        )
    )
    growing = (
        pl.col("headcount").is_between(threshold - margin, threshold)
        & pl.col("previous_headcount").is_not_null()
        & (pl.col("headcount") > pl.col("previous_headcount"))
    ).fill_null(False)
    new = (
        (pl.col("founded_on") > cutoff) & (pl.col("founded_on") <= month_end(snapshot))
    ).fill_null(False)
    return (
        j.filter(growing | new)
        .with_columns(growing.alias("_growing"))
        .sort(
            ["_growing", "headcount", "founded_on", "enterprise_id"],
            descending=[True, True, True, False],
            nulls_last=True,
        )
        .with_row_index("watch_rank")
        .select("enterprise_id", pl.col("watch_rank").cast(pl.Int64))
    )


def _angles(p: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Clockwise from north around ``centre``, in [0, 2pi)."""
    d = p - centre
    angles: np.ndarray = np.mod(np.arctan2(d[:, 0], d[:, 1]), 2 * np.pi)
    return angles


def balanced_clusters(
    p: np.ndarray,
    sizes: list[int],
    centre: np.ndarray,
    kinds: np.ndarray | None = None,
    kind_sizes: list[int] | None = None,
) -> np.ndarray:
    """Split the points ``p`` into ``len(sizes)`` compact clusters of exactly these sizes.

    Balanced k-means: start from a sweep by angle around ``centre`` (consecutive points
    clockwise from north, cut into the sizes), then alternate cluster means and an exact
    minimum-cost assignment of points to clusters (squared distances): up to
    :data:`ASSIGN_UP_TO` points to the clusters' slots (:func:`_slot_kmeans`), above it as a
    transportation problem (:func:`~datapool.visits.transport.transport`, started from the
    previous round's clusters; linear memory). With ``kinds`` (0/1 per point) and
    ``kind_sizes`` (how many kind-1 points each cluster holds), each cluster also gets exactly
    that many kind-1 points. Returns the cluster of each point.
    """
    n = len(p)
    if len(sizes) <= 1 or n == 0:
        return np.zeros(n, dtype=np.int64)
    if n <= ASSIGN_UP_TO:
        return _slot_kmeans(p, sizes, centre, kinds, kind_sizes)
    # each kind is its own transportation problem over the same means
    if kinds is None or kind_sizes is None:
        groups = [(np.arange(n), np.asarray(sizes, dtype=np.int64))]
    else:
        groups = [
            (np.flatnonzero(kinds == 1), np.asarray(kind_sizes, dtype=np.int64)),
            (
                np.flatnonzero(kinds != 1),
                np.asarray([s - t for s, t in zip(sizes, kind_sizes, strict=True)], dtype=np.int64),
            ),
        ]
    labels = _sweep(p, sizes, centre, kinds, kind_sizes)
    for _ in range(KMEANS_ROUNDS):
        means = _means(p, labels, len(sizes))
        new = labels.copy()
        for rows, caps in groups:
            if len(rows):
                d = p[rows, None, :] - means[None, :, :]
                new[rows] = transport(np.einsum("ikj,ikj->ik", d, d), caps, labels[rows])
        if np.array_equal(new, labels):
            break
        labels = new
    return labels


def _means(p: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Each cluster's mean point (every cluster holds at least one point)."""
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    return np.column_stack(
        [np.bincount(labels, weights=p[:, j], minlength=k) / counts for j in range(2)]
    )


def _slot_kmeans(
    p: np.ndarray,
    sizes: list[int],
    centre: np.ndarray,
    kinds: np.ndarray | None = None,
    kind_sizes: list[int] | None = None,
) -> np.ndarray:
    """:func:`balanced_clusters` up to :data:`ASSIGN_UP_TO` points: each round an exact
    assignment of the points to the clusters' slots (``linear_sum_assignment``, ``n x n``)."""
    n = len(p)
    slot_cluster = np.repeat(np.arange(len(sizes)), sizes)
    slot_kind = np.zeros(n, dtype=np.int64)
    if kinds is not None and kind_sizes is not None:
        slot_kind = np.concatenate(
            [[1] * t + [0] * (s - t) for s, t in zip(sizes, kind_sizes, strict=True)]
        ).astype(np.int64)
    row_kind = kinds if kinds is not None else np.zeros(n, dtype=np.int64)
    mismatch = (row_kind[:, None] != slot_kind[None, :]) * _OTHER_KIND
    order = np.lexsort((np.arange(n), _angles(p, centre)))
    labels = np.empty(n, dtype=np.int64)
    labels[order] = slot_cluster
    for _ in range(KMEANS_ROUNDS):
        means = np.vstack([p[labels == c].mean(axis=0) for c in range(len(sizes))])
        at = means[slot_cluster]
        dx, dy = p[:, 0, None] - at[None, :, 0], p[:, 1, None] - at[None, :, 1]
        cost = dx * dx + dy * dy + mismatch  # squared distances
        rows, cols = linear_sum_assignment(cost)
        new = np.empty(n, dtype=np.int64)
        new[rows] = slot_cluster[cols]
        if np.array_equal(new, labels):
            break
        labels = new
    return labels


def _sweep(
    p: np.ndarray,
    sizes: list[int],
    centre: np.ndarray,
    kinds: np.ndarray | None = None,
    kind_sizes: list[int] | None = None,
) -> np.ndarray:
    """The transport path's start: the sweep by angle around ``centre`` cut into the ``sizes``,
    each kind swept on its own when ``kinds`` are given (so each cluster holds exactly
    ``kind_sizes`` kind-1 points). Linear memory, ``n log n`` time."""
    n = len(p)
    labels = np.empty(n, dtype=np.int64)
    angle = _angles(p, centre)
    if kinds is None or kind_sizes is None:
        groups = [(np.arange(n), list(sizes))]
    else:
        groups = [
            (np.flatnonzero(kinds == 1), list(kind_sizes)),
            (np.flatnonzero(kinds != 1), [s - t for s, t in zip(sizes, kind_sizes, strict=True)]),
        ]
    for rows, counts in groups:
        order = rows[np.lexsort((rows, angle[rows]))]
        labels[order] = np.repeat(np.arange(len(counts)), counts)
    return labels


def _route(xy: np.ndarray, centre: np.ndarray) -> list[int]:
    """The outing's order from the centre (shortest up to routes.EXACT_UP_TO stops)."""
    order = plan(xy, centre)
    listed = list(range(len(xy)))
    if walk_length(xy, order, centre) > walk_length(xy, listed, centre):  # heuristic guard
        return listed
    return order


def plan_grid(
    items: pl.DataFrame,
    centre: tuple[float, float] | None,
    weeks: int,
    cadence: Cadence,
) -> list[dict[str, Any]]:
    """One grid's month: rows ``week, outing, stop, enterprise_id, reason, distance_to_next_m``.

    ``items`` holds ``enterprise_id, reason, lon, lat, address`` in priority order (targets
    first); ``centre`` is the grid's centre (lon, lat), where routes start. See the module's
    docstring for the rules.
    """
    if items.height == 0:
        return []
    m_min, cap = cadence.outings_per_week, cadence.stops_per_outing
    n_targets = items.filter(pl.col("reason") == "target").height
    m = max(m_min, math.ceil(n_targets / (weeks * cap)))
    taken = items.head(weeks * m * cap)
    n = taken.height
    lon = taken["lon"].cast(pl.Float64).to_numpy()
    lat = taken["lat"].cast(pl.Float64).to_numpy()
    has = ~(np.isnan(lon) | np.isnan(lat))
    if centre is None:  # a grid with no shape: start at its stops' middle
        centre = (float(np.mean(lon[has])), float(np.mean(lat[has]))) if has.any() else (0.0, 0.0)
    lat0 = centre[1]
    c_xy = _metres(np.array([centre[0]]), np.array([centre[1]]), lat0)[0]
    xy = _metres(np.where(has, lon, centre[0]), np.where(has, lat, centre[1]), lat0)
    kinds = (taken["reason"] == "target").to_numpy().astype(np.int64)
    n_weeks = min(weeks, max(1, n // m))
    week_sizes = balanced(n, n_weeks)
    week_of = balanced_clusters(xy, week_sizes, c_xy, kinds, balanced(n_targets, n_weeks))
    # weeks in sweep order around the centre (their means' angles), so week 1 is the first
    angle = [
        float(_angles(xy[week_of == w].mean(axis=0)[None, :], c_xy)[0]) for w in range(n_weeks)
    ]
    week_rank = {w: i + 1 for i, w in enumerate(sorted(range(n_weeks), key=lambda w: angle[w]))}
    ids = taken["enterprise_id"].to_list()
    reasons = taken["reason"].to_list()
    addresses = taken["address"].to_list()
    rows: list[dict[str, Any]] = []
    for w in range(n_weeks):
        members = np.flatnonzero(week_of == w)
        s = len(members)
        n_outings = max(min(m, s), math.ceil(s / cap))
        outing_of = balanced_clusters(xy[members], balanced(s, n_outings), c_xy)
        outings = []
        for o in range(n_outings):
            stops = members[outing_of == o]
            with_xy = [int(i) for i in stops if has[i]]
            without = sorted(
                (int(i) for i in stops if not has[i]), key=lambda i: (addresses[i] or "", ids[i])
            )
            order = [with_xy[k] for k in _route(xy[with_xy], c_xy)] if with_xy else []
            outings.append((order, without))

        # outings with more targets first, then clockwise from north
        def key(ow: tuple[list[int], list[int]]) -> tuple[int, float, str]:
            stops = ow[0] + ow[1]
            return (
                -sum(kinds[i] for i in stops),
                float(_angles(xy[stops].mean(axis=0)[None, :], c_xy)[0]),
                min(ids[i] for i in stops),
            )

        for o, (order, without) in enumerate(sorted(outings, key=key), start=1):
            legs = [
                float(round(float(np.linalg.norm(xy[a] - xy[b]))))
                for a, b in zip(order, order[1:], strict=False)
            ]
            for stop, i in enumerate(order + without, start=1):
                rows.append(
                    {
                        "week": week_rank[w],
                        "outing": o,
                        "stop": stop,
                        "enterprise_id": ids[i],
                        "reason": reasons[i],
                        "distance_to_next_m": legs[stop - 1] if stop <= len(legs) else None,
                    }
                )
    return rows


def plan_weeks(
    candidates: pl.DataFrame,
    targets: pl.DataFrame,
    watch: pl.DataFrame,
    centroids: dict[str, tuple[float, float]],
    snapshot: str,
    cadence: Cadence = Cadence(),
    follow_ups: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The month's plan for every grid: :data:`PLAN_SCHEMA` rows, one per planned visit.

    Args:
        candidates: every enterprise placed in a grid (``enterprise_id, grid_id, lon, lat,
            address``); follow-ups and watch-list enterprises are looked up here.
        targets: the month's targets placed in a grid (``enterprise_id`` at least): each is
            planned exactly once, reason ``target``.
        watch: :func:`watch_list`'s frame (``enterprise_id, watch_rank``), reason ``watch``.
        centroids: each grid's centre (lon, lat), where its routes start.
        snapshot: the snapshot; its plan month's Mondays give the weeks (:func:`week_starts`).
        cadence: outings per week and stops per outing.
        follow_ups: enterprises to visit again (``enterprise_id``; e.g. a concern or need
            recorded on the last visit), reason ``follow_up``, planned after the targets and
            before the watch list, in the order given. Empty by default.
    """
    weeks = len(week_starts(snapshot))
    follow = (
        follow_ups.select(pl.col("enterprise_id").cast(pl.Utf8))
        if follow_ups is not None
        else pl.DataFrame(schema=FOLLOW_UP_SCHEMA)
    )
    cols = ["enterprise_id", "grid_id", "lon", "lat", "address"]
    placed = candidates.filter(pl.col("grid_id").is_not_null()).select(cols)
    t = placed.join(targets.select("enterprise_id"), on="enterprise_id", how="semi").with_columns(
        pl.lit("target").alias("reason"), pl.lit(0, pl.Int64).alias("_rank")
    )
    f = (
        follow.unique("enterprise_id", keep="first", maintain_order=True)
        .with_row_index("_rank")
        .join(placed, on="enterprise_id")
        .join(t, on="enterprise_id", how="anti")
        .select(*cols, pl.lit("follow_up").alias("reason"), pl.col("_rank").cast(pl.Int64))
    )
    w = (
        watch.join(placed, on="enterprise_id")
        .join(t, on="enterprise_id", how="anti")
        .join(f, on="enterprise_id", how="anti")
        .select(*cols, pl.lit("watch").alias("reason"), pl.col("watch_rank").alias("_rank"))
    )
    items = pl.concat([t, f, w], how="diagonal_relaxed").with_columns(
        pl.col("reason").replace_strict({r: i for i, r in enumerate(REASONS)}).alias("_prio")
    )
    rows: list[dict[str, Any]] = []
    for (grid_id,), group in items.sort("grid_id", "_prio", "_rank", "enterprise_id").group_by(
        ["grid_id"], maintain_order=True
    ):
        for r in plan_grid(group, centroids.get(str(grid_id)), weeks, cadence):
            rows.append({"grid_id": grid_id, **r})
    return pl.DataFrame(rows, schema=PLAN_SCHEMA).sort("grid_id", "week", "outing", "stop")
