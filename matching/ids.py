"""Stable enterprise ids across snapshots.

A new cluster's id comes from its anchor (its valid USCC, else its smallest
source key), hashed with the run's key (an anchor may be personal), so the
same enterprise gets the same id even with no history. When the previous
snapshot's crosswalk (source, source_key -> enterprise_id) is given, it wins:
each cluster takes the previous id most of its rows carried, so a renamed
enterprise, or one whose USCC only appears this month, keeps its id. No id is given to two clusters.
When the crosswalk says when each id was first published (``first_seen``), a cluster that took in
two previous enterprises whole (a merge) keeps the older id; :func:`aliases` records the other.
"""

from __future__ import annotations

import functools
import hashlib

import numpy as np
import polars as pl

from datapool.matching.clusters import row_clusters

FIRST_SEEN = "first_seen"  # in a previous crosswalk: the month each id was first published
ID_PREFIX, ID_HEX_CHARS = "E", 12  # an id: "E" + 12 upper-case hex digits of its keyed hash
_MAC_KEY_BYTES = 64  # BLAKE2b takes a key of at most 64 bytes


def _mac_key(key: str) -> bytes:
    """The run's key as a BLAKE2b key (at most 64 bytes)."""
    raw = key.encode("utf-8")
    return raw if len(raw) <= _MAC_KEY_BYTES else hashlib.sha256(raw).digest()


def new_id(anchor: str, key: str) -> str:
    """Deterministic id for a cluster anchor: a keyed hash (BLAKE2b MAC under the run's key), since
    an anchor can be personal (a sole proprietor's old tax id may be the owner's ID number)."""
    digest = hashlib.blake2b(anchor.encode("utf-8"), key=_mac_key(key)).hexdigest()
    return ID_PREFIX + digest[:ID_HEX_CHARS].upper()


_HASH_STEP = 10_000  # anchors hashed per call: between calls, other threads can take the GIL


def new_ids(anchors: pl.Series, key: str) -> pl.Series:
    """:func:`new_id` of each anchor (the loop only hashes; the text work is done per column).

    Hashed ``_HASH_STEP`` anchors at a time: one long call into C would hold the GIL throughout,
    and stall the threads that fuse golden records meanwhile.
    """
    mac = functools.partial(hashlib.blake2b, key=_mac_key(key))
    hexdigest = type(hashlib.blake2b()).hexdigest
    raw = anchors.cast(pl.Binary)
    # each step's digests are cut to the id's length at once: the whole month's full digests as
    # Python strings (2M anchors: about 0.4 GB) were held at matching's peak
    parts = [
        pl.Series(list(map(hexdigest, map(mac, raw.slice(i, _HASH_STEP).to_list()))), dtype=pl.Utf8)
        .str.slice(0, ID_HEX_CHARS)
        .str.to_uppercase()
        for i in range(0, len(raw), _HASH_STEP)
    ]
    return ID_PREFIX + (pl.concat(parts) if parts else pl.Series([], dtype=pl.Utf8))


def _plan(std: pl.DataFrame, assign: pl.DataFrame, previous: pl.DataFrame | None) -> pl.DataFrame:
    """One row per cluster, in the order ids are handed out.

    Columns: ``cluster``, ``prev`` (the previous ids its rows carried, most votes first, then by
    id), ``top`` (the votes of the first) and ``anchor``.
    """
    df = std.select(
        "source", "source_key", pl.when(pl.col("uscc_valid")).then(pl.col("uscc")).alias("uscc")
    ).with_columns(row_clusters(std, assign))
    # each cluster's valid USCC, read off any of its rows that holds one: clusters.cluster never
    # puts two different ones in a cluster. Cluster numbers are row ids, so this is array work.
    cl = df.get_column("cluster").to_numpy().astype(np.int64)
    has = np.flatnonzero(df.get_column("uscc").is_not_null().to_numpy())
    first = np.full(int(cl.max()) + 1 if len(cl) else 0, -1, dtype=np.int64)
    first[cl] = -2  # a cluster without a valid USCC
    first[cl[has]] = has
    clusters = np.flatnonzero(first != -1)
    at = pl.Series(first[clusters])
    anchors = pl.DataFrame(
        {
            "cluster": pl.Series(clusters, dtype=pl.UInt32),
            "uscc": df.get_column("uscc").gather(pl.select(pl.when(at >= 0).then(at)).to_series()),
        }
    )
    # the smallest source key is only read for clusters without a valid USCC
    by_key = (
        df.filter(pl.Series(first[cl] < 0))
        .group_by("cluster")
        .agg((pl.col("source") + ":" + pl.col("source_key")).min().alias("key"))
    )
    anchors = anchors.join(by_key, on="cluster", how="left")
    if previous is not None and previous.height:
        prev = previous.select("source", "source_key", "enterprise_id").unique(
            ["source", "source_key"], keep="first"
        )
        df = df.join(prev, on=["source", "source_key"], how="left")
    else:
        df = df.with_columns(pl.lit(None, dtype=pl.Utf8).alias("enterprise_id"))
    votes = (
        df.filter(pl.col("enterprise_id").is_not_null())
        .group_by("cluster", "enterprise_id")
        .len("votes")
    )
    order, desc = ["cluster", "votes", "enterprise_id"], [False, True, False]
    if previous is not None and FIRST_SEEN in previous.columns:
        # a merge: of the previous ids whose rows all came into one cluster, the older survives
        # (first published in an earlier month; the same month: more rows, then the smaller id)
        seen = previous.select("enterprise_id", FIRST_SEEN).unique("enterprise_id")
        votes = votes.with_columns(
            (pl.col("votes") == pl.col("votes").sum().over("enterprise_id")).alias("_whole")
        ).join(seen, on="enterprise_id", how="left")
        order = ["cluster", "_whole", FIRST_SEEN, "votes", "enterprise_id"]
        desc = [False, True, False, True, False]
    votes = (
        votes.sort(order, descending=desc, nulls_last=True)
        .group_by("cluster", maintain_order=True)
        .agg(pl.col("enterprise_id").alias("prev"), pl.col("votes").max().alias("top"))
    )
    return (
        anchors.join(votes, on="cluster", how="left")
        .with_columns(
            pl.col("top").fill_null(0),
            pl.coalesce("uscc", "key", pl.col("cluster").cast(pl.Utf8)).alias("anchor"),
        )
        .sort(["top", "cluster"], descending=[True, False])
        .select("cluster", "prev", "anchor")
    )


