"""Addresses parsed into comparable parts: town, community, road, number.

Province / city / district prefixes are dropped (every address in the pool is in the district,
and registries disagree on whether to write them, and at which level: 江西省赣州市赣县区,
江西赣州赣县, 赣县). A town written without its 镇 / 乡 / 街道 (梅林 for 梅林镇) is read as the
town the other addresses write in full (:func:`with_bare_towns`). Two house numbers (12-14号,
12号-14号, 12、13号: a firm holding several) are read as the first.
"""

from __future__ import annotations

import polars as pl

from datapool.matching.names import fold_series
from datapool.matching.regions import divisions

DISTRICT = 360704  # the pool's district (赣县区); its addresses may name it and the levels above


def _prefix_pattern() -> str:
    """The district and the levels above it, in every spelling the division table knows
    (江西省 / 江西, 赣州市 / 赣州, 赣县区 / 赣县), any number of them at the start."""
    chain = [DISTRICT // 10_000 * 10_000, DISTRICT // 100 * 100, DISTRICT]
    aliases = divisions().aliases.filter(pl.col("code").is_in(chain))["alias"].unique().to_list()
    return "^(?:" + "|".join(sorted(aliases, key=lambda a: (-len(a), a))) + ")+"


_PREFIX_PATTERN = _prefix_pattern()
_KEEP = "江西赣县经济开发区"  # starts like a prefix, but is a town
# the district's one development zone, as registries write it (once the district is dropped)
_ZONE = (
    "江西赣县经济开发区",
    "赣县经开区",
    "赣县经济开发区",
    "经济技术开发区",
    "经济开发区",
    "经开区",
    "开发区",
)
_TOWN_ALIASES = {z: _KEEP for z in _ZONE}
_HAN = r"\x{4e00}-\x{9fff}"
_TOWN_SUFFIX = "(?:镇|乡|街道)"
_TOWN_PATTERN = rf"^({'|'.join(_ZONE)}|[{_HAN}]{{1,4}}?{_TOWN_SUFFIX})"
# a 社区 / 居委会 is tried before a 村, so 杨村社区 is one community, not 杨村 + 社区… (two
# patterns: polars' regex engine does not prefer the first of two alternatives with lazy repeats)
_COMMUNITY_PATTERNS = (
    rf"^([{_HAN}\d]{{1,6}}?(?:社区|居委会))",
    rf"^([{_HAN}\d]{{1,6}}?村)",
)
# the road and its (first) house number: 12号, 12-14号, 12号-14号 (12、14号 is 12-14号 by then)
_ROAD_PATTERN = rf"([{_HAN}\d]{{1,8}}?(?:大道|路|街|巷|大街|道))(\d+)(?:号?[-~—至到]\d+)?号"
# a road that ends the address, without a number
_BARE_ROAD_PATTERN = rf"([{_HAN}\d]{{1,8}}?(?:大道|路|街|巷|大街|道))$"
# a bare town name followed by one of these is another part's name (湖江村 is a village)
_PART_SUFFIX = "^(?:镇|乡|街道|社区|村|居委会|大道|路|街|巷|道)"
ADDRESS_FIELDS = ("addr_norm", "town", "community", "road", "road_no")


def address_texts(addresses: pl.Series) -> pl.Series:
    """The first step of :func:`parse_addresses`: each address folded, its prefixes dropped.

    The province / city / district prefixes go: many addresses differ only there
    (江西省赣州市赣县区梅林镇… and 梅林镇…).
    """
    # Stacked prefixes go in one step. The town 江西赣县经济开发区 loses its 江西赣县 with them, and
    # what is left, 经济开发区, is one of that town's aliases.
    # 12、13号 (two numbers): folding drops the 、, so it is made a range first
    two = addresses.cast(pl.Utf8).str.replace_all(r"(\d)\s*[、，,]\s*(\d)", "${1}-${2}")
    return fold_series(two).str.replace(_PREFIX_PATTERN, "").alias("text")


def with_bare_towns(texts: pl.Series) -> pl.Series:
    """``texts`` (as :func:`address_texts` leaves them), each that starts with a town written
    without its 镇 / 乡 / 街道 (梅林文化社区… for 梅林镇文化社区…) given it back.

    The towns are those other texts write in full: a bare name is read as a town only when one
    town of the texts has that stem (not two: 梅林镇 and 梅林乡 leave 梅林 unread), it leads a text
    that names no town, and what follows it is not the suffix of another part (湖江村 is a village,
    not 湖江镇 + 村). Longer stems are tried first.
    """
    c = pl.col
    df = pl.DataFrame({"text": texts.cast(pl.Utf8)})
    town = df.get_column("text").str.extract(_TOWN_PATTERN, 1)
    stems = (
        town.drop_nulls()
        .unique()
        .to_frame("town")
        .filter(c("town").str.contains(f"{_TOWN_SUFFIX}$") & ~c("town").is_in(_ZONE))
        .with_columns(c("town").str.replace(f"{_TOWN_SUFFIX}$", "").alias("stem"))
        .filter((c("stem").str.len_chars() >= 2) & (pl.len().over("stem") == 1))
    )
    if stems.is_empty():
        return texts
    bare = df.with_row_index("i").filter(town.is_null())
    found = []
    for k in sorted(set(stems["stem"].str.len_chars().to_list()), reverse=True):
        hit = (
            bare.with_columns(c("text").str.slice(0, k).alias("stem"))
            .join(stems, on="stem")
            .filter(~c("text").str.slice(k).str.contains(_PART_SUFFIX))
            .filter(c("text").str.len_chars() > k)
        )
        found.append(hit.select("i", (c("town") + c("text").str.slice(k)).alias("new")))
        bare = bare.join(hit.select("i"), on="i", how="anti")
    fix = pl.concat(found)
    if fix.is_empty():
        return texts
    return df.get_column("text").scatter(fix["i"], fix["new"]).alias(texts.name)


def parse_texts(texts: pl.Series) -> pl.DataFrame:
    """The second step of :func:`parse_addresses`: one row per value of ``texts`` (as
    :func:`address_texts` leaves them) with ``ADDRESS_FIELDS``."""
    c = pl.col
    df = pl.DataFrame({"text": texts})
    # each part is extracted once (a column), then cut off the front of the text
    df = df.with_columns(c("text").str.extract(_TOWN_PATTERN, 1).alias("_part"))
    df = df.with_columns(
        c("_part").replace(_TOWN_ALIASES).fill_null("").alias("town"),
        c("text").str.slice(c("_part").str.len_chars().fill_null(0)).alias("text"),
    )
    df = df.with_columns(
        pl.coalesce([c("text").str.extract(p, 1) for p in _COMMUNITY_PATTERNS]).alias("_part")
    )
    df = df.with_columns(
        c("_part").fill_null("").alias("community"),
        c("text").str.slice(c("_part").str.len_chars().fill_null(0)).alias("text"),
    )
    road = df.select(c("text").str.extract_groups(_ROAD_PATTERN)).to_series().struct.unnest()
    df = df.with_columns(
        pl.coalesce(road["1"], c("text").str.extract(_BARE_ROAD_PATTERN, 1))
        .fill_null("")
        .alias("road"),
        road["2"].fill_null("").alias("road_no"),
    )
    return df.with_columns(
        (
            c("town")
            + c("community")
            + pl.when(c("road") != "").then(c("road") + c("road_no")).otherwise(c("text"))
        ).alias("addr_norm")
    ).select(*ADDRESS_FIELDS)


def parse_addresses(addresses: pl.Series, *, distinct: bool = False) -> pl.DataFrame:
    """Parse each distinct address; one row per distinct value (column ``address``), in order of
    first appearance, with ``ADDRESS_FIELDS``.

    Parts are '' when absent; ``addr_norm`` is town + community + road + number (or the rest of the
    address when no road is found). ``distinct``: the values are known to be distinct already. Done
    in two steps, :func:`address_texts` then :func:`parse_texts` (standardise runs the second once
    per distinct text).
    """
    values = addresses.cast(pl.Utf8)
    values = values if distinct else values.unique(maintain_order=True)
    return pl.concat(
        [values.alias("address").to_frame(), parse_texts(with_bare_towns(address_texts(values)))],
        how="horizontal",
    )


def parse_address(raw: str | None) -> tuple[str, str, str, str, str]:
    """``(norm, town, community, road, number)`` of one address; parts are '' when absent."""
    return parse_addresses(pl.Series([raw], dtype=pl.Utf8)).select(ADDRESS_FIELDS).row(0)
