"""The partitioned matcher's benchmark (``datapool bench --partitioned``): figures, never asserted.

A month is matched partitioned by county (matching/partition.py) in a real Prefect flow run on a
local Dask cluster of N worker processes, in a child process of its own (its peak memory is its
own). Printed: the seconds of each step, the partitions (how many, the largest, the rows in no
county, the cross pairs), the peak memory of the flow's process and of each Dask worker, and
whether the links equal the single-process run's (``datapool_links.parquet``, written by the
matcher benchmark just before).
"""

from __future__ import annotations

import logging
import os
import resource
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import polars as pl
from prefect import flow

from datapool.matching.engine import Resolution

if TYPE_CHECKING:
    from prefect.futures import PrefectFuture
    from prefect.task_runners import TaskRunner


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@flow(name="datapool-bench-partitioned", log_prints=False)
def partitioned_flow(
    root: str, month: str, score_chunks: int
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Ingest the month, resolve it partitioned by county with the snapshot flow's task steps;
    returns the links (source, source_row, enterprise_id) and the partitioning's report."""
    from datapool.flows.snapshot import TaskSteps
    from datapool.matching import partition
    from datapool.privacy import TEST_KEY
    from datapool.settings import Settings
    from datapool.stages import ingest

    t = time.perf_counter()
    records = ingest(Settings(input_root=Path(root), hmac_key=TEST_KEY), month).records
    report: dict[str, Any] = {"read": time.perf_counter() - t, "rows": records.height}
    res: Resolution = partition.resolve(
        records,
        None,
        TEST_KEY,
        steps=TaskSteps(lambda _: None),
        score_chunks=score_chunks,
        report=report,
    )
    report["pairs"] = res.counts["candidate_pairs"]
    return res.links.select("source", "source_row", "enterprise_id"), report


def partitioned_child(root: str, month: str, workers: int, out: Any) -> None:
    """In a child process: a local Dask cluster of ``workers`` processes (one thread each), the
    flow on it, and the peak memory of every process; puts the figures on ``out``."""
    from distributed import Client, LocalCluster
    from prefect_dask.task_runners import DaskTaskRunner

    from datapool.flows.runners import WORKER_PRELOAD, one_prefect_api, quiet_dask

    quiet_dask()
    t = time.perf_counter()
    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.WARNING,
            preload=list(WORKER_PRELOAD),
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        started = time.perf_counter() - t
        runner = DaskTaskRunner(address=cluster.scheduler_address)
        # a DaskTaskRunner runs PrefectDaskFutures, a kind of PrefectFuture (as in runners.py)
        run = partitioned_flow.with_options(
            task_runner=cast("TaskRunner[PrefectFuture[Any]]", runner)
        )
        load = os.getloadavg()[0]
        t, cpu = time.perf_counter(), _cpu_seconds()
        with one_prefect_api():
            links, report = run(root=root, month=month, score_chunks=workers * 2)
        wall, cpu = time.perf_counter() - t, _cpu_seconds() - cpu
        per_worker = client.run(_worker_figures).values()
        workers_mb = sorted(mb for mb, _ in per_worker)
        workers_cpu = sum(s for _, s in per_worker)
        load = max(load, os.getloadavg()[0])
    single = Path(root) / "datapool_links.parquet"
    differ = None
    if single.exists():
        theirs = pl.read_parquet(single).sort("source", "source_row")
        ours = links.sort("source", "source_row")
        differ = (
            ours.height
            if ours.height != theirs.height
            else int((ours["enterprise_id"] != theirs["enterprise_id"]).sum())
        )
    out.put(
        {
            **report,
            "cluster_start": started,
            "wall": wall,
            "flow_peak_mb": _peak_mb(),
            "worker_peak_mb": workers_mb,
            "flow_cpu": cpu,
            "workers_cpu": workers_cpu,
            "load": load,
            "differ": differ,
        }
    )


def _cpu_seconds() -> float:
    """This process's CPU seconds so far (user and system, every thread)."""
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def _worker_figures() -> tuple[float, float]:
    """A Dask worker's peak memory (MB) and CPU seconds since it started (its imports too)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, _cpu_seconds()


def lines(m: dict[str, Any], workers: int) -> list[str]:
    """The figures of one partitioned run, as printed."""
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in m["seconds"].items())
    cpu = sum(m["cpu"].values())
    same = (
        "not compared (no single-process links)"
        if m["differ"] is None
        else "equal to the single-process run's"
        if m["differ"] == 0
        else f"DIFFER from the single-process run's in {m['differ']:,} rows"
    )
    return [
        f"partitioned: {m['rows']:,} rows, {m['partitions']} partitions by county in "
        f"{m['tasks']} tasks on {workers} local Dask workers; largest partition "
        f"{m['largest']:,} rows, {m['fallback_rows']:,} rows in the fallback partition, "
        f"{m['cross_pairs']:,} of {m['pairs']:,} candidate pairs cross partitions, "
        f"{m['oversized_keys']:,} keys over their block limit in the month",
        f"partitioned: matching {sum(m['seconds'].values()):.1f}s ({steps}); flow run "
        f"{m['wall']:.1f}s incl. reading {m['read']:.1f}s and Prefect's start; cluster start "
        f"{m['cluster_start']:.1f}s",
        f"partitioned: CPU seconds: matching {cpu:.1f} in the flow's process (flow run "
        f"{m['flow_cpu']:.1f}), {m['workers_cpu']:.1f} in the Dask workers (their start-up too); "
        f"load average {m['load']:.1f} on {os.cpu_count()} cores",
        f"partitioned: peak memory: flow process {m['flow_peak_mb']:,.0f} MB (after "
        + ", ".join(f"{k} {v:,.0f}" for k, v in m["peak_mb"].items())
        + "), Dask workers "
        + ", ".join(f"{w:,.0f}" for w in m["worker_peak_mb"])
        + " MB"
        + (
            f"; all its processes together {m['tree_peak_mb']:,.0f} MB (proportional set sizes "
            "summed every 0.2 s)"
            if "tree_peak_mb" in m
            else ""
        ),
        f"partitioned: links {same}",
    ]


def run_partitioned(enterprises: int, out: Path, workers: int, say: Any) -> dict[str, Any]:
    """Match the matcher benchmark's month (generated when missing) partitioned by county on a
    local Dask cluster of ``workers`` processes, print the figures and return them."""
    from datapool.bench import MATCHER_SEED, _in_child
    from datapool.samples import generate

    root, month = out / f"samples-{enterprises}", "2025-05"
    if not (root / month).exists():
        say(f"partitioned: generating {enterprises:,} enterprises ...")
        generate(root, enterprises, [month], seed=MATCHER_SEED, members=False)
    m = _in_child(partitioned_child, str(root), month, workers)
    for line in lines(m, workers):
        say(line)
    return m
