"""China's administrative divisions as a hierarchy of codes, read from matching/divisions/.

The table holds every province, prefecture and county with its current code (GB/T 2260, as the
Ministry of Civil Affairs published it on 2025-12-31) and the former names and codes of the
GB/T 2260 revisions 2002-2014, each mapped to the current division (赣县 360721 -> 赣县区 360704,
龙南县 -> 龙南市). matching/divisions/README.md names the sources; build.py there regenerates the files.

A region is a six-digit code; 0 is "no region". Its level shows in its zero tail: 360000 is
a province (江西), 360700 a prefecture (赣州), 360704 a county (赣县区). One region contains
another when the other's code starts with its significant digits (36 ⊃ 3607 ⊃ 360704), so
comparing two regions is integer work: two regions are *compatible* when one contains the other
(or either is 0) and *conflict* when they are disjoint.

Every division is known by its full name (赣州市), its short name (赣州) and its former names;
a spelling that several divisions share (朝阳: a district of Beijing and a city of Liaoning) means
their nearest common region (0 when that is the whole country), unless a region written before it
in the name says which one is meant (辽宁朝阳).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import opencc
import polars as pl

DIVISIONS_DIR = Path(__file__).resolve().parent / "divisions"  # package data (pyproject.toml)


def significant(codes: np.ndarray) -> np.ndarray:
    """The significant digits of each code: 2 (province), 4 (prefecture), 6 (county), 0 for 0."""
    codes = np.asarray(codes, dtype=np.int64)
    return np.where(
        codes == 0, 0, np.where(codes % 10_000 == 0, 2, np.where(codes % 100 == 0, 4, 6))
    )


_SCALE = np.array([1_000_000, 0, 10_000, 0, 100, 0, 1], dtype=np.int64)  # by significant digits


def compatible(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether each pair of regions is compatible: one contains the other, or either is 0."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    scale = _SCALE[np.minimum(significant(a), significant(b))]
    ok: np.ndarray = (a == 0) | (b == 0) | (a // scale == b // scale)
    return ok


def common_ancestor(codes: list[int]) -> int:
    """The most specific region containing all ``codes`` (0 when only the whole country does)."""
    for digits, scale in ((6, 1), (4, 100), (2, 10_000)):
        heads = {c // scale for c in codes}
        if len(heads) == 1 and min(significant(np.array(codes))) >= digits:
            return heads.pop() * scale
    return 0


@dataclass(frozen=True)
class Divisions:
    """The division table: ``names`` (code -> official name), ``aliases`` (spelling -> code,
    with ``short`` telling a suffix-less short name), ``within`` (spelling, containing region ->
    code, for the spellings several divisions share) and ``codes`` (every current or former code
    -> current code)."""

    names: dict[int, str]
    aliases: pl.DataFrame
    within: pl.DataFrame
    codes: pl.DataFrame


@functools.cache
def divisions() -> Divisions:
    """Load matching/divisions/ (once per process)."""
    cur = pl.read_csv(
        DIVISIONS_DIR / "divisions.csv",
        schema_overrides={"code": pl.Int64, "parent": pl.Int64, "short": pl.Utf8},
    )
    old = pl.read_csv(
        DIVISIONS_DIR / "former.csv",
        schema_overrides={"code": pl.Int64, "current": pl.Int64, "short": pl.Utf8},
    )
    # each kind of spelling with its rank: a spelling that is a current full name means that
    # division, before any short or former name that happens to be spelled alike (双桥区)
    spellings = pl.concat(
        [
            frame.select(pl.col(col).alias("alias"), pl.col(to).alias("code"),
                         pl.lit(col == "short").alias("short"), pl.lit(rank).alias("rank"))
            for rank, (frame, col, to) in enumerate(
                [(cur, "name", "code"), (cur, "short", "code"),
                 (old, "name", "current"), (old, "short", "current")]
            )
        ]
    ).filter(pl.col("alias").is_not_null() & (pl.col("alias").str.len_chars() >= 2))  # fmt: skip
    # names are read after OpenCC's traditional -> simplified (names.fold), which also turns a few
    # simplified place names into others (乾县 -> 干县): each spelling is known in that form too
    t2s = opencc.OpenCC("t2s").convert
    spellings = pl.concat(
        [
            spellings,
            spellings.with_columns(pl.Series("alias", [t2s(a) for a in spellings["alias"]])),
        ]
    ).unique()
    # short: the spelling is no division's full name, current or former (赣县 is 赣县区's short name
    # and the full name it had until 2016)
    spellings = spellings.with_columns(pl.col("short").all().over("alias")).filter(
        pl.col("rank") == pl.col("rank").min().over("alias")
    )
    grouped = spellings.group_by("alias").agg(pl.col("code").unique().sort(), pl.col("short").all())
    shared = grouped.filter(pl.col("code").list.len() > 1)
    ancestors = dict(
        zip(shared["alias"], (common_ancestor(c) for c in shared["code"].to_list()), strict=True)
    )
    aliases = grouped.select(
        "alias",
        pl.when(pl.col("code").list.len() == 1)
        .then(pl.col("code").list.first())
        .otherwise(pl.col("alias").replace_strict(ancestors, default=0, return_dtype=pl.Int64))
        .alias("code"),
        "short",
    ).sort("alias")
    # a shared spelling after a region that holds exactly one of its divisions means that one
    shared = shared.explode("code").select("alias", "code")
    inside = (
        pl.concat(
            [
                shared.with_columns((pl.col("code") // scale * scale).alias("context"))
                for scale in (10_000, 100)
            ]
        )
        .filter(pl.col("context") != pl.col("code"))
        .group_by("alias", "context")
        .agg(pl.col("code").unique().sort())
    )
    within = inside.select(
        "alias",
        "context",
        pl.Series("code", [common_ancestor(c) for c in inside["code"].to_list()], dtype=pl.Int64),
    ).filter(pl.col("code") != pl.col("context"))
    names = dict(zip(cur["code"].to_list(), cur["name"].to_list(), strict=True))
    known = pl.concat(
        [cur.select("code", pl.col("code").alias("current")), old.select("code", "current")]
    ).unique("code", keep="first")
    return Divisions(names, aliases, within, known)


def alias_pattern() -> str:
    """A regex matching any division spelling at the start of a text, longest first."""
    words = sorted(divisions().aliases["alias"].to_list(), key=len, reverse=True)
    return "^(?:" + "|".join(words) + ")"


def lookup(spellings: pl.Series, context: pl.Series | None = None) -> pl.DataFrame:
    """``code`` (0 when not a division) and ``short`` for each spelling; with ``context`` (the
    region written before it, 0 for none), a spelling several divisions share takes the one inside
    that region."""
    t = _tables()
    spellings = spellings.cast(pl.Utf8)
    code = spellings.replace_strict(t.alias, t.code, default=0, return_dtype=pl.Int32)
    short = spellings.replace_strict(t.alias, t.short, default=False, return_dtype=pl.Boolean)
    if context is not None:
        at = spellings.is_in(t.shared).fill_null(False) & (context != 0)
        if at.any():
            idx = at.arg_true()
            key = spellings.gather(idx) + "@" + context.gather(idx).cast(pl.Utf8)
            inside = key.replace_strict(
                t.within_key, t.within_code, default=None, return_dtype=pl.Int32
            )
            code = code.scatter(idx, pl.select(pl.coalesce(inside, code.gather(idx))).to_series())
    return pl.DataFrame({"code": code, "short": short})


@dataclass(frozen=True)
class _Tables:
    """:func:`divisions` as look-up columns for polars' replace (built once, no join each time)."""

    alias: pl.Series
    code: pl.Series
    short: pl.Series
    shared: pl.Series
    within_key: pl.Series
    within_code: pl.Series
    known: pl.Series  # every current or former code, as text
    current: pl.Series  # its current code
    names: tuple[pl.Series, pl.Series]  # current code, official name


