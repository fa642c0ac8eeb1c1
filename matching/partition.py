"""Matching a month partitioned by county, each county on its own, then one pass across them.

Registrations cluster by region: an enterprise's rows nearly always name the same county, in the
division code of its USCC (characters 3-8, the registering authority) or at the head of its
address. So a month splits into counties that are blocked and scored apart (a Prefect task each,
on a Dask cluster: see flows/snapshot.py), and only what crosses counties is looked at together.

**Which partition a row is in** (:func:`county_of`), one per row, a function of the row alone:

1. the county of its valid USCC's division code (regions.uscc_region, former codes taken to the
   current county), when that is a county (a code at prefecture or province level is not);
2. else the county its address starts with (江西省赣州市赣县区梅林镇…, 赣县梅林镇…), read against
   China's divisions as names' regions are; a county's short name counts only after a region
   containing it (赣州信丰…), since a town is often spelled like another province's county
   (江口镇 is not 江口县);
3. else the prefecture of its USCC's division (a USCC registered at a prefecture's bureau,
   360700) or of the region its name starts with (赣州…): a partition per prefecture, whose code
   (ending in 00) is never a county's;
4. else :data:`FALLBACK` (0), the partition of the rows with none of these. It is matched as a
   partition of its own, and its pairs with every other partition go through the cross pass
   below, as every pair across partitions does.

Every row is in exactly one partition, so nothing is lost or counted twice.

**What crosses partitions.** A candidate pair is built exactly once: inside its partition when
both rows are in it, else by the cross pass (:func:`cross_pairs`), which takes every blocking key
(identifiers, phone hashes, name keys, address keys: blocking.py) held by rows of two or more
partitions and pairs only rows of different partitions. Block limits are the month's, not a
partition's: a key shared by more rows than its limit over the whole month is dropped everywhere
(:func:`oversized_keys`, a count per key), so a partition never keeps a block the single-process
run drops. Scoring is per pair and clustering, ids and golden records see all accepted pairs at
once (engine.finish), so the links equal a single-process run's exactly (tests/test_partition.py).

Restricting the cross pass to identifiers, phone hashes and exact names, as first planned, would
have missed links: on the benchmark's generated month about 1 in 55 accepted pairs crossed
partitions and shared no such key (the same 字号 + industry read as pinyin, or the same address);
docs/scale.md gives the figures. Taking every key kind costs little, since only blocks spanning
two partitions are expanded.
"""

from __future__ import annotations

import heapq
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import polars as pl

from datapool.columns import dedupe
from datapool.matching import blocking, engine
from datapool.matching.blocking import block_keys, candidate_pairs
from datapool.matching.names import _strip_regions, fold_series
from datapool.matching.regions import significant
from datapool.matching.scoring import Scored, score_all
from datapool.matching.standardise import hash_key
from datapool.matching.weights import Weights

FALLBACK = 0  # the partition of rows with no county (USCC, address) and no prefecture (USCC, name)


def address_county(addresses: pl.Series) -> pl.Series:
    """The county (a six-digit code, :data:`FALLBACK` for none) each address starts with.

    Read once per distinct address with the names' reading of stacked leading regions
    (names._strip_regions); the most specific one must be a county, written by a full name
    (current or former: 赣县区, 赣县) or by a short name after a region containing it (赣州信丰).
    """
    values, at = dedupe(fold_series(addresses))
    read = _strip_regions(pl.DataFrame({"text": values}), "text", "region")
    code = read.get_column("region").to_numpy()
    ok = (significant(code) == 6) & (
        ~read.get_column("region_short").to_numpy()
        | (read.get_column("region_before").to_numpy() != 0)
    )
    return pl.Series("address_county", np.where(ok, code, FALLBACK), dtype=pl.Int32).gather(at)


