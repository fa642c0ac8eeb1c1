"""The month's weekly plan (visit_plan): every target once, >= 3 outings a week, balanced outings,
each outing the shortest walk (checked by brute force), the watch list and the weeks."""

from __future__ import annotations

import itertools
from datetime import date

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datapool.visits.routes import _metres, walk_length
from datapool.visits.weekly import (
    Cadence,
    balanced,
    balanced_clusters,
    plan_weeks,
    watch_list,
    week_starts,
)

CENTRE = (114.93, 25.86)


@pytest.mark.parametrize(
    ("snapshot", "mondays"),
    [
        ("2025-06", [date(2025, 7, d) for d in (7, 14, 21, 28)]),  # walked in July
        ("2025-08", [date(2025, 9, d) for d in (1, 8, 15, 22, 29)]),  # September: 5 weeks
        ("2025-12", [date(2026, 1, d) for d in (5, 12, 19, 26)]),  # across the year's end
        ("2026-01", [date(2026, 2, d) for d in (2, 9, 16, 23)]),
    ],
)
def test_weeks_are_the_mondays_of_the_month_after(snapshot, mondays):
    assert week_starts(snapshot) == mondays


def check_plan(plan: pl.DataFrame, items: pl.DataFrame, cadence: Cadence, weeks: int) -> None:
    """Every done-criterion of the plan that does not need the coordinates."""
    targets = items.filter(pl.col("reason") == "target")
    # every target exactly once, as a target; nothing planned twice
    got = plan.filter(pl.col("reason") == "target")["enterprise_id"].sort().to_list()
    assert got == targets["enterprise_id"].sort().to_list()
    assert plan["enterprise_id"].is_unique().all()
    for (grid,), g in plan.group_by(["grid_id"]):
        n_items = items.filter(pl.col("grid_id") == grid).height
        n_targets = targets.filter(pl.col("grid_id") == grid).height
        m = max(cadence.outings_per_week, -(-n_targets // (weeks * cadence.stops_per_outing)))
        per_week = g.group_by("week").agg(
            pl.col("outing").n_unique().alias("outings"),
            pl.col("outing").max().alias("last"),
            pl.len().alias("stops"),
            (pl.col("reason") == "target").sum().alias("targets"),
        )
        used = sorted(per_week["week"].to_list())
        assert used == list(range(1, len(used) + 1)) and len(used) <= weeks
        assert (per_week["outings"] == per_week["last"]).all()  # outings 1..m, no gap
        if n_items >= m:  # >= m outings in every week the grid has work
            assert per_week["outings"].min() >= m, (grid, per_week)
        else:  # too little for m outings: one stop each
            assert per_week["outings"].to_list() == [n_items]
        # targets spread over the weeks: their counts differ by at most one
        assert per_week["targets"].max() - per_week["targets"].min() <= 1
        # nothing left out while there was room: all of the grid's items, or its weeks full
        cap = weeks * m * cadence.stops_per_outing
        assert g.height == min(n_items, cap)
        sizes = g.group_by("week", "outing").agg(pl.len(), pl.col("stop").max().alias("last"))
        assert (sizes["len"] == sizes["last"]).all()  # stops 1..n, no gap
        assert sizes["len"].max() <= cadence.stops_per_outing
        spread = sizes.group_by("week").agg((pl.col("len").max() - pl.col("len").min()).alias("d"))
        assert spread["d"].max() <= 1, (grid, sizes)  # the outings of a week are balanced


def check_routes(plan: pl.DataFrame, items: pl.DataFrame, centres: dict) -> int:
    """Each outing's stops with coordinates are walked in the shortest order from the grid's
    centre (brute force over every permutation); returns how many outings were checked."""
    checked = 0
    pos = items.select("enterprise_id", "lon", "lat")
    for (grid, _, _), o in plan.join(pos, on="enterprise_id").group_by(
        ["grid_id", "week", "outing"]
    ):
        stops = o.sort("stop").filter(pl.col("lon").is_not_null() & pl.col("lat").is_not_null())
        if stops.height > 8:  # brute force stays cheap
            continue
        c_lon, c_lat = centres[grid]
        xy = _metres(stops["lon"].to_numpy(), stops["lat"].to_numpy(), c_lat)
        c = _metres(np.array([c_lon]), np.array([c_lat]), c_lat)[0]
        best = min(walk_length(xy, list(p), c) for p in itertools.permutations(range(stops.height)))
        assert walk_length(xy, list(range(stops.height)), c) == pytest.approx(best, abs=1e-6)
        # the legs are the walk's, to the metre; stops without coordinates come last
        legs = o.sort("stop")["distance_to_next_m"].to_list()
        first_none = max(stops.height - 1, 0)
        assert None not in legs[:first_none] and legs[first_none:] == [None] * (
            o.height - first_none
        )
        checked += 1
    return checked


@st.composite
def month(draw):
    n_grids = draw(st.integers(1, 4))
    rows = []
    for g in range(n_grids):
        for i in range(draw(st.integers(0, 40))):
            has = draw(st.booleans()) or draw(st.booleans())  # most have coordinates
            rows.append(
                {
                    "enterprise_id": f"E{g}{i:03d}",
                    "grid_id": f"G{g}",
                    "lon": CENTRE[0] + draw(st.floats(-0.02, 0.02)) if has else None,
                    "lat": CENTRE[1] + draw(st.floats(-0.02, 0.02)) if has else None,
                    "address": f"路{draw(st.integers(1, 9))}号",
                    "reason": draw(st.sampled_from(["target", "target", "follow_up", "watch"])),
                }
            )
    schema = {
        "enterprise_id": pl.Utf8,
        "grid_id": pl.Utf8,
        "lon": pl.Float64,
        "lat": pl.Float64,
        "address": pl.Utf8,
        "reason": pl.Utf8,
    }
    cadence = Cadence(draw(st.integers(1, 4)), draw(st.integers(1, 8)))
    return pl.DataFrame(rows, schema=schema), cadence, draw(st.sampled_from(["2025-06", "2025-08"]))


def _plan(items: pl.DataFrame, cadence: Cadence, snapshot: str) -> pl.DataFrame:
    watch = (
        items.filter(pl.col("reason") == "watch")
        .select("enterprise_id")
        .with_row_index("watch_rank")
        .with_columns(pl.col("watch_rank").cast(pl.Int64))
    )
    return plan_weeks(
        items,
        items.filter(pl.col("reason") == "target"),
        watch,
        {g: CENTRE for g in items["grid_id"].unique()},
        snapshot,
        cadence,
        follow_ups=items.filter(pl.col("reason") == "follow_up").select("enterprise_id"),
    )


@given(month())
def test_plan_keeps_its_promises(case):
    items, cadence, snapshot = case
    plan = _plan(items, cadence, snapshot)
    weeks = len(week_starts(snapshot))
    check_plan(plan, items, cadence, weeks)
    centres = {g: CENTRE for g in items["grid_id"].unique()}
    check_routes(plan, items, centres)


def test_follow_ups_come_after_targets_and_before_the_watch_list():
    # one grid, 2 targets, 3 follow-ups, 40 watch: room for 4 weeks x 3 outings x 2 stops = 24
    n = 45
    reasons = ["target"] * 2 + ["follow_up"] * 3 + ["watch"] * 40
    items = pl.DataFrame(
        {
            "enterprise_id": [f"E{i:02d}" for i in range(n)],
            "grid_id": ["G1"] * n,
            "lon": [CENTRE[0] + 0.001 * (i % 7) for i in range(n)],
            "lat": [CENTRE[1] + 0.001 * (i // 7) for i in range(n)],
            "address": ["x"] * n,
            "reason": reasons,
        }
    )
    plan = _plan(items, Cadence(3, 2), "2025-06")
    assert plan.height == 24
    counts = dict(plan["reason"].value_counts().iter_rows())
    assert counts == {"target": 2, "follow_up": 3, "watch": 19}
    # the watch list is taken in its order: the first 19
    assert plan.filter(pl.col("reason") == "watch")["enterprise_id"].sort().to_list() == [
        f"E{i:02d}" for i in range(5, 24)
    ]
    # a follow-up that is also a target is planned once, as a target
    both = _plan(items.head(3), Cadence(), "2025-06")  # E00, E01 targets, E02 follow-up
    assert sorted(both["reason"].to_list()) == ["follow_up", "target", "target"]


def test_many_targets_get_more_outings_never_longer_ones():
    n = 150  # 4 weeks x 3 outings x 8 stops = 96 < 150: 5 outings a week
    items = pl.DataFrame(
        {
            "enterprise_id": [f"E{i:03d}" for i in range(n)],
            "grid_id": ["G1"] * n,
            "lon": [CENTRE[0] + 0.0005 * (i % 13) for i in range(n)],
            "lat": [CENTRE[1] + 0.0005 * (i // 13) for i in range(n)],
            "address": ["x"] * n,
            "reason": ["target"] * n,
        }
    )
    plan = _plan(items, Cadence(), "2025-06")
    check_plan(plan, items, Cadence(), 4)
    assert plan.group_by("week").agg(pl.col("outing").max())["outing"].to_list() == [5] * 4


def test_outings_are_geographic_clusters():
    # two far-apart hamlets, 6 stops each: one week's two outings are the two hamlets
    rng = np.random.default_rng(3)
    east = rng.random((6, 2)) * 100 + [5000, 0]
    west = rng.random((6, 2)) * 100 - [5000, 0]
    p = np.vstack([east, west])
    labels = balanced_clusters(p, [6, 6], np.zeros(2))
    assert len(set(labels[:6])) == 1 and len(set(labels[6:])) == 1 and labels[0] != labels[6]
    # kinds: each cluster gets exactly its number of kind-1 points
    kinds = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    labels = balanced_clusters(p, [6, 6], np.zeros(2), kinds, [2, 2])
    assert sorted(int(kinds[labels == c].sum()) for c in (0, 1)) == [2, 2]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 160),
    k=st.integers(2, 6),
    share=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
    with_kinds=st.booleans(),
    up_to=st.sampled_from([0, 10**6]),  # the transport path, or the slots' n x n assignment
)
def test_clusters_get_exactly_their_sizes_and_kinds(n, k, share, seed, with_kinds, up_to):
    """Either path of each round (weekly.ASSIGN_UP_TO): exactly the sizes asked, and with kinds
    exactly each cluster's number of kind-1 points (targets never take a non-target's place)."""
    from datapool.visits import weekly

    k = min(k, n)
    rng = np.random.default_rng(seed)
    p = np.round(rng.random((n, 2)) * 1000 - 500, -2)  # on a 100 m lattice: many equal points
    sizes = weekly.balanced(n, k)
    kinds = (rng.random(n) < share).astype(np.int64)
    kind_sizes = weekly.balanced(int(kinds.sum()), k)
    saved = weekly.ASSIGN_UP_TO
    weekly.ASSIGN_UP_TO = up_to
    try:
        labels = (
            balanced_clusters(p, sizes, np.zeros(2), kinds, kind_sizes)
            if with_kinds
            else balanced_clusters(p, sizes, np.zeros(2))
        )
    finally:
        weekly.ASSIGN_UP_TO = saved
    assert [int((labels == c).sum()) for c in range(k)] == sizes
    if with_kinds:
        assert [int(kinds[labels == c].sum()) for c in range(k)] == kind_sizes


def test_large_splits_are_k_means_not_wedges(monkeypatch):
    """Above weekly.ASSIGN_UP_TO the rounds still run (no sweep alone): four hamlets of 50 stops,
    two east of the centre and two west, one behind the other (the sweep by angle, which starts
    the rounds, mixes the near and the far one), come out as the four hamlets."""
    from datapool.visits import weekly

    monkeypatch.setattr(weekly, "ASSIGN_UP_TO", 10)
    rng = np.random.default_rng(7)
    corners = np.array([[1000, -100], [3000, -100], [-1200, -100], [-3200, -100]])
    p = np.vstack([c + rng.random((50, 2)) * 200 for c in corners])
    centre = np.zeros(2)
    swept = weekly._sweep(p, [50] * 4, centre)
    assert max(len(set(swept[i * 50 : (i + 1) * 50].tolist())) for i in range(4)) > 1
    labels = balanced_clusters(p, [50] * 4, centre)
    assert [len(set(labels[i * 50 : (i + 1) * 50].tolist())) for i in range(4)] == [1] * 4
    assert len(set(labels.tolist())) == 4


@pytest.mark.parametrize(
    ("total", "parts", "sizes"),
    [(10, 3, [4, 3, 3]), (2, 3, [1, 1, 0]), (0, 2, [0, 0]), (9, 3, [3, 3, 3]), (5, 0, [])],
)
def test_balanced(total, parts, sizes):
    assert balanced(total, parts) == sizes


def test_watch_list():
    ents = pl.DataFrame(
        {
            "enterprise_id": ["grow", "flat", "far", "new", "old", "union", "closed", "target"],
            "founded_on": [
                date(2010, 1, 1),
                date(2010, 1, 1),
                date(2010, 1, 1),
                date(2025, 3, 1),  # within 6 months of 2025-06
                date(2024, 12, 31),  # just before
                date(2025, 3, 1),
                date(2025, 3, 1),
                date(2025, 3, 1),
            ],
        }
    )
    cov = pl.DataFrame(
        {
            "enterprise_id": ents["enterprise_id"],
            "covered": [False, False, False, False, False, True, False, False],
            "target": [False] * 7 + [True],
            "active": [True] * 6 + [False, True],
            "headcount": [23, 24, 15, None, 22, 24, 24, 40],
        }
    )
    prev = pl.DataFrame(
        {"enterprise_id": ["grow", "flat", "far", "old"], "headcount": [20, 24, 10, 25]}
    )
    got = watch_list(ents, cov, prev, "2025-06", threshold=25, margin=5)
    assert got["enterprise_id"].to_list() == ["grow", "new"]
    assert watch_list(ents, cov, None, "2025-06", 25, 5)["enterprise_id"].to_list() == ["new"]


@pytest.mark.prefect
@pytest.mark.slow
@pytest.mark.parametrize("month", ["2025-05", "2025-06"])
def test_visit_plan_of_the_samples(sample_run, samples, month):
    """On the samples through the flow: every target of visit_target planned once as a target,
    >= 3 outings a week, balanced outings, every outing the shortest walk (brute force)."""
    from datapool.connectors import warehouse
    from datapool.connectors.grids import read_grids

    engine = warehouse.engine_for(sample_run["url"])
    plan = warehouse.read_table(engine, "visit_plan", month).drop("snapshot")
    targets = warehouse.read_table(engine, "visit_target", month)
    ents = warehouse.read_table(engine, "enterprise", month)
    assert plan.filter(pl.col("reason") == "target")["enterprise_id"].sort().to_list() == (
        targets["enterprise_id"].sort().to_list()
    )
    assert set(plan["reason"]) <= {"target", "follow_up", "watch"}
    assert plan.filter(pl.col("reason") == "watch").height > 0
    items = plan.select("enterprise_id", "reason").join(
        ents.select("enterprise_id", "grid_id", "lon", "lat"), on="enterprise_id"
    )
    assert items.height == plan.height  # every planned enterprise is in the pool, in its grid
    assert (
        plan.join(items, on="enterprise_id")["grid_id_right"]
        == plan.join(items, on="enterprise_id")["grid_id"]
    ).all()
    check_plan(plan, items, Cadence(), len(week_starts(month)))
    centres = {
        g.grid_id: (g.geometry.centroid.x, g.geometry.centroid.y)
        for g in read_grids(samples / "grids.geojson")
    }
    assert check_routes(plan, items, centres) > 50


def test_week_sheets_keep_agency_text_inert(tmp_path):
    """A name that is a formula stays text, a URL is no link, a '&' in the grid's name does not
    break the printed page header; the tabs are the plan's weeks, record columns blank."""
    import zipfile

    from openpyxl import load_workbook
    from shapely.geometry import box

    from datapool.connectors.grids import GridShape
    from datapool.visits.sheets import RECORD_COLUMNS, write_week_sheets

    grid = GridShape(
        "G1", "A&B<svg onload=alert(1)>网格", "广场社区", "梅林镇", "w1", box(0, 0, 1, 1)
    )
    plan = pl.DataFrame(
        {
            "grid_id": ["G1"] * 3,
            "week": [1, 1, 2],
            "outing": [1, 1, 1],
            "stop": [1, 2, 1],
            "enterprise_id": ["E1", "E2", "E3"],
            "reason": ["target", "watch", "follow_up"],
            "distance_to_next_m": [120.0, None, None],
            "name": ['=HYPERLINK("http://evil.example","x")', "http://evil.example", "+1"],
            "address": ["@SUM(1)", None, "-2"],
            "headcount": [30, None, 5],
            "headcount_source": ["social_insurance", None, None],
            "sources": ["tax_registry", "civil_affairs", ""],
        }
    )
    mondays = week_starts("2025-06")
    (path,) = write_week_sheets(plan, [grid], "2025-06", tmp_path, mondays)
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            xml = z.read(name).decode("utf-8")
            assert "<f>" not in xml and "<hyperlink" not in xml, name
    wb = load_workbook(path)
    assert wb.sheetnames == ["第1周 07.07-07.13", "第2周 07.14-07.20"]
    ws = wb.worksheets[0]
    header = [c.value for c in ws[1]]
    rows = [dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)]
    assert [r["企业名称"] for r in rows] == [plan["name"][0], plan["name"][1]]
    assert rows[0]["地址"] == "@SUM(1)" and rows[0]["原因"] == "目标" and rows[1]["原因"] == "关注"
    assert all(r[h] is None for r in rows for h in RECORD_COLUMNS[3:])
    assert ws.oddHeader.left.text.startswith("A&&B")  # Excel shows "&&" as a literal "&"
