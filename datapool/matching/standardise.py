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
NAME_PARTS = ("name_clean", "region", "branch", "branch_place", "core", "core_key", "former_key", "brand_key")
BATCH = 200_000  # distinct values (or rows) parsed at a time: bounds the working memory at any scale


def _batched(parse: Callable[[pl.Series], pl.DataFrame], values: pl.Series) -> pl.DataFrame:
    """``parse`` over the distinct ``values``, ``BATCH`` at a time."""
    uniq = values.unique()  # any order: each value's parts depend on the value alone
    return pl.concat([parse(uniq.slice(i, BATCH), distinct=True) for i in range(0, max(len(uniq), 1), BATCH)])


def _identifiers(df: pl.DataFrame) -> pl.DataFrame:
    """Identifier columns, ``BATCH`` rows at a time; the market-supervision export's 15-digit ids are 注册号 first."""
    hint = pl.col("source") == REGNO_FIRST
    return pl.concat([identifier_columns(df.slice(i, BATCH), "id", hint) for i in range(0, max(df.height, 1), BATCH)])


def _per_row(df: pl.DataFrame, key: str, parts: pl.DataFrame) -> pl.DataFrame:
    """The columns of ``parts`` (one row per distinct ``key``) for each row of ``df``, in row order.

    Rows find their part by a 64-bit hash of the key, which is much cheaper than joining on
    the string, when the distinct keys' hashes are distinct (checked: else the string join).
    """
    h = pl.col(key).hash(seed=3)
    index = parts.select(h, pl.int_range(pl.len(), dtype=pl.UInt32).alias("_ix"))
    if index.get_column(key).n_unique() < index.height:  # two keys share a hash: join on the strings
        return df.select(key).join(parts, on=key, how="left", nulls_equal=True, maintain_order="left").drop(key)
    at = df.select(h).join(index, on=key, how="left", maintain_order="left").get_column("_ix")
    return parts.drop(key)[at]


def standardise(records: pl.DataFrame) -> pl.DataFrame:
    """Add matching columns to canonical records and a row id ``rid`` (0..n-1, deterministic order).

    The columns added: the identifier columns (see ``identifier_columns``), ``NAME_PARTS``,
    ``addr_norm``, ``town``, ``addr_key`` (town + road + number, null without a road) and
    ``regno_valid``; ``regno`` and ``source_key`` are completed.
    """
    s, r = pl.col("source"), pl.col("source_row")
    ordered = records.select(((s > s.shift()) | ((s == s.shift()) & (r > r.shift()))).fill_null(True).all()).item()
    df = (records if ordered else records.sort("source", "source_row")).with_row_index("rid")  # no copy when sorted
    # names, addresses and identifiers are independent: polars releases the GIL, so threads use every core
    with ThreadPoolExecutor(max_workers=2) as pool:
        names_job = pool.submit(_batched, parse_names, df["name"])
        addresses_job = pool.submit(_batched, parse_addresses, df["address"])
        ids = _identifiers(df)
        names, addresses = names_job.result().select("name", *NAME_PARTS), addresses_job.result()
    # only the parts that matching reads are carried to every row
    road = pl.col("road")
    addresses = addresses.select("address", "addr_norm", "town", pl.when(road != "").then(
        pl.col("town") + road + pl.col("road_no")).otherwise(None).alias("addr_key"))
    name_parts, address_parts = _per_row(df, "name", names), _per_row(df, "address", addresses)
    del names, addresses
    df = df.with_columns(*ids.drop("id_regno"), *name_parts, *address_parts)
    del name_parts, address_parts
    regno = clean_code_expr(pl.col("regno"))
    regno = pl.coalesce(pl.when(regno != "").then(regno), ids["id_regno"])
    df = df.with_columns(regno.alias("regno")).with_columns(
        pl.when(regno_valid_expr(pl.col("regno").fill_null(""))).then(pl.col("regno")).otherwise(None).alias("regno_valid"))
    return df.with_columns(pl.coalesce("source_key", "regno", pl.lit("N:") + pl.col("name_clean")).alias("source_key"))
