"""Joint-union groups: small employers with no union that could form one union together.

The district organises employers too small for a union of their own through building, shopping
street, industry and joint unions (楼宇/商圈/行业/联合工会). This module proposes such groups
from the pool, for three reasons, tried in this order:

1. ``building`` (同楼宇): the same building, i.e. the same town, road and house number once the
   address is parsed (:func:`datapool.matching.addresses.parse_addresses`; rooms, floors and
   province/city prefixes do not count, so 红旗大道88号301室 and 江西省赣州市赣县区…红旗大道88号3楼
   are one building).
2. ``street`` (同商圈): on the same road of the same town, within a walking radius
   (:data:`RADIUS_M`, 300 m) of another member, linked in a chain (single linkage over a KD-tree
   of the coordinates; no loop over pairs). At least two members must have coordinates; an
   employer without coordinates joins the street group on its road whose house numbers, widened
   by :data:`NUMBER_SLACK`, hold its own.
3. ``industry`` (同行业): the same industry section (GB/T 4754 门类, read from the industry code's
   letter or the tax registry's industry name) within one town (乡镇/街道).

Who is grouped (:func:`eligible`): active enterprises that no union covers (``union_coverage``),
are not visit targets and have a known headcount of at least one worker: the pool's headcount,
``union_coverage.headcount`` (参保人数, else the tax filing's 从业人数, else civil affairs'
从业人员数). With the default threshold of 25 that is 1 to 25 workers: every small employer the
target list leaves out. An employer whose headcount is unknown is left out (its size is not known).

Each enterprise is in at most one group: the first reason that gives it a group of at least
:data:`MIN_MEMBERS` wins (building, then street, then industry). Group ids are stable month to
month: a hash of the reason and its key (grid + town + road + number; town + industry section;
for a street, town + road + its anchor, the earliest founded member, then the smallest enterprise
id, so a street group keeps its id while its anchor stays in it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from datapool.matching.addresses import parse_addresses

REASONS = ("building", "street", "industry")
REASON_ZH = {"building": "同楼宇", "street": "同商圈", "industry": "同行业"}
RADIUS_M = 300.0  # walking radius of a shopping street, metres between neighbouring members
MIN_MEMBERS = 3  # a group has at least this many employers
NUMBER_SLACK = 10  # house numbers an employer without coordinates may lie beyond a street group's
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON_EQUATOR = 111_320.0

# GB/T 4754-2017 sections (门类), by letter
SECTIONS = {
    "A": "农、林、牧、渔业",
    "B": "采矿业",
    "C": "制造业",
    "D": "电力、热力、燃气及水生产和供应业",
    "E": "建筑业",
    "F": "批发和零售业",
    "G": "交通运输、仓储和邮政业",
    "H": "住宿和餐饮业",
    "I": "信息传输、软件和信息技术服务业",
    "J": "金融业",
    "K": "房地产业",
    "L": "租赁和商务服务业",
    "M": "科学研究和技术服务业",
    "N": "水利、环境和公共设施管理业",
    "O": "居民服务、修理和其他服务业",
    "P": "教育",
    "Q": "卫生和社会工作",
    "R": "文化、体育和娱乐业",
    "S": "公共管理、社会保障和社会组织",
    "T": "国际组织",
}
# industry names (GB/T 4754 divisions, 大类) the tax registry writes, by the words they end in or
# hold, to their section; tried in order, the first that occurs in the name wins
_NAME_SECTIONS = (
    ("农", "A"),
    ("林业", "A"),
    ("渔业", "A"),
    ("畜牧", "A"),
    ("采矿", "B"),
    ("开采", "B"),
    ("采选", "B"),
    ("冶炼", "C"),
    ("制造", "C"),
    ("加工", "C"),
    ("服装", "C"),
    ("纺织", "C"),
    ("印刷", "C"),
    ("电力", "D"),
    ("燃气", "D"),
    ("供水", "D"),
    ("建筑", "E"),
    ("装饰", "E"),
    ("批发", "F"),
    ("零售", "F"),
    ("运输", "G"),
    ("仓储", "G"),
    ("邮政", "G"),
    ("住宿", "H"),
    ("餐饮", "H"),
    ("软件", "I"),
    ("信息", "I"),
    ("电信", "I"),
    ("金融", "J"),
    ("保险", "J"),
    ("房地产", "K"),
    ("租赁", "L"),
    ("商务服务", "L"),
    ("研究", "M"),
    ("技术服务", "M"),
    ("水利", "N"),
    ("环境", "N"),
    ("公共设施", "N"),
    ("居民服务", "O"),
    ("修理", "O"),
    ("其他服务", "O"),
    ("教育", "P"),
    ("卫生", "Q"),
    ("社会工作", "Q"),
    ("文化", "R"),
    ("体育", "R"),
    ("娱乐", "R"),
    ("社会组织", "S"),
)

GROUP_SCHEMA = {
    "group_id": pl.Utf8,
    "reason": pl.Utf8,
    "reason_text": pl.Utf8,
    "town": pl.Utf8,
    "grid_id": pl.Utf8,
    "place": pl.Utf8,
    "members": pl.Int64,
    "workers": pl.Int64,
    "lon": pl.Float64,
    "lat": pl.Float64,
}
MEMBER_SCHEMA = {"group_id": pl.Utf8, "enterprise_id": pl.Utf8, "workers": pl.Int64}


@dataclass
class JointGroups:
    """The month's groups (``GROUP_SCHEMA``, one row per group) and members (``MEMBER_SCHEMA``)."""

    groups: pl.DataFrame
    members: pl.DataFrame