@functools.cache
def _tables() -> _Tables:
    d = divisions()
    a, w = d.aliases, d.within
    return _Tables(
        a["alias"],
        a["code"].cast(pl.Int32),
        a["short"],
        w["alias"].unique(),
        w["alias"] + "@" + w["context"].cast(pl.Utf8),
        w["code"].cast(pl.Int32),
        d.codes["code"].cast(pl.Utf8),
        d.codes["current"],
        (pl.Series(list(d.names), dtype=pl.Int64), pl.Series(list(d.names.values()))),
    )


def official(codes: pl.Series) -> pl.Series:
    """The official name of each code ('' for 0 or an unknown code)."""
    old, new = _tables().names
    return codes.cast(pl.Int64).replace_strict(old, new, default="", return_dtype=pl.Utf8)


def uscc_region(uscc: pl.Expr) -> pl.Expr:
    """The current region of a USCC's registering authority (its characters 3-8), 0 when unknown.

    A former code is taken to its current division (360721, 赣县's code before 2016, is 赣县区
    360704); an unknown county code to its prefecture, then to its province, when those are known.
    """
    t = _tables()
    raw = uscc.str.slice(2, 6)

    def current(code: pl.Expr) -> pl.Expr:
        return code.replace_strict(
            t.known, t.current, default=pl.lit(None, dtype=pl.Int64), return_dtype=pl.Int64
        )

    head = raw.str.slice(0, 4)
    return (
        pl.coalesce(
            current(raw),
            current(head + "00"),
            current(head.str.slice(0, 2) + "0000"),
            pl.lit(0),
        )
        .fill_null(0)
        .cast(pl.Int32)
    )
