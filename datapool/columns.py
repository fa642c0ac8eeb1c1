"""Column helpers shared by the reader and matching."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl


def where(values: pl.Series, mask: pl.Series, change: Callable[[pl.Series], pl.Series | list]) -> pl.Series:
    """``values`` with ``change`` applied to the values where ``mask`` holds; the others are not read.

    The cheap test picks the few values an expensive rewrite can change (most values pass untouched).
    """
    mask = mask.fill_null(False)
    if not mask.any():
        return values
    return values.clone().scatter(mask.arg_true(), change(values.filter(mask)))
