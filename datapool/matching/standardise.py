"""Standardise canonical records for matching: identifiers, name parts, address parts.

Vectorised in polars: names and addresses are parsed once per distinct value,
identifier check characters are computed over whole columns.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import partial

import polars as pl

from datapool.matching.addresses import parse_addresses
from datapool.matching.identifiers import clean_code_expr, identifier_columns, regno_valid_expr
from datapool.matching.names import parse_names

REGNO_FIRST = "market_supervision"  # its 15-digit ids are 注册号; elsewhere a valid tax id is read first
NAME_PARTS = ("name_clean", "region", "branch", "branch_place", "core", "core_key", "former_key", "brand_key")
BATCH = 100_000  # distinct values (or rows) parsed at a time: bounds the working memory at any scale


def _parse_all(df: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Parts of each distinct name and address, and the identifier columns of every row.

    The work is cut into batches of ``BATCH`` values (rows for identifiers) run on a thread
    per core: polars releases the GIL, and many small jobs keep every core busy to the end.
    The market-supervision export's 15-digit ids are read as 注册号 first.
    """
    hint = pl.col("source") == REGNO_FIRST
    names, addresses = df.get_column("name").unique(), df.get_column("address").unique()  # any order will do
    jobs = {
        "names": [partial(parse_names, names.slice(i, BATCH), distinct=True) for i in range(0, max(len(names), 1), BATCH)],
        "addresses": [partial(parse_addresses, addresses.slice(i, BATCH), distinct=True)
                      for i in range(0, max(len(addresses), 1), BATCH)],
        "ids": [partial(identifier_columns, df.slice(i, BATCH), "id", hint) for i in range(0, max(df.height, 1), BATCH)],
    }
    with ThreadPoolExecutor(max_workers=max(pl.thread_pool_size(), 1)) as pool:
        running = {kind: [pool.submit(job) for job in batch] for kind, batch in jobs.items()}
        done = {kind: pl.concat([f.result() for f in futures]) for kind, futures in running.items()}
    return done["names"], done["addresses"], done["ids"]


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
    names, addresses, ids = _parse_all(df)
    names = names.select("name", *NAME_PARTS)
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
