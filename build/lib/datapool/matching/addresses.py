"""Addresses parsed into comparable parts: town, community, road, number.

Province / city / district prefixes are dropped (every address in the pool is
in the district, and registries disagree on whether to write them).
"""

from __future__ import annotations

import polars as pl

from datapool.matching.names import fold_series

_PREFIX_PATTERN = "^(?:江西省|赣州市|赣县区|赣县|江西)+"  # alternatives in the order they are tried
_KEEP = "江西赣县经济开发区"  # starts like a prefix, but is a town
_TOWN_ALIASES = {
    "赣县经开区": _KEEP,
    "赣县经济开发区": _KEEP,
    "经济开发区": _KEEP,
    _KEEP: _KEEP,
    "经开区": _KEEP,
}
_HAN = r"\x{4e00}-\x{9fff}"
_TOWN_PATTERN = (
    r"^(江西赣县经济开发区|赣县经开区|赣县经济开发区|经济开发区|经开区"
    rf"|[{_HAN}]{{1,4}}?(?:镇|乡|街道))"
)
_COMMUNITY_PATTERN = rf"^([{_HAN}\d]{{1,6}}?(?:社区|村|居委会))"
_ROAD_PATTERN = rf"([{_HAN}\d]{{1,8}}?(?:大道|路|街|巷|大街|道))(\d+)号"
ADDRESS_FIELDS = ("addr_norm", "town", "community", "road", "road_no")


def address_texts(addresses: pl.Series) -> pl.Series:
    """The first step of :func:`parse_addresses`: each address folded, its prefixes dropped.

    The province / city / district prefixes go: many addresses differ only there
    (江西省赣州市赣县区梅林镇… and 梅林镇…).
    """
    # Stacked prefixes go in one step. The town 江西赣县经济开发区 loses its 江西赣县 with them, and
    # what is left, 经济开发区, is one of that town's aliases.
    return fold_series(addresses.cast(pl.Utf8)).str.replace(_PREFIX_PATTERN, "").alias("text")


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
    df = df.with_columns(c("text").str.extract(_COMMUNITY_PATTERN, 1).alias("_part"))
    df = df.with_columns(
        c("_part").fill_null("").alias("community"),
        c("text").str.slice(c("_part").str.len_chars().fill_null(0)).alias("text"),
    )
    road = df.select(c("text").str.extract_groups(_ROAD_PATTERN)).to_series().struct.unnest()
    df = df.with_columns(
        road["1"].fill_null("").alias("road"), road["2"].fill_null("").alias("road_no")
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
        [values.alias("address").to_frame(), parse_texts(address_texts(values))], how="horizontal"
    )


def parse_address(raw: str | None) -> tuple[str, str, str, str, str]:
    """``(norm, town, community, road, number)`` of one address; parts are '' when absent."""
    return parse_addresses(pl.Series([raw], dtype=pl.Utf8)).select(ADDRESS_FIELDS).row(0)
