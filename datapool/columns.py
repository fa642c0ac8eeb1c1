"""Column helpers shared by the reader and matching."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl


def where(values: pl.Series, mask: pl.Series, change: Callable[[pl.Series], pl.Series | list]) -> pl.Series:
    """``values`` with ``change`` applied to the values where ``mask`` holds; the others are not read.

    The cheap test picks the few values an expensive rewrite can change (most values pass untouched).
    """
    mask = mask.fill_null(False)
    if not mask.any():
        return values
    return values.clone().scatter(mask.arg_true(), change(values.filter(mask)))


def dedupe(values: pl.Series) -> tuple[pl.Series, pl.Series]:
    """The distinct values of ``values`` (in no useful order) and, for each row, its value's place among them.

    Values are told apart by a 64-bit hash, sorted once; when two distinct values share a hash
    (checked), they are told apart by a join on the strings instead.
    """
    _, first, inverse = np.unique(values.hash(seed=3).to_numpy(), return_index=True, return_inverse=True)
    once, inverse = values.gather(first), pl.Series(inverse, dtype=pl.UInt32)
    if once.gather(inverse).eq_missing(values).all():
        return once, inverse
    return dedupe_by_join(values)


def dedupe_by_join(values: pl.Series) -> tuple[pl.Series, pl.Series]:
    """:func:`dedupe` by a join on the strings (exact, slower)."""
    once = values.unique()
    index = pl.DataFrame({"v": once, "_ix": pl.int_range(len(once), dtype=pl.UInt32, eager=True)})
    at = pl.DataFrame({"v": values}).join(index, on="v", how="left", nulls_equal=True, maintain_order="left")
    return once, at.get_column("_ix")