def county_of(std: pl.DataFrame) -> pl.Series:
    """Each standardised row's partition: its valid USCC's county, else its address's county, else
    the prefecture of its USCC or of its name's region, else :data:`FALLBACK` (see the module
    docstring)."""
    uscc = std.get_column("uscc_region").to_numpy().astype(np.int64)
    name = std.get_column("region_code").to_numpy().astype(np.int64)
    address = address_county(std.get_column("address")).to_numpy()
    region = np.where(significant(uscc) >= 4, uscc, name)  # the USCC's, else the name's
    prefecture = np.where(significant(region) >= 4, region // 100 * 100, FALLBACK)
    county = np.where(significant(uscc) == 6, uscc, address)
    return pl.Series("partition", np.where(county != 0, county, prefecture), dtype=pl.Int32)


def _limit(ns: str) -> int:
    """The most rows a block of namespace ``ns`` may hold (as blocking._group_pairs bounds it)."""
    if ns in blocking.NEVER_DROPPED:
        return blocking.USCC_BLOCK
    if ns in blocking.WEAK:
        return blocking.WEAK_BLOCK
    return max(blocking.MAX_BLOCK, blocking.WEAK_BLOCK)


def oversized_keys(keys: pl.DataFrame) -> pl.DataFrame:
    """The keys ``(ns, key)`` held more times over the whole month than their namespace allows:
    blocking drops them, so every partition must too."""
    limits = pl.DataFrame(
        {
            "ns": pl.Series(range(len(blocking.NAMESPACES)), dtype=pl.UInt8),
            "limit": [_limit(ns) for ns in blocking.NAMESPACES],
        }
    )
    return (
        keys.group_by("ns", "key")
        .len()
        .join(limits, on="ns")
        .filter(pl.col("len") > pl.col("limit"))
        .select("ns", "key")
    )


def _org_codes() -> pl.Expr:
    """Each row's check-passing organisation code as blocking codes it (0 for none)."""
    return pl.when(pl.col("org_strong") != "").then(hash_key("org_strong") | 1).otherwise(0)


def cross_pairs(keys: pl.DataFrame, part: pl.Series, org: pl.Series) -> pl.DataFrame:
    """Candidate pairs ``rid_a < rid_b`` of rows in different partitions that share a key.

    ``keys``: every blocking key ``(rid, ns, key)`` of the month less the oversized ones; ``part``
    and ``org``: each row's partition and organisation code (0 for none), by rid. Only the blocks
    that hold rows of two or more partitions are expanded; two different check-passing
    organisation codes are never paired (as in blocking).
    """
    tagged = keys.with_columns(part.gather(keys.get_column("rid")).alias("part"))
    spanning = tagged.filter(pl.col("part").n_unique().over("ns", "key") > 1)
    spanning = spanning.with_columns(org.gather(spanning.get_column("rid")).alias("org"))
    pairs = spanning.join(spanning, on=["ns", "key"], suffix="_b").filter(
        (pl.col("rid") < pl.col("rid_b"))
        & (pl.col("part") != pl.col("part_b"))
        & ((pl.col("org") == 0) | (pl.col("org_b") == 0) | (pl.col("org") == pl.col("org_b")))
    )
    return (
        pairs.select(
            pl.col("rid").cast(pl.UInt32).alias("rid_a"),
            pl.col("rid_b").cast(pl.UInt32).alias("rid_b"),
        )
        .unique()
        .sort("rid_a", "rid_b")
    )


@dataclass(frozen=True)
class Plan:
    """How a month is split: each row's ``partition`` (by rid), the ``oversized`` keys every
    partition drops, the ``cross`` pairs, and the partitions packed into ``tasks`` (bins of about
    equal rows, each a list of partition codes)."""

    partition: pl.Series
    oversized: pl.DataFrame
    cross: pl.DataFrame
    tasks: list[list[int]]

    def sizes(self) -> pl.DataFrame:
        """Rows per partition, largest first."""
        return self.partition.value_counts(sort=True, name="rows")


def plan(std: pl.DataFrame, tasks: int = 1) -> Plan:
    """Split the standardised month into partitions (see the module docstring), packed into at
    most ``tasks`` bins of about equal rows (:func:`bins`)."""
    part = county_of(std)
    keys = block_keys(std)
    oversized = oversized_keys(keys)
    kept = keys.join(oversized, on=["ns", "key"], how="anti")
    del keys
    org = std.select(_org_codes()).to_series()
    cross = cross_pairs(kept, part, org)
    return Plan(part, oversized, cross, bins(part, tasks))


def bins(part: pl.Series, n: int) -> list[list[int]]:
    """The partitions packed into at most ``n`` bins (tasks) of about equal rows, largest bin
    first: each partition, largest first, goes into the bin with the fewest rows so far.

    A bin's partitions are still blocked one by one (:func:`match_partitions`), so which bin a
    partition is in never changes a link; binning only sets the number of tasks (a few per
    worker: a task per county, thousands nationally, cost more in scheduling than in matching)
    and their balance. A partition larger than a bin's share stays whole, in a bin of its own.
    """
    sizes = part.value_counts(name="rows").sort(["rows", "partition"], descending=[True, False])
    n = max(1, min(n, sizes.height))
    heap = [(0, i) for i in range(n)]
    packed: list[list[int]] = [[] for _ in range(n)]
    for code, rows in sizes.iter_rows():  # one step per partition (a few thousand nationally)
        filled, i = heapq.heappop(heap)
        packed[i].append(int(code))
        heapq.heappush(heap, (filled + int(rows), i))
    order = sorted(heap, key=lambda b: (-b[0], b[1]))
    return [packed[i] for _, i in order if packed[i]]


def local_rows(std: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``std`` that ``pairs`` touch, in rid order (with the month's ``rid``)."""
    rids = pl.concat([pairs.get_column("rid_a"), pairs.get_column("rid_b")]).unique().sort()
    return std.select(pl.all().gather(rids))


def local_pairs(pairs: pl.DataFrame, month_rid: pl.Series) -> pl.DataFrame:
    """``pairs`` renumbered to positions in ``month_rid`` (sorted, as :func:`local_rows` gives)."""
    return pairs.with_columns(
        month_rid.search_sorted(pairs.get_column(c)).cast(pl.UInt32).alias(c)
        for c in ("rid_a", "rid_b")
    )


def renumbered(scored: pl.DataFrame, month_rid: pl.Series) -> pl.DataFrame:
    """Scored pairs of local row numbers back in the month's rids."""
    return scored.with_columns(
        month_rid.gather(scored.get_column(c)).cast(pl.UInt32).alias(c) for c in ("rid_a", "rid_b")
    )


def renumbered_both(scored: Scored, month_rid: pl.Series) -> Scored:
    """:func:`renumbered` for the accepted and the unsure pairs of ``scored``."""
    return Scored(renumbered(scored.accepted, month_rid), renumbered(scored.unsure, month_rid))


def match_partition(
    std: pl.DataFrame, oversized: pl.DataFrame, weights: Weights
) -> tuple[Scored, int]:
    """Block and score one partition's rows (``std`` rows of one partition, with the month's
    ``rid``); returns its scored pairs (accepted, and the unsure ones the review queue is made
    of: scoring.score_all) in the month's rids and its number of candidate pairs.

    The rows are numbered 0..n-1 for blocking and scoring (both gather by position), and the pairs
    are numbered back.
    """
    month_rid = std.get_column("rid")
    local = std.with_columns(pl.int_range(std.height, dtype=pl.UInt32).alias("rid"))
    pairs = candidate_pairs(local, dropped=oversized)
    return renumbered_both(score_all(local, pairs, weights), month_rid), pairs.height


def match_partitions(
    std: pl.DataFrame, partition: pl.Series, codes: Sequence[int], oversized: pl.DataFrame,
    weights: Weights,
) -> tuple[Scored, int]:  # fmt: skip
    """:func:`match_partition` for each of ``codes`` in turn (one task's share), concatenated."""
    out, n = [], 0
    rows = std.with_columns(partition.alias("_partition")).partition_by(
        "_partition", as_dict=True, include_key=False
    )
    for code in codes:
        scored, pairs = match_partition(rows.pop((code,)), oversized, weights)
        out.append(scored)
        n += pairs
    return Scored.concat(out, rechunk=False), n


@dataclass(frozen=True)
class Cross:
    """The cross pass's scoring work: the rows its pairs touch, numbered 0..n-1 (their month's
    rids in ``month_rid``), and its pairs in those numbers, in chunks."""

    rows: pl.DataFrame
    month_rid: pl.Series
    chunks: list[pl.DataFrame]


def cross_work(std: pl.DataFrame, pairs: pl.DataFrame, chunks: int) -> Cross:
    """The cross pairs as scoring work: only the rows they touch are shipped, numbered 0..n-1."""
    touched = local_rows(std.select(MATCH_COLUMNS), pairs)
    month_rid = touched.get_column("rid")
    return Cross(
        touched.with_columns(pl.int_range(touched.height, dtype=pl.UInt32).alias("rid")),
        month_rid,
        engine.split_pairs(local_pairs(pairs, month_rid), chunks),
    )


class PartitionSteps(engine.MatchSteps, Protocol):
    """The engine's steps and one more: matching the partitions, a task per bin of them, beside
    the cross pairs' scoring."""

    def partitions(
        self, std: pl.DataFrame, plan: Plan, weights: Weights, cross: Cross
    ) -> tuple[list[tuple[Scored, int]], list[Scored]]:
        """The scored pairs (accepted and unsure) and candidate-pair count of each of
        ``plan.tasks``, in order, and the scored pairs of each of ``cross.chunks`` (in
        ``cross.rows``' numbers)."""
        ...


class InlinePartitionSteps(engine.InlineSteps):
    """The steps in this process, one partition task after the other, then the cross pairs."""

    def partitions(
        self, std: pl.DataFrame, plan: Plan, weights: Weights, cross: Cross
    ) -> tuple[list[tuple[Scored, int]], list[Scored]]:
        """Each task's partitions in turn, then the cross pairs' chunks."""
        matched = [
            match_partitions(*task_input(std, plan, codes), plan.oversized, weights)
            for codes in plan.tasks
        ]
        return matched, self.score(cross.rows, cross.chunks, weights)


INLINE = InlinePartitionSteps()

PARTITION = "_partition"  # the column of each row's partition in a month written for the tasks
# the standardised columns blocking and scoring read: a task is given only these (about half the
# bytes of a standardised row: raw names, addresses, extra and the like stay in the flow)
MATCH_COLUMNS = (
    "rid", "source", "headcount", "founded_on", "phone_hash", "name_clean", "branch",
    "region_code", "branch_place_h", "former_key_h", "core", "core_key_h", "brand_key_h",
    "form_family", "addr_norm", "town_h", "addr_key_h", "road_key_h", "org_code", "uscc",
    "uscc_valid", "org_strong", "regno_valid", "uscc_region",
)  # fmt: skip


def task_input(std: pl.DataFrame, plan: Plan, codes: Sequence[int]) -> tuple[
    pl.DataFrame, pl.Series, list[int]
]:  # fmt: skip
    """The rows a task of ``codes`` needs (only its partitions' rows are shipped to it), their
    partitions and the codes."""
    mine = plan.partition.is_in(list(codes))
    return std.select(MATCH_COLUMNS).filter(mine), plan.partition.filter(mine), list(codes)


def write_month(std: pl.DataFrame, plan: Plan, path: Path) -> None:
    """The standardised month's :data:`MATCH_COLUMNS` and each row's partition, as uncompressed
    Arrow IPC, for tasks
    that read their own rows (:func:`read_slice`) instead of being sent them."""
    std.select(*MATCH_COLUMNS, plan.partition.alias(PARTITION)).write_ipc(
        path, compression="uncompressed"
    )


def read_slice(path: Path, codes: Sequence[int]) -> tuple[pl.DataFrame, pl.Series]:
    """The rows of partitions ``codes`` in a month :func:`write_month` wrote, and their
    partitions: only those rows are read."""
    rows = pl.scan_ipc(path).filter(pl.col(PARTITION).is_in(list(codes))).collect()
    return rows.drop(PARTITION), rows.get_column(PARTITION)


def resolve(
    records: pl.DataFrame,
    previous_links: pl.DataFrame | None,
    id_key: str,
    *,
    steps: PartitionSteps = INLINE,
    score_chunks: int = 1,
    tasks: int | None = None,
    say: Callable[[str], None] | None = None,
    report: dict[str, Any] | None = None,
    decisions: pl.DataFrame | None = None,
) -> engine.Resolution:
    """:func:`datapool.matching.engine.resolve`, partitioned by county.

    standardise -> learn weights (the month's, as in a single run) -> plan (partitions, the
    month's oversized keys, the cross pairs) -> each task of partitions blocked and scored apart,
    and beside them the cross pairs scored (in ``score_chunks`` chunks) -> finish on every
    accepted pair, sorted as a single run leaves them. The links equal :func:`engine.resolve`'s,
    whatever the binning: ``tasks`` is the number of bins the partitions are packed into (default
    ``score_chunks``, two per worker on Dask). ``report``, when given, receives each step's
    seconds (``seconds``), this process's CPU seconds in it (``cpu``), its peak memory at the
    step's end (``peak_mb``) and the partitions' figures (for the benchmark).
    ``decisions``: people's review decisions, enforced as in :func:`engine.resolve`.
    """
    clock, seconds = (time.perf_counter(), time.process_time()), {}
    cpu: dict[str, float] = {}
    peak_mb: dict[str, float] = {}

    def lap(step: str) -> None:
        nonlocal clock
        now = (time.perf_counter(), time.process_time())
        seconds[step], cpu[step], clock = now[0] - clock[0], now[1] - clock[1], now
        peak_mb[step] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    std = steps.standardise(records)
    must_link = None
    if decisions is not None and decisions.height:
        from datapool.matching.review import constrain

        std, must_link = constrain(std, decisions)
    lap("standardise")
    weights = steps.learn(std)
    lap("learn weights")
    split = plan(std, tasks or score_chunks)
    lap("plan partitions, cross pairs")
    sizes = split.sizes()
    figures = {
        "partitions": sizes.height,
        "tasks": len(split.tasks),
        "largest": int(sizes["rows"][0]) if sizes.height else 0,
        "fallback_rows": int((split.partition == FALLBACK).sum()),
        "cross_pairs": split.cross.height,
        "oversized_keys": split.oversized.height,
    }
    if say is not None:
        say(
            f"{figures['partitions']} partitions by county in {figures['tasks']} bins, the "
            f"largest {figures['largest']} rows, {figures['fallback_rows']} rows in the fallback "
            "partition; "
            f"{figures['cross_pairs']} candidate pairs cross partitions"
        )
    # the cross pairs are scored beside the partitions (a worker done with its bins takes them)
    work = cross_work(std, split.cross, score_chunks)
    matched, cross = steps.partitions(std, split, weights, work)
    cross = [renumbered_both(scored, work.month_rid) for scored in cross]
    del work
    lap("match partitions and cross pairs")
    n_pairs = sum(n for _, n in matched) + split.cross.height
    # in the month's candidate-pair order, as a single run leaves them
    both = Scored.concat([*(s for s, _ in matched), *cross], rechunk=False)
    del matched, cross
    scored = both.accepted.sort("rid_a", "rid_b")
    unsure = both.unsure.sort("rid_a", "rid_b")
    del both
    if must_link is not None and must_link.height:
        scored = pl.concat([must_link, scored], how="vertical_relaxed")
    res = steps.finish(std, scored, previous_links, n_pairs, id_key, weights)
    lap("cluster, ids, golden")
    if report is not None:
        report.update(figures, seconds=seconds, cpu=cpu, peak_mb=peak_mb)
    return replace(res, unsure=unsure)
