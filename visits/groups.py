"""Joint-union groups: small employers with no union that could form one union together.

The district organises employers too small for a union of their own through building, shopping
street, industry and joint unions (楼宇/商圈/行业/联合工会). This module proposes such groups
from the pool, for three reasons, tried in this order:

1. ``building`` (同楼宇): the same building: the same grid, town, road and house number once the
   address is parsed (:func:`datapool.matching.addresses.parse_addresses`; rooms, floors and
   province/city prefixes do not count, so 红旗大道88号301室 and 江西省赣州市赣县区…红旗大道88号3楼
   are one building).
2. ``street`` (同商圈): on the same road of the same town, each within a walking radius
   (:data:`RADIUS_M`, 300 m) of another member, linked in a chain (single linkage over a KD-tree
   of the coordinates; no loop over pairs). Many employers have no coordinates: two on one road
   of one grid, one of them without coordinates, whose house numbers are at most
   :data:`NUMBER_SLACK` (10) apart count as neighbours too (an employer placed in no grid links
   to its nearest such number only).
3. ``industry`` (同行业): the same industry section (GB/T 4754 门类, read from the industry code's
   letter or the tax registry's industry name) within one town (乡镇/街道).

Who is grouped (:func:`eligible`): active enterprises that no union covers (``union_coverage``),
are not visit targets and have a known headcount of at least one worker: the pool's headcount,
``union_coverage.headcount`` (a visit's 考勤人数, else 参保人数, the tax filing's 从业人数, civil
affairs' 从业人员数); the caller leaves out the enterprises a visit found closed, moved or gone
(``visits.records.in_operation``). With the default threshold of 25 that is 1 to 25 workers:
every small employer the target list leaves out. An employer whose headcount is unknown is left
out (its size is not known).

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
NUMBER_SLACK = 10  # house numbers at most this far apart on one road of one grid are neighbours
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
        # rows stay in ents' order: the section is attached by position
        ents.join(parts, on="address", how="left", nulls_equal=True, maintain_order="left")
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


def _most_common_grid(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    """``key, _grid``: the grid most rows of each key are in (ties: the smallest grid id)."""
    return (
        frame.filter(pl.col("grid_id").is_not_null())
        .group_by(key, "grid_id")
        .len()
        .sort([key, "len", "grid_id"], descending=[False, True, False])
        .unique(key, keep="first")
        .select(key, pl.col("grid_id").alias("_grid"))
    )


def _buildings(pool: pl.DataFrame, min_members: int) -> pl.DataFrame:
    """``enterprise_id, group_id, town, place`` of the building groups.

    A building is a grid's town + road + house number: it lies in one grid, and the grid keeps
    apart two places a town's addresses spell alike. An employer placed in no grid (no
    coordinates, no community in its address) is taken to be in the grid most of its address's
    other employers are in.
    """
    c = pl.col
    keyed = pool.filter((c("town") != "") & (c("road") != "") & (c("road_no") != ""))
    keyed = keyed.with_columns(
        pl.concat_str("town", "road", "road_no", separator="\x1f").alias("addr")
    )
    keyed = keyed.join(_most_common_grid(keyed, "addr"), on="addr", how="left").with_columns(
        pl.concat_str(
            pl.coalesce("grid_id", "_grid").fill_null(""), "addr", separator="\x1f"
        ).alias("key")
    )
    big = _keys(keyed, "building", min_members)
    return keyed.join(big, on="key").select(
        "enterprise_id",
        "group_id",
        c("town"),
        (c("town") + c("road") + c("road_no") + "号").alias("place"),
    )


def _pairs_by_position(placed: pl.DataFrame, radius_m: float) -> np.ndarray:
    """Row pairs of ``placed`` (``_row, street, lon, lat``) on one street within ``radius_m``."""
    if placed.height < 2:
        return np.empty((0, 2), dtype=np.int64)
    xy = _metres(placed["lon"].to_numpy().astype(float), placed["lat"].to_numpy().astype(float))
    pairs = cKDTree(xy).query_pairs(radius_m, output_type="ndarray")
    street = placed["street"].cast(pl.Categorical).to_physical().to_numpy()
    pairs = pairs[street[pairs[:, 0]] == street[pairs[:, 1]]]
    rows = placed["_row"].to_numpy()
    return np.column_stack((rows[pairs[:, 0]], rows[pairs[:, 1]])).astype(np.int64)


def _pairs_by_number(on_road: pl.DataFrame) -> np.ndarray:
    """Row pairs on one street whose house numbers are at most ``NUMBER_SLACK`` apart.

    Only pairs where one side has no coordinates (two that have them are near or not by their
    coordinates). Both in one grid; an employer placed in no grid is paired with its nearest
    such neighbour in any grid of the street only (so it cannot join two grids' shops into one
    group).
    """
    c = pl.col
    # numbers at most NUMBER_SLACK apart are in one bin or in neighbouring ones: each row meets
    # only the rows of its street (and grid) in its own bin and the next, never the whole street
    # (a join on the street alone grows with the square of a street's employers)
    numbered = on_road.filter(c("number").is_not_null()).select(
        "_row",
        "street",
        "grid_id",
        "number",
        (c("number") // (NUMBER_SLACK + 1)).alias("_bin"),
        (c("lon").is_not_null() & c("lat").is_not_null()).alias("_xy"),
    )
    gridded = numbered.filter(c("grid_id").is_not_null())

    def near(left: pl.DataFrame, on: list[str]) -> pl.DataFrame:
        """``left``'s rows beside the gridded rows of the same ``on`` within NUMBER_SLACK."""
        right = gridded.select("_row", *on, "number", "_bin", "_xy")
        return (
            pl.concat([left.with_columns(c("_bin") + k) for k in (-1, 0, 1)])
            .join(right, on=[*on, "_bin"], suffix="_b")
            .with_columns((c("number") - c("number_b")).abs().alias("_off"))
            .filter(c("_off") <= NUMBER_SLACK)
        )

    # a pair with coordinates on both sides is not one of these: each pair has a side without
    same = (
        near(gridded.filter(~c("_xy")), ["street", "grid_id"])
        .filter(c("_row") != c("_row_b"))
        .select(
            pl.min_horizontal("_row", "_row_b").alias("_row"),
            pl.max_horizontal("_row", "_row_b").alias("_row_b"),
        )
        .unique()
    )
    loose = (
        near(numbered.filter(c("grid_id").is_null()), ["street"])
        .sort("_row", "_off", "_row_b")
        .unique("_row", keep="first")
        .select("_row", "_row_b")
    )
    return pl.concat([same, loose]).to_numpy().astype(np.int64).reshape(-1, 2)


def _streets(pool: pl.DataFrame, radius_m: float, min_members: int) -> pl.DataFrame:
    """``enterprise_id, group_id, town, place`` of the street groups (see the module docstring).

    Neighbours on a street are linked: within ``radius_m`` by their coordinates, or by their
    house numbers (:func:`_pairs_by_number`) when coordinates are missing; a group is a chain of
    such links (a connected component) of at least ``min_members``.
    """
    c = pl.col
    on_road = (
        pool.filter((c("town") != "") & (c("road") != ""))
        .with_columns((c("town") + "\x1f" + c("road")).alias("street"))
        .with_row_index("_row")
        .with_columns(c("_row").cast(pl.Int64))
    )
    placed = on_road.filter(c("lon").is_not_null() & c("lat").is_not_null())
    pairs = np.concatenate((_pairs_by_position(placed, radius_m), _pairs_by_number(on_road)))
    n = on_road.height
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    members = on_road.with_columns(pl.Series("comp", labels, dtype=pl.Int64))
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
