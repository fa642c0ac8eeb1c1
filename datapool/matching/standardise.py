"""Standardise canonical records for matching: identifiers, name parts, address parts.

Vectorised in polars: names and addresses are parsed once per distinct value,
identifier check characters are computed over whole columns.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import polars as pl

from datapool.matching.addresses import parse_addresses
from datapool.matching.identifiers import clean_code_expr, identifier_columns, regno_valid_expr
from datapool.matching.names import parse_names

REGNO_FIRST = "market_supervision"  # its 15-digit ids are 注册号; elsewhere a valid tax id is read first
BATCH = 200_000  # distinct values (or rows) parsed at a time: bounds the working memory at any scale


def _batched(parse: Callable[[pl.Series], pl.DataFrame], values: pl.Series) -> pl.DataFrame:
    """``parse`` over the distinct ``values``, ``BATCH`` at a time."""
    uniq = values.unique(maintain_order=True)
    return pl.concat([parse(uniq.slice(i, BATCH)) for i in range(0, max(len(uniq), 1), BATCH)])


def _identifiers(df: pl.DataFrame) -> pl.DataFrame:
    """Identifier columns, ``BATCH`` rows at a time; the market-supervision export's 15-digit ids are 注册号 first."""
    hint = pl.col("source") == REGNO_FIRST
    return pl.concat([identifier_columns(df.slice(i, BATCH), "id", hint) for i in range(0, max(df.height, 1), BATCH)])


def standardise(records: pl.DataFrame) -> pl.DataFrame:
    """Add matching columns to canonical records and a row id ``rid`` (0..n-1, deterministic order)."""
    s, r = pl.col("source"), pl.col("source_row")
    ordered = records.select(((s > s.shift()) | ((s == s.shift()) & (r > r.shift()))).fill_null(True).all()).item()
    df = (records if ordered else records.sort("source", "source_row")).with_row_index("rid")  # no copy when sorted
    # names, addresses and identifiers are independent: polars releases the GIL, so threads use every core
    with ThreadPoolExecutor(max_workers=2) as pool:
        names_job = pool.submit(_batched, parse_names, df["name"])
        addresses_job = pool.submit(_batched, parse_addresses, df["address"])
        ids = _identifiers(df)
        names, addresses = names_job.result().drop("former"), addresses_job.result()
    # joined on the key column alone, then added as columns: the record columns are never copied
    name_parts = df.select("name").join(names, on="name", how="left", nulls_equal=True, maintain_order="left")
    del names
    address_parts = df.select("address").join(addresses, on="address", how="left", nulls_equal=True,
                                              maintain_order="left")
    del addresses
    df = df.with_columns(*ids.drop("id_regno"), *name_parts.drop("name"), *address_parts.drop("address"))
    del name_parts, address_parts
    regno = clean_code_expr(pl.col("regno"))
    regno = pl.coalesce(pl.when(regno != "").then(regno), ids["id_regno"])
    df = df.with_columns(regno.alias("regno")).with_columns(
        pl.when(regno_valid_expr(pl.col("regno").fill_null(""))).then(pl.col("regno")).otherwise(None).alias("regno_valid"))
    return df.with_columns(
        pl.coalesce("source_key", "regno", pl.lit("N:") + pl.col("name_clean")).alias("source_key"),
        pl.when(pl.col("road") != "").then(pl.col("town") + pl.col("road") + pl.col("road_no")).otherwise(None)
        .alias("addr_key"),
    )
