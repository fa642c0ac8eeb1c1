"""Standardise canonical records for matching: identifiers, name parts, address parts.

Python work runs once per distinct name / address / code, never per pair.
"""

from __future__ import annotations

import polars as pl

from datapool.matching.addresses import parse_address
from datapool.matching.identifiers import clean_code, identifier_columns, is_valid_regno
from datapool.matching.names import parse_name, pinyin_key

_NAME_FIELDS = {"name_clean": pl.Utf8, "region": pl.Utf8, "brand": pl.Utf8, "industry_words": pl.Utf8,
                "form": pl.Utf8, "branch": pl.Boolean, "branch_place": pl.Utf8, "former_core": pl.Utf8,
                "core": pl.Utf8, "core_key": pl.Utf8, "former_key": pl.Utf8}
_ADDR_FIELDS = {"addr_norm": pl.Utf8, "town": pl.Utf8, "community": pl.Utf8, "road": pl.Utf8, "road_no": pl.Utf8}
ID_HINTS = {"tax_registry": "taxid15", "market_supervision": "regno"}


def _name_table(names: list[str | None]) -> pl.DataFrame:
    rows = []
    for n in names:
        p = parse_name(n)
        former = parse_name(p.former).core if p.former else ""
        rows.append((n, p.clean, p.region, p.brand, p.industry, p.form, p.branch, p.branch_place, former, p.core,
                     pinyin_key(p.core) if p.core else "", pinyin_key(former) if former else ""))
    return pl.DataFrame(rows, schema={"name": pl.Utf8, **_NAME_FIELDS}, orient="row")


def _address_table(addresses: list[str | None]) -> pl.DataFrame:
    rows = [(a, *parse_address(a)) for a in addresses]
    return pl.DataFrame(rows, schema={"address": pl.Utf8, **_ADDR_FIELDS}, orient="row")


def standardise(records: pl.DataFrame) -> pl.DataFrame:
    """Add matching columns to canonical records and a row id ``rid`` (0..n-1, deterministic order)."""
    df = records.sort("source", "source_row").with_row_index("rid")
    parts = []
    for source, group in df.group_by("source", maintain_order=True):
        parts.append(identifier_columns(group, "id", ID_HINTS.get(str(source[0]), "")))
    df = pl.concat(parts, how="diagonal_relaxed").sort("rid")
    regno = pl.col("regno").map_elements(clean_code, return_dtype=pl.Utf8)
    df = df.with_columns(pl.coalesce(pl.when(regno != "").then(regno), "id_regno").alias("regno")).drop("id_regno")
    df = df.with_columns(pl.col("regno").map_elements(lambda v: v if is_valid_regno(v) else None,
                                                      return_dtype=pl.Utf8).alias("regno_valid"))
    names = _name_table(df.get_column("name").unique().to_list())
    addresses = _address_table(df.get_column("address").unique().to_list())
    df = df.join(names, on="name", how="left", nulls_equal=True).join(addresses, on="address", how="left",
                                                                       nulls_equal=True)
    return df.sort("rid").with_columns(
        pl.coalesce("source_key", "regno", pl.lit("N:") + pl.col("name_clean")).alias("source_key"),
        pl.when(pl.col("road") != "").then(pl.col("town") + pl.col("road") + pl.col("road_no")).otherwise(None)
        .alias("addr_key"),
    )
