"""Column helpers shared by the reader and matching."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl


def where(
    values: pl.Series, mask: pl.Series, change: Callable[[pl.Series], pl.Series | list[Any]]
) -> pl.Series:
    """``values`` with ``change`` applied where ``mask`` holds; the others are not read.

    The cheap test picks the few values an expensive rewrite can change (most pass untouched).
    """
    mask = mask.fill_null(False)
    if not mask.any():
        return values
    return values.clone().scatter(mask.arg_true(), change(values.filter(mask)))


# seeds of the two hashes dedupe tells values apart by: one ranks them, the other checks the ranking
RANK_SEED, CHECK_SEED = 3, 5


def dedupe(values: pl.Series) -> tuple[pl.Series, pl.Series]:
    """The distinct values of ``values`` in order of first appearance and, for each row, its value's
    place among them.

    Values are told apart by a 64-bit hash, ranked once; that no two distinct values share it is
    checked with a second, differently seeded hash of every row (two distinct values agree on both
    with probability 2^-128). When the check fails they are told apart by a join on the strings
    instead. The distinct values are gathered in row order: far faster than in hash order (and the
    values are made one chunk first: gathering from many chunks is many times slower).
    """
    values, n = values.rechunk(), len(values)
    if n == 0:
        return values, pl.Series([], dtype=pl.UInt32)
    # numbered in hash order
    group = values.hash(seed=RANK_SEED).rank("dense").to_numpy().astype(np.int64) - 1
    first = np.full(int(group.max()) + 1, n, dtype=np.int64)
    np.minimum.at(first, group, np.arange(n))  # each value's first row
    seen = np.zeros(n, dtype=bool)
    seen[first] = True
    rows = np.flatnonzero(seen)  # the first rows in row order
    place = np.empty(n, dtype=np.uint32)
    place[rows] = np.arange(len(rows), dtype=np.uint32)
    inverse = place[first[group]]
    once, inverse = values.gather(rows), pl.Series(inverse, dtype=pl.UInt32)
    if once.hash(seed=CHECK_SEED).gather(inverse).equals(values.hash(seed=CHECK_SEED)):
        return once, inverse
    return dedupe_by_join(values)


def dedupe_by_join(values: pl.Series) -> tuple[pl.Series, pl.Series]:
    """:func:`dedupe` by a join on the strings (exact, slower)."""
    once = values.unique()
    index = pl.DataFrame({"v": once, "_ix": pl.int_range(len(once), dtype=pl.UInt32, eager=True)})
    at = pl.DataFrame({"v": values}).join(
        index, on="v", how="left", nulls_equal=True, maintain_order="left"
    )
    return once, at.get_column("_ix")