def _greedy(plan: pl.DataFrame, key: str) -> tuple[list[str], list[bool]]:
    """Ids for ``plan``'s clusters in its order: the first previous id not yet taken, else a new id
    (and whether it is new)."""
    taken: set[str] = set()
    out, new = [], []
    for candidates, anchor in plan.select("prev", "anchor").iter_rows():
        chosen = next((p for p in candidates or () if p not in taken), None)
        new.append(chosen is None)
        if chosen is None:
            chosen, k = new_id(anchor, key), 1
            while chosen in taken:
                k += 1
                chosen = new_id(f"{anchor}#{k}", key)
        taken.add(chosen)
        out.append(chosen)
    return out, new


def assign_ids(
    std: pl.DataFrame, assign: pl.DataFrame, previous: pl.DataFrame | None, key: str
) -> pl.DataFrame:
    """Return ``cluster -> enterprise_id``.

    Ids are handed out greedily in the plan's order (clusters with the most votes for a
    previous id first). Only clusters that share a previous id or an anchor with another
    cluster can be affected by the order, so only they are handed out one by one; the
    others take their first previous id, or a new one, at once. That gives the greedy
    result unless a new id equals another cluster's id or any previous id; then the whole
    plan is handed out one by one.
    """
    plan = _plan(std, assign, previous)
    candidates = plan.select("cluster", "prev").explode("prev").drop_nulls("prev")
    shared = candidates.filter(pl.col("prev").is_duplicated()).get_column("cluster").unique()
    # contested: a previous id wanted by two clusters, or an anchor two clusters share (the
    # second gets anchor#2)
    contested = (
        plan.get_column("cluster").is_in(shared.implode())
        | plan.get_column("anchor").is_duplicated()
    )
    easy, hard = plan.filter(~contested), plan.filter(contested)
    first = easy.get_column("prev").list.first()
    easy_new = first.is_null()
    fresh = new_ids(easy.get_column("anchor").filter(easy_new), key)
    easy_ids = first.scatter(easy_new.arg_true(), fresh) if len(fresh) else first
    hard_ids, hard_new = _greedy(hard, key)
    out = pl.DataFrame(
        {
            "cluster": pl.concat([easy.get_column("cluster"), hard.get_column("cluster")]),
            "enterprise_id": pl.concat([easy_ids, pl.Series(hard_ids, dtype=pl.Utf8)]),
            "new": pl.concat([easy_new, pl.Series(hard_new, dtype=pl.Boolean)]),
        }
    )
    clash = (
        out.get_column("enterprise_id").is_duplicated().any()
        or out.filter("new")
        .get_column("enterprise_id")
        .is_in(candidates.get_column("prev").implode())
        .any()
    )
    if clash:
        ids, _ = _greedy(plan, key)
        out = pl.DataFrame({"cluster": plan.get_column("cluster"), "enterprise_id": ids})
    return out.select(
        pl.col("cluster").cast(pl.UInt32), pl.col("enterprise_id").cast(pl.Utf8)
    ).sort("cluster")


def aliases(previous: pl.DataFrame | None, links: pl.DataFrame) -> pl.DataFrame:
    """``old_id, new_id, why``: the previous month's ids that no longer name an enterprise, and the
    one that took most of their rows (``merged``); and the new ids of parts split off an
    enterprise that keeps its id (``split``: old_id is the enterprise they left).

    Both crosswalks are ``source, source_key, enterprise_id``.
    """
    empty = pl.DataFrame(schema={"old_id": pl.Utf8, "new_id": pl.Utf8, "why": pl.Utf8})
    if previous is None or previous.height == 0:
        return empty
    prev = previous.select("source", "source_key", pl.col("enterprise_id").alias("old_id")).unique(
        ["source", "source_key"], keep="first"
    )
    moved = links.select("source", "source_key", pl.col("enterprise_id").alias("new_id")).join(
        prev, on=["source", "source_key"]
    )
    now = links.get_column("enterprise_id").unique().implode()
    before = prev.get_column("old_id").unique().implode()
    flows = moved.group_by("old_id", "new_id").len("rows")
    merged = (
        flows.filter(~pl.col("old_id").is_in(now))
        .sort(["old_id", "rows", "new_id"], descending=[False, True, False])
        .unique("old_id", keep="first", maintain_order=True)
        .select("old_id", "new_id", pl.lit("merged").alias("why"))
    )
    split = (
        flows.filter(
            pl.col("old_id").is_in(now)
            & ~pl.col("new_id").is_in(before)
            & (pl.col("old_id") != pl.col("new_id"))
        )
        .sort(["new_id", "rows", "old_id"], descending=[False, True, False])
        .unique("new_id", keep="first", maintain_order=True)
        .select("old_id", "new_id", pl.lit("split").alias("why"))
    )
    return pl.concat([merged, split]).sort("old_id", "new_id")
