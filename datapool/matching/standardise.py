"""Standardise canonical records for matching: identifiers, name parts, address parts.

Vectorised in polars: names and addresses are parsed once per distinct value,
identifier check characters are computed over whole columns.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import polars as pl

from datapool.matching.addresses import parse_addresses
from datapool.matching.identifiers import clean_code_expr, identifier_columns, regno_valid_expr
from datapool.matching.names import parse_names

ID_HINTS = {"tax_registry": "taxid15", "market_supervision": "regno"}


def standardise(records: pl.DataFrame) -> pl.DataFrame:
    """Add matching columns to canonical records and a row id ``rid`` (0..n-1, deterministic order)."""
    df = records.sort("source", "source_row").with_row_index("rid")
    # names, addresses and identifiers are independent: polars releases the GIL, so threads use every core
    with ThreadPoolExecutor(max_workers=2) as pool:
        names_job = pool.submit(lambda: parse_names(df["name"]).drop("former"))
        addresses_job = pool.submit(parse_addresses, df["address"])
        parts = [identifier_columns(group, "id", ID_HINTS.get(str(source[0]), ""))
                 for source, group in df.group_by("source", maintain_order=True)]
        names, addresses = names_job.result(), addresses_job.result()
    df = pl.concat(parts, how="diagonal_relaxed").sort("rid")
    regno = clean_code_expr(pl.col("regno"))
    df = df.with_columns(pl.coalesce(pl.when(regno != "").then(regno), "id_regno").alias("regno")).drop("id_regno")
    df = df.with_columns(pl.when(regno_valid_expr(pl.col("regno").fill_null(""))).then(pl.col("regno")).otherwise(None)
                         .alias("regno_valid"))
    df = df.join(names, on="name", how="left", nulls_equal=True).join(addresses, on="address", how="left",
                                                                       nulls_equal=True)
    return df.sort("rid").with_columns(
        pl.coalesce("source_key", "regno", pl.lit("N:") + pl.col("name_clean")).alias("source_key"),
        pl.when(pl.col("road") != "").then(pl.col("town") + pl.col("road") + pl.col("road_no")).otherwise(None)
        .alias("addr_key"),
    )
