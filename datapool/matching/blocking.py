"""Blocking: candidate pairs from shared keys, near-linear in the number of records.

Keys (namespaced so different kinds never collide): the USCC as written, the
organisation code inside any identifier, the 注册号, the pinyin of the name
core (homophone typos such as 鑫/新 share it) and of a bracketed former name,
the 字号's pinyin within a town, the phone hash, and town + road + number.
A key shared by more than ``max_block`` records says little and is dropped,
so one common address or phone cannot blow up the pair count.
"""

from __future__ import annotations

import polars as pl

MAX_BLOCK = 60
WEAK_BLOCK = 15  # address and 字号@town keys: shared by neighbours, so a big block says little
WEAK = ("a:", "b:")


def block_keys(std: pl.DataFrame) -> pl.DataFrame:
    """Long table ``(rid, key)`` of every blocking key of every standardised record."""
    k = pl.col
    specs = [
        ("u", k("uscc")), ("o", k("org_code")), ("r", k("regno_valid")), ("n", k("core_key")),
        ("n", k("former_key")), ("b", pl.concat_str([k("brand_key"), k("town")], separator="@")),
        ("p", k("phone_hash")), ("a", k("addr_key")),
    ]
    frames = [
        std.filter(expr.is_not_null() & (expr != "")).select("rid", (pl.lit(ns + ":") + expr).alias("key"))
        for ns, expr in specs
    ]
    return pl.concat(frames).unique()


def candidate_pairs(std: pl.DataFrame, max_block: int = MAX_BLOCK) -> pl.DataFrame:
    """Unique pairs ``(rid_a, rid_b)`` with ``rid_a < rid_b`` sharing at least one key."""
    keys = block_keys(std)
    sizes = keys.group_by("key").len()
    weak = pl.col("key").str.slice(0, 2).is_in(list(WEAK))
    keep = sizes.filter((pl.col("len") > 1) & (
        pl.col("key").str.starts_with("u:") | (~weak & (pl.col("len") <= max_block)) | (pl.col("len") <= WEAK_BLOCK)))
    keys = keys.join(keep.select("key"), on="key")
    pairs = keys.join(keys, on="key", suffix="_b").filter(pl.col("rid") < pl.col("rid_b"))
    return pairs.select(pl.col("rid").alias("rid_a"), pl.col("rid_b")).unique().sort("rid_a", "rid_b")