def industry_section(industry: pl.Series) -> pl.Series:
    """The GB/T 4754 section letter of each industry value ('' when none can be told).

    A code (``C34``, ``F5212``) gives its letter; a name (批发业, 纺织服装、服饰业) the section of
    the first word in :data:`_NAME_SECTIONS` it holds.
    """
    t = pl.col("t")
    by_name: pl.Expr = pl.lit(None, pl.Utf8)
    for word, section in reversed(_NAME_SECTIONS):
        by_name = (
            pl.when(t.str.contains(word, literal=True)).then(pl.lit(section)).otherwise(by_name)
        )
    letter = t.str.extract(r"^([A-Ta-t])\d", 1).str.to_uppercase()
    frame = pl.DataFrame({"t": industry.cast(pl.Utf8).fill_null("").str.strip_chars()})
    return frame.select(pl.coalesce(letter, by_name).fill_null("").alias("section")).to_series()


def eligible(enterprises: pl.DataFrame, coverage: pl.DataFrame) -> pl.DataFrame:
    """The enterprises a joint union could take in (see the module docstring), with their parts.

    ``enterprises``: ``enterprise_id, grid_id, address, industry, lon, lat`` and optionally
    ``founded_on`` (the pool with its placement); ``coverage``: ``union_coverage`` (``covered,
    target, active, headcount``).
    Returns ``enterprise_id, grid_id, workers, lon, lat, founded_on, town, road, road_no,
    number, section``.
    """
    cov = coverage.filter(
        pl.col("active").fill_null(False)
        & ~pl.col("covered")
        & ~pl.col("target")
        & (pl.col("headcount").fill_null(0) >= 1)
    ).select("enterprise_id", pl.col("headcount").cast(pl.Int64).alias("workers"))
    founded = (
        pl.col("founded_on").cast(pl.Date, strict=False)
        if "founded_on" in enterprises.columns
        else pl.lit(None, pl.Date).alias("founded_on")
    )
    ents = enterprises.select(
        "enterprise_id", "grid_id", "address", "industry", "lon", "lat", founded
    ).join(cov, on="enterprise_id", how="inner")
    parts = parse_addresses(ents.get_column("address")).select("address", "town", "road", "road_no")
    return (
        ents.join(parts, on="address", how="left", nulls_equal=True)
        .with_columns(
            industry_section(ents.get_column("industry")),
            pl.col("road_no").cast(pl.Int64, strict=False).alias("number"),
        )
        .drop("address", "industry")
        .sort("enterprise_id")
    )


def _digest(*parts: str) -> str:
    return hashlib.blake2b("|".join(parts).encode(), digest_size=6).hexdigest().upper()


