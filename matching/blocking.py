"""Blocking: candidate pairs from shared keys, near-linear in the number of records.

Keys (each kind hashed with its own seed, so kinds do not share keys): the USCC as written, the
organisation code inside any identifier, the 注册号, the pinyin of the name
core (homophone typos such as 鑫/新 share it) and of a bracketed former name,
the 字号's pinyin within a town, the name core one character apart within a town (namespace
"d": a 字号 that lost or doubled a character), the phone hash, and town + road + number.
A key shared by more than ``max_block`` records says little and is dropped,
so one common address or phone cannot blow up the pair count; every block is bounded, a USCC's
by ``USCC_BLOCK``.

Two rows holding different check-passing organisation codes (``org_strong``: of a valid USCC,
a 9-character code or an old tax id) are never the same enterprise, and scoring would veto
them: such pairs are dropped as blocks are expanded, before their rows are looked up. On the
benchmark that leaves about a third of the pairs that share a key.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl

from datapool.columns import dedupe
from datapool.matching.standardise import EMPTY_KEY, hash_key

MAX_BLOCK = 60
WEAK_BLOCK = 15  # address and 字号@town keys: shared by neighbours, so a big block says little
# namespace -> the column(s) it keys on; the namespace's index seeds the key's hash
_SPECS = (
    ("u", ("uscc",)),
    ("o", ("org_code",)),
    ("r", ("regno_valid",)),
    ("n", ("core_key_h",)),
    ("n", ("former_key_h",)),
    ("b", ("brand_key_h", "town_h")),
    ("p", ("phone_hash",)),
    ("a", ("addr_key_h",)),
    ("d", ("core", "town_h")),  # the 字号 + industry one character apart, within a town
)
_NAMESPACES = sorted({ns for ns, _ in _SPECS})
NAMESPACES = tuple(_NAMESPACES)  # a key's ``ns`` is its namespace's index here
# the standardised columns blocking keys are made of (what a look-up or the review queue, which
# block again after matching, need of the month's rows)
KEY_COLUMNS = tuple(dict.fromkeys(c for _, cols in _SPECS for c in cols))
NEVER_DROPPED = ("u",)  # a USCC is shared by one enterprise's rows, however many...
USCC_BLOCK = 1_000  # ...up to this many: beyond, it is a placeholder (20,000 rows: 200M pairs)
WEAK = ("a", "b", "d")
# namespace "d" keys each name core of ONE_OFF_MIN - 1 characters or more as written and, of
# ONE_OFF_MIN or more, with each of its first ONE_OFF_AT characters left out (the 字号 leads the
# core), with its town: two rows whose 字号 lost or doubled a character (宏安新合果业 / 宏新合果业,
# 豪宇辉置业 / 豪宇宇辉置业) share a key; shorter variants would meet too many neighbours
ONE_OFF_MIN, ONE_OFF_AT = 5, 6


def block_keys(std: pl.DataFrame, namespaces: Iterable[str] = _NAMESPACES) -> pl.DataFrame:
    """Long table ``(rid, ns, key)`` of every blocking key (of the given ``namespaces``) of every
    standardised record.

    ``key`` is a 64-bit hash of the value, seeded by its namespace ``ns``; a collision
    can only add a candidate pair, never a link (pairs are scored on their fields).
    A record may hold one key twice (a name core equal to its former name's).
    """
    frames, namespaces = [], set(namespaces)
    if "d" in namespaces:
        frames.append(_one_off_keys(std))
    for ns, cols in (spec for spec in _SPECS if spec[0] in namespaces and spec[0] != "d"):
        # text columns, or 64-bit hashes of text keys (standardise.hash_key): '' is no key in either
        present = pl.all_horizontal(
            [
                pl.col(c).is_not_null() & (pl.col(c) != (EMPTY_KEY if c.endswith("_h") else ""))
                for c in cols
            ]
        )
        value = pl.col(cols[0]) if len(cols) == 1 else pl.struct(cols)
        frames.append(
            std.select(  # select, then filter: never copy the other columns of std
                "rid",
                pl.lit(_NAMESPACES.index(ns), dtype=pl.UInt8).alias("ns"),
                value.hash(seed=_NAMESPACES.index(ns)).alias("key"),
                present.alias("_present"),
            )
            .filter("_present")
            .drop("_present")
        )
    return pl.concat(frames)


def _one_off_keys(std: pl.DataFrame) -> pl.DataFrame:
    """Namespace "d"'s keys (see :data:`ONE_OFF_MIN`): ``(rid, ns, key)``, several per record.

    The variants are made and hashed once per distinct core; each row's keys mix them with its
    town's hash (integer work).
    """
    ns = _NAMESPACES.index("d")
    town = std.get_column("town_h")
    rows = pl.DataFrame(
        {"rid": std.get_column("rid"), "town": town, "core": std.get_column("core").fill_null("")}
    ).filter(pl.col("town").is_not_null() & (pl.col("town") != EMPTY_KEY))
    rows = rows.filter(pl.col("core").str.len_chars() >= ONE_OFF_MIN - 1)
    cores, at = dedupe(rows.get_column("core"))
    core, n = pl.col("core"), pl.col("core").str.len_chars()
    distinct = pl.DataFrame({"core": cores}).with_row_index("at")
    variants = pl.concat(
        [distinct.select("at", core.hash(seed=ns).alias("h"))]
        + [
            distinct.filter((n >= ONE_OFF_MIN) & (n > i)).select(
                "at", (core.str.slice(0, i) + core.str.slice(i + 1)).hash(seed=ns).alias("h")
            )
            for i in range(ONE_OFF_AT)
        ]
    )
    return (
        rows.select("rid", "town", at.alias("at"))
        .join(variants, on="at")
        .select(
            "rid",
            pl.lit(ns, dtype=pl.UInt8).alias("ns"),
            ((pl.col("h") * 0x9E3779B97F4A7C15) ^ pl.col("town")).alias("key"),
        )
    )


# Namespaces blocked side by side (a thread each; a key lies in one namespace, so each group's
# blocks are whole): about half the work in each.
_GROUPS = (("a", "n", "p", "r"), ("b", "d", "o", "u"))


def candidate_pairs(
    std: pl.DataFrame, max_block: int = MAX_BLOCK, dropped: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Unique pairs ``(rid_a, rid_b)`` with ``rid_a < rid_b`` sharing at least one key, except the
    pairs of two different check-passing organisation codes (see the module docstring).

    ``dropped``: keys ``(ns, key)`` to leave out whatever their block's size here (a partition
    drops the keys too common over the whole month: matching/partition.py).

    The namespaces are blocked in two groups on two threads (polars and numpy release the GIL),
    then the pairs of both are made distinct.
    """
    # each record's code: its hash made odd, 0 for none (two codes whose hashes that makes equal are
    # only paired, then vetoed in scoring)
    org = std.select(
        pl.when(pl.col("org_strong") != "").then(hash_key("org_strong") | 1).otherwise(0)
    ).to_series()
    with ThreadPoolExecutor(max_workers=len(_GROUPS)) as pool:
        parts = [
            p
            for group in pool.map(lambda g: _group_pairs(std, org, g, max_block, dropped), _GROUPS)
            for p in group
        ]
    # distinct over all batches: sorted, then each value kept once (less memory than a hash set)
    packed = (pl.concat(parts, rechunk=True) if parts else pl.Series([], dtype=pl.UInt64)).sort()
    del parts
    packed = packed.filter(packed.diff().fill_null(1) != 0)
    return pl.DataFrame(
        {"rid_a": (packed // _SHIFT).cast(pl.UInt32), "rid_b": (packed % _SHIFT).cast(pl.UInt32)}
    )


def _group_pairs(
    std: pl.DataFrame,
    org: pl.Series,
    namespaces: tuple[str, ...],
    max_block: int,
    dropped: pl.DataFrame | None = None,
) -> list[pl.Series]:
    """The pairs of the blocks of ``namespaces``, packed (see :func:`_block_pairs`), a batch at a
    time (``org``: each record's code, see :func:`candidate_pairs`).

    Each namespace's keys are sorted on their own (a block never spans two), so only the key and
    the row id go through the sort.
    """
    parts = []
    for ns in namespaces:
        keys = block_keys(std, (ns,))
        if dropped is not None and dropped.height:
            keys = keys.join(dropped, on=["ns", "key"], how="anti")
        keys = keys.select("key", "rid").sort("key")
        key = keys.get_column("key").to_numpy()
        starts = (
            np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
            if len(key)
            else np.zeros(0, dtype=np.int64)
        )
        sizes = np.diff(np.r_[starts, len(keys)])
        del key
        rid = keys.get_column("rid")
        del keys  # only the row ids (and block bounds) are needed from here
        # a block's rows side by side: the look-ups in _block_pairs stay in cache
        code = org.gather(rid)
        limit = (
            USCC_BLOCK
            if ns in NEVER_DROPPED
            else WEAK_BLOCK
            if ns in WEAK
            else max(max_block, WEAK_BLOCK)
        )
        keep = (sizes > 1) & (sizes <= limit)
        starts, sizes = starts[keep], sizes[keep]
        # blocks become pairs a batch at a time, so the working arrays stay small at any scale
        bounds = np.r_[
            0,
            np.flatnonzero(np.diff(np.cumsum(sizes * (sizes - 1) // 2) // PAIR_BATCH)) + 1,
            len(sizes),
        ]
        parts += [
            _block_pairs(rid, code, starts[i:j], sizes[i:j])
            for i, j in zip(bounds[:-1], bounds[1:], strict=True)
            if j > i
        ]
    return parts


PAIR_BATCH = 4_000_000


def _block_pairs(
    rid: pl.Series, code: pl.Series, starts: np.ndarray, sizes: np.ndarray
) -> pl.Series:
    """The pairs inside each block, packed as ``rid_a * 2^32 + rid_b`` (a < b), distinct in a batch.

    The row at place r of a block pairs with the rows after it, unless both carry a ``code``
    (not 0) and the codes differ. Built in polars, whose allocator keeps freed memory for the
    next batch (numpy's temporaries went back to the system each time).
    """
    ends = pl.Series(starts + sizes, dtype=pl.UInt32)
    rows = (
        pl.DataFrame({"start": pl.Series(starts, dtype=pl.UInt32), "end": ends})
        .select(pl.int_ranges("start", "end", dtype=pl.UInt32).alias("row"), "end")
        .explode("row")
    )
    pairs = (
        rows.select("row", pl.int_ranges(pl.col("row") + 1, "end", dtype=pl.UInt32).alias("other"))
        .explode("other")
        .drop_nulls("other")
    )
    del rows
    # a block's rows sit side by side in ``code``: these look-ups stay in cache, unlike the rids'
    ca, cb = code.gather(pairs.get_column("row")), code.gather(pairs.get_column("other"))
    pairs = pairs.filter((ca == 0) | (cb == 0) | (ca == cb))
    del ca, cb
    ab = pairs.select(
        a=rid.gather(pairs.get_column("row")).cast(pl.UInt64),
        b=rid.gather(pairs.get_column("other")).cast(pl.UInt64),
    )
    del pairs
    a, b = pl.col("a"), pl.col("b")
    return (
        ab.filter(a != b)
        .select(pl.min_horizontal(a, b) * _SHIFT + pl.max_horizontal(a, b))
        .to_series()
        .unique()
    )


_SHIFT = 1 << 32  # a pair packed into one integer: rid_a * 2^32 + rid_b
