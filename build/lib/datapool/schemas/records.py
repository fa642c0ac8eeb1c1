"""The canonical source record every reader produces (polars dtypes)."""

from __future__ import annotations

import polars as pl

RECORD_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.Utf8(),
    "source_row": pl.Int64(),
    "source_key": pl.Utf8(),
    "id": pl.Utf8(),
    "regno": pl.Utf8(),
    "name": pl.Utf8(),
    "kind": pl.Utf8(),
    "status": pl.Utf8(),
    "active": pl.Boolean(),
    "address": pl.Utf8(),
    "industry": pl.Utf8(),
    "headcount": pl.Int64(),
    "founded_on": pl.Date(),
    "lon": pl.Float64(),
    "lat": pl.Float64(),
    "phone_hash": pl.Utf8(),
    "account": pl.Utf8(),
    "period": pl.Utf8(),
    "capital": pl.Float64(),
    "supervisor": pl.Utf8(),
    "extra": pl.Utf8(),
}
QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.Utf8(),
    "source_row": pl.Int64(),
    "reason": pl.Utf8(),
    "raw": pl.Utf8(),
}


def conform(df: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Select ``schema``'s columns in order, adding missing ones as nulls."""
    return df.select(
        [
            (pl.col(c).cast(t) if c in df.columns else pl.lit(None, dtype=t)).alias(c)
            for c, t in schema.items()
        ]
    )