def _keys(keyed: pl.DataFrame, reason: str, min_members: int) -> pl.DataFrame:
    """``key, group_id`` of every key at least ``min_members`` rows of ``keyed`` share.

    The id is the reason's initial and a hash of reason + key, computed once per group.
    """
    big = keyed.group_by("key").len().filter(pl.col("len") >= min_members).sort("key")
    ids = [reason[0].upper() + _digest(reason, k) for k in big.get_column("key").to_list()]
    return big.select("key", pl.Series("group_id", ids, dtype=pl.Utf8))


def _metres(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Points in metres on a local plane (equirectangular around the points' mean latitude)."""
    lat0 = float(np.nanmean(lat)) if lat.size else 0.0
    return np.column_stack(
        (lon * _M_PER_DEG_LON_EQUATOR * np.cos(np.radians(lat0)), lat * _M_PER_DEG_LAT)
    )


def _buildings(pool: pl.DataFrame, min_members: int) -> pl.DataFrame:
    """``enterprise_id, group_id, town, place`` of the building groups.

    A building is a grid's town + road + house number: a building lies in one grid, and the
    grid keeps apart two places a town's address spells alike.
    """
    c = pl.col
    keyed = pool.filter(
        (c("town") != "") & (c("road") != "") & (c("road_no") != "") & c("grid_id").is_not_null()
    )
    keyed = keyed.with_columns(
        pl.concat_str("grid_id", "town", "road", "road_no", separator="\x1f").alias("key")
    )
    big = _keys(keyed, "building", min_members)
    return keyed.join(big, on="key").select(
        "enterprise_id",
        "group_id",
        c("town"),
        (c("town") + c("road") + c("road_no") + "号").alias("place"),
    )


def _streets(pool: pl.DataFrame, radius_m: float, min_members: int) -> pl.DataFrame:
    """``enterprise_id, group_id, town, place`` of the street groups (see the module docstring)."""
    c = pl.col
    on_road = pool.filter((c("town") != "") & (c("road") != "")).with_columns(
        (c("town") + "\x1f" + c("road")).alias("street")
    )
    placed = on_road.filter(c("lon").is_not_null() & c("lat").is_not_null())
    empty = pl.DataFrame(
        schema={"enterprise_id": pl.Utf8, "group_id": pl.Utf8, "town": pl.Utf8, "place": pl.Utf8}
    )
    if placed.height < 2:
        return empty
    xy = _metres(placed["lon"].to_numpy().astype(float), placed["lat"].to_numpy().astype(float))
    pairs = cKDTree(xy).query_pairs(radius_m, output_type="ndarray")
    street_codes = placed["street"].cast(pl.Categorical).to_physical().to_numpy()
    pairs = pairs[street_codes[pairs[:, 0]] == street_codes[pairs[:, 1]]]
    n = placed.height
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    comp = placed.with_columns(pl.Series("comp", labels, dtype=pl.Int64))
    sizes = comp.group_by("comp").len()
    comp = comp.join(sizes.filter(c("len") >= 2).select("comp"), on="comp")
    if not comp.height:
        return empty
    # an employer without coordinates joins the group of the nearest house number on its road in
    # its grid, when that number is at most NUMBER_SLACK away
    anchors = comp.select("street", "grid_id", "comp", pl.col("number").alias("_near")).filter(
        c("_near").is_not_null() & c("grid_id").is_not_null()
    )
    loose = (
        on_road.filter(c("lon").is_null() | c("lat").is_null())
        .filter(c("number").is_not_null())
        .join(anchors, on=["street", "grid_id"])
        .with_columns((c("number") - c("_near")).abs().alias("_off"))
        .filter(c("_off") <= NUMBER_SLACK)
        .sort("enterprise_id", "_off", "comp")
        .unique("enterprise_id", keep="first")
        .select(comp.columns)
    )
    members = pl.concat([comp, loose])
    members = members.join(
        members.sort(c("founded_on"), "enterprise_id", nulls_last=True)
        .group_by("comp", maintain_order=True)
        .agg(pl.len().alias("size"), c("enterprise_id").first().alias("anchor")),
        on="comp",
    ).filter(c("size") >= min_members)
    members = members.with_columns((c("street") + "\x1f" + c("anchor")).alias("key"))
    members = members.join(_keys(members, "street", min_members), on="key")
    return members.select(
        "enterprise_id",
        "group_id",
        c("town"),
        (c("town") + c("road")).alias("place"),
    )


def _industries(pool: pl.DataFrame, towns: dict[str, str], min_members: int) -> pl.DataFrame:
    """``enterprise_id, group_id, town, place`` of the industry groups."""
    c = pl.col
    keyed = pool.with_columns(
        pl.when(c("town") != "")
        .then(c("town"))
        .otherwise(c("grid_id").replace_strict(towns, default="", return_dtype=pl.Utf8))
        .fill_null("")
        .alias("town")
    ).filter((c("town") != "") & (c("section") != ""))
    keyed = keyed.with_columns((c("town") + "\x1f" + c("section")).alias("key"))
    big = _keys(keyed, "industry", min_members)
    return keyed.join(big, on="key").select(
        "enterprise_id",
        "group_id",
        c("town"),
        (
            c("town") + " " + c("section") + " " + c("section").replace_strict(SECTIONS, default="")
        ).alias("place"),
    )


def joint_groups(
    enterprises: pl.DataFrame,
    coverage: pl.DataFrame,
    towns: dict[str, str] | None = None,
    radius_m: float = RADIUS_M,
    min_members: int = MIN_MEMBERS,
) -> JointGroups:
    """The month's joint-union groups.

    Args:
        enterprises: the pool with its placement (``enterprise_id, grid_id, address, industry,
            lon, lat``).
        coverage: ``union_coverage`` rows of the month.
        towns: each grid's town (乡镇/街道), for employers whose address names none.
        radius_m: the walking radius of a shopping street.
        min_members: the fewest employers a group has.

    Returns:
        The groups and their members; each enterprise is in at most one group.
    """
    pool = eligible(enterprises, coverage)
    parts: list[tuple[str, pl.DataFrame]] = []
    left = pool
    for reason in REASONS:
        if reason == "building":
            found = _buildings(left, min_members)
        elif reason == "street":
            found = _streets(left, radius_m, min_members)
        else:
            found = _industries(left, towns or {}, min_members)
        parts.append((reason, found.with_columns(pl.lit(reason).alias("reason"))))
        left = left.join(found.select("enterprise_id"), on="enterprise_id", how="anti")
    assigned = pl.concat([p for _, p in parts]).join(
        pool.select("enterprise_id", "grid_id", "workers", "lon", "lat"), on="enterprise_id"
    )
    return JointGroups(_group_rows(assigned, radius_m), _member_rows(assigned))


def _member_rows(assigned: pl.DataFrame) -> pl.DataFrame:
    return assigned.select(list(MEMBER_SCHEMA)).sort("group_id", "enterprise_id")


def _group_rows(assigned: pl.DataFrame, radius_m: float) -> pl.DataFrame:
    c = pl.col
    if not assigned.height:
        return pl.DataFrame(schema=GROUP_SCHEMA)
    grid = (
        assigned.filter(c("grid_id").is_not_null())
        .group_by("group_id", "grid_id")
        .len()
        .sort(["group_id", "len", "grid_id"], descending=[False, True, False])
        .unique("group_id", keep="first")
        .select("group_id", "grid_id")
    )
    groups = (
        assigned.group_by("group_id")
        .agg(
            c("reason").first(),
            c("town").first(),
            c("place").first(),
            pl.len().cast(pl.Int64).alias("members"),
            c("workers").sum().cast(pl.Int64),
            c("lon").mean(),
            c("lat").mean(),
        )
        .join(grid, on="group_id", how="left")
    )
    words = pl.col("reason").replace_strict(REASON_ZH, return_dtype=pl.Utf8)
    groups = groups.with_columns(
        (
            words
            + "："
            + c("place")
            + pl.when(c("reason") == "street")
            .then(pl.lit(f"（相距{radius_m:g}米内）"))
            .otherwise(pl.lit(""))
            + "，"
            + c("members").cast(pl.Utf8)
            + "家小微企业共"
            + c("workers").cast(pl.Utf8)
            + "名职工"
        ).alias("reason_text")
    )
    order = pl.col("reason").replace_strict(
        {r: i for i, r in enumerate(REASONS)}, return_dtype=pl.Int64
    )
    return groups.sort(order, "group_id").select(list(GROUP_SCHEMA))
