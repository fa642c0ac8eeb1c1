"""Joint-union groups (visits/groups.py) on small hand-made pools."""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datapool.visits.groups import (
    MEMBER_SCHEMA,
    NUMBER_SLACK,
    RADIUS_M,
    REASONS,
    JointGroups,
    _pairs_by_number,
    industry_section,
    joint_groups,
)

LAT = 25.86
M_LAT = 1 / 110_574  # degrees of latitude per metre
M_LON = 1 / (111_320 * math.cos(math.radians(LAT)))


def _pool(rows: list[dict]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``enterprises`` and ``coverage`` frames from rows, defaults for what a case leaves out."""
    base = {
        "grid_id": "G001",
        "address": None,
        "industry": None,
        "lon": None,
        "lat": None,
        "headcount": 5,
        "active": True,
        "covered": False,
        "target": False,
        "founded_on": "2019-03-01",
    }
    full = [{**base, **r} for r in rows]
    ents = pl.DataFrame(
        [
            {
                k: r[k]
                for k in (
                    "enterprise_id",
                    "grid_id",
                    "address",
                    "industry",
                    "lon",
                    "lat",
                    "founded_on",
                )
            }
            for r in full
        ],
        schema={
            "enterprise_id": pl.Utf8,
            "grid_id": pl.Utf8,
            "address": pl.Utf8,
            "industry": pl.Utf8,
            "lon": pl.Float64,
            "lat": pl.Float64,
            "founded_on": pl.Utf8,
        },
    ).with_columns(pl.col("founded_on").str.to_date())
    cov = pl.DataFrame(
        [
            {k: r[k] for k in ("enterprise_id", "headcount", "active", "covered", "target")}
            for r in full
        ],
        schema={
            "enterprise_id": pl.Utf8,
            "headcount": pl.Int64,
            "active": pl.Boolean,
            "covered": pl.Boolean,
            "target": pl.Boolean,
        },
    )
    return ents, cov


def _groups_of(jg: JointGroups) -> dict[frozenset[str], str]:
    """Each group's members -> its reason."""
    reason = dict(jg.groups.select("group_id", "reason").iter_rows())
    members = jg.members.group_by("group_id").agg("enterprise_id")
    return {frozenset(ids): reason[g] for g, ids in members.iter_rows()}


def _at(east_m: float, north_m: float = 0.0) -> dict:
    return {"lon": 115.0 + east_m * M_LON, "lat": LAT + north_m * M_LAT}


BUILDING = [
    {"enterprise_id": "A1", "address": "江西省赣州市赣县区梅林镇红旗社区红旗大道88号301室"},
    {"enterprise_id": "A2", "address": "梅林镇红旗大道８８号3楼"},
    {"enterprise_id": "A3", "address": "赣县梅林镇红旗社区红旗大道88号A座1201"},
]
STREET = [
    {"enterprise_id": "S1", "address": "梅林镇建设路10号", **_at(0)},
    {"enterprise_id": "S2", "address": "梅林镇建设路14号", **_at(200)},
    {"enterprise_id": "S3", "address": "梅林镇建设路20号", **_at(390)},  # 190 m from S2: chained
    {"enterprise_id": "S4", "address": "梅林镇建设路60号", **_at(2000)},  # too far
    {"enterprise_id": "S5", "address": "梅林镇人民路5号", **_at(100)},  # near, another road
]
INDUSTRY = [
    {"enterprise_id": "I1", "address": "沙地镇沙地村人民路1号", "industry": "F52"},
    {"enterprise_id": "I2", "address": "沙地镇沙地村人民路90号", "industry": "零售业"},
    {"enterprise_id": "I3", "address": "沙地镇沙地村解放路7号", "industry": "批发业"},
    {"enterprise_id": "I4", "address": "江口镇江口村解放路7号", "industry": "F51"},  # another town
]


@pytest.mark.parametrize(
    ("rows", "want"),
    [
        pytest.param(BUILDING, {frozenset({"A1", "A2", "A3"}): "building"}, id="building"),
        pytest.param(STREET, {frozenset({"S1", "S2", "S3"}): "street"}, id="street"),
        pytest.param(INDUSTRY, {frozenset({"I1", "I2", "I3"}): "industry"}, id="industry"),
        pytest.param(BUILDING[:2], {}, id="two-are-no-group"),
        pytest.param(
            [*BUILDING[:2], {**BUILDING[2], "covered": True}], {}, id="a-covered-one-is-left-out"
        ),
        pytest.param(
            [*BUILDING[:2], {**BUILDING[2], "target": True, "headcount": 40}],
            {},
            id="a-target-is-left-out",
        ),
        pytest.param(
            [*BUILDING[:2], {**BUILDING[2], "active": False}], {}, id="a-closed-one-is-left-out"
        ),
        pytest.param(
            [*BUILDING[:2], {**BUILDING[2], "headcount": None}],
            {},
            id="unknown-headcount-is-left-out",
        ),
        pytest.param(
            [*BUILDING[:2], {**BUILDING[2], "headcount": 0}], {}, id="no-workers-is-left-out"
        ),
        pytest.param(
            [*BUILDING[:2], {**BUILDING[2], "grid_id": "G002"}],
            {},
            id="same-number-in-another-grid-is-another-building",
        ),
        pytest.param(
            [
                {"enterprise_id": f"N{i}", "address": f"梅林镇建设路{10 + 4 * i}号"}
                for i in range(3)
            ],
            {frozenset({"N0", "N1", "N2"}): "street"},
            id="no-coordinates-neighbours-by-house-number",
        ),
        pytest.param(
            [
                {"enterprise_id": f"N{i}", "address": f"梅林镇建设路{10 + 4 * i}号", "grid_id": g}
                for i, g in enumerate(("G001", "G002", "G003"))
            ],
            {},
            id="house-numbers-in-other-grids-are-not-neighbours",
        ),
        pytest.param(
            [
                {"enterprise_id": f"N{i}", "address": f"梅林镇建设路{10 + 4 * i}号", **_at(900 * i)}
                for i in range(3)
            ],
            {},
            id="coordinates-beat-house-numbers",
        ),
        pytest.param(
            [
                *STREET[:2],
                {"enterprise_id": "S9", "address": "梅林镇建设路18号"},  # no coordinates, near 14
                {"enterprise_id": "S8", "address": "梅林镇建设路200号"},  # no coordinates, far
            ],
            {frozenset({"S1", "S2", "S9"}): "street"},
            id="no-coordinates-joins-by-house-number",
        ),
        pytest.param(
            [{**b, **_at(5 * i), "industry": "F52"} for i, b in enumerate(BUILDING)]
            + [
                {
                    "enterprise_id": "S7",
                    "address": "梅林镇红旗大道90号",
                    **_at(50),
                    "industry": "F52",
                },
                {
                    "enterprise_id": "S6",
                    "address": "梅林镇红旗大道96号",
                    **_at(90),
                    "industry": "F52",
                },
                {"enterprise_id": "I9", "address": "梅林镇城南路1号", "industry": "F52"},
                {"enterprise_id": "I8", "address": "梅林镇城南路300号", "industry": "F52"},
            ],
            {
                frozenset({"A1", "A2", "A3"}): "building",
                frozenset({"S6", "S7", "I8", "I9"}): "industry",
            },
            id="building-first-then-street-needs-three-of-its-own",
        ),
    ],
)
def test_groups(rows, want):
    ents, cov = _pool(rows)
    jg = joint_groups(ents, cov)
    assert _groups_of(jg) == want
    assert jg.members["enterprise_id"].is_unique().all()


def test_priority_building_then_street_then_industry():
    rows = (
        [{**b, **_at(5 * i), "industry": "F52"} for i, b in enumerate(BUILDING)]
        + [
            {
                "enterprise_id": f"T{i}",
                "address": f"梅林镇红旗大道{100 + i}号",
                **_at(60 * i),
                "industry": "F52",
            }
            for i in range(1, 4)
        ]
        + [
            {
                "enterprise_id": f"U{i}",
                "address": f"梅林镇城南路{i}号",
                **_at(5000 * i),
                "industry": "F52",
            }
            for i in range(1, 4)
        ]
    )
    ents, cov = _pool(rows)
    jg = joint_groups(ents, cov)
    assert _groups_of(jg) == {
        frozenset({"A1", "A2", "A3"}): "building",
        frozenset({"T1", "T2", "T3"}): "street",
        frozenset({"U1", "U2", "U3"}): "industry",
    }
    g = jg.groups
    assert g["reason"].to_list() == list(REASONS)
    assert g["members"].to_list() == [3, 3, 3] and g["workers"].to_list() == [15, 15, 15]
    texts = dict(g.select("reason", "reason_text").iter_rows())
    assert texts["building"].startswith("同楼宇：梅林镇红旗大道88号")
    assert texts["street"].startswith(f"同商圈：梅林镇红旗大道（相距{RADIUS_M:g}米内）")
    assert texts["industry"].startswith("同行业：梅林镇 F 批发和零售业")
    assert all("3家小微企业共15名职工" in t for t in texts.values())
    assert g["grid_id"].to_list() == ["G001"] * 3
    assert jg.members.schema == pl.Schema(MEMBER_SCHEMA)


def test_group_ids_are_stable_when_the_month_changes():
    ents, cov = _pool([*BUILDING, *STREET, *INDUSTRY])
    before = joint_groups(ents, cov).groups.select("group_id", "reason")
    extra = [
        {"enterprise_id": "A0", "address": "梅林镇红旗大道88号502室"},
        # newer than the street's other firms: its id is smaller, but the oldest one anchors
        {
            "enterprise_id": "S0",
            "address": "梅林镇建设路12号",
            **_at(100),
            "founded_on": "2025-05-02",
        },
        {"enterprise_id": "I0", "address": "沙地镇人民路3号", "industry": "F52"},
    ]
    ents, cov = _pool([*BUILDING, *STREET, *INDUSTRY, *extra])
    after = joint_groups(ents, cov)
    assert after.groups.select("group_id", "reason").equals(before)
    assert after.groups["members"].to_list() == [4, 4, 4]


def test_no_pool_no_groups():
    ents, cov = _pool([])
    jg = joint_groups(ents, cov)
    assert jg.groups.height == 0 and jg.members.height == 0


@pytest.mark.parametrize(
    ("industry", "section"),
    [
        ("C34", "C"),
        ("f5212", "F"),
        ("批发业", "F"),
        ("纺织服装、服饰业", "C"),
        ("餐饮业", "H"),
        ("其他服务业", "O"),
        ("软件和信息技术服务业", "I"),
        ("房地产业", "K"),
        ("", ""),
        (None, ""),
        ("未知", ""),
    ],
)
def test_industry_section(industry, section):
    assert industry_section(pl.Series([industry], dtype=pl.Utf8)).to_list() == [section]


def _pairs_brute_force(rows: list[dict]) -> set[tuple[int, int]]:
    """:func:`_pairs_by_number`'s definition, pair by pair."""
    out: set[tuple[int, int]] = set()
    numbered = [r for r in rows if r["number"] is not None]
    for a in numbered:
        if a["grid_id"] is None:
            near = [
                (abs(a["number"] - b["number"]), b["_row"])
                for b in numbered
                if b["grid_id"] is not None
                and b["street"] == a["street"]
                and abs(a["number"] - b["number"]) <= NUMBER_SLACK
            ]
            if near:
                out.add((a["_row"], min(near)[1]))
            continue
        for b in numbered:
            if (
                b["grid_id"] == a["grid_id"]
                and b["street"] == a["street"]
                and a["_row"] < b["_row"]
                and abs(a["number"] - b["number"]) <= NUMBER_SLACK
                and not (a["lon"] is not None and b["lon"] is not None)
            ):
                out.add((a["_row"], b["_row"]))
    return out


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["s1", "s2"]),
            st.sampled_from([None, "G1", "G2"]),
            st.one_of(st.none(), st.integers(0, 40)),
            st.booleans(),
        ),
        max_size=40,
    )
)
@settings(max_examples=150, deadline=None)
def test_neighbours_by_house_number(rows):
    """Pairs by house number: one grid and street, numbers within NUMBER_SLACK, one side at least
    without coordinates; an employer in no grid to its nearest numbered neighbour only."""
    frame = pl.DataFrame(
        [
            {
                "_row": i,
                "street": s,
                "grid_id": g,
                "number": n,
                "lon": 116.0 if xy else None,
                "lat": 25.0 if xy else None,
            }
            for i, (s, g, n, xy) in enumerate(rows)
        ],
        schema={
            "_row": pl.Int64,
            "street": pl.Utf8,
            "grid_id": pl.Utf8,
            "number": pl.Int64,
            "lon": pl.Float64,
            "lat": pl.Float64,
        },
    )
    got = _pairs_by_number(frame)
    assert {tuple(p) for p in got.tolist()} == _pairs_brute_force(frame.to_dicts())
    assert len(got) == len({tuple(p) for p in got.tolist()})  # each pair once
