"""The snapshot flow with the task runner the options ask for (in-process, local or remote Dask)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from datapool.errors import DatapoolError
from datapool.settings import Settings

if TYPE_CHECKING:
    from prefect.futures import PrefectFuture
    from prefect.task_runners import TaskRunner

    from datapool.summary import RunSummary


PARTITIONINGS = ("county",)  # what --partition takes (matching/partition.py)
# imported by each local Dask worker as it starts (beside the flow's reading), not at its first
# task: the tasks' module and all it imports (polars, Prefect, the matcher) take seconds of CPU
WORKER_PRELOAD = ("datapool.flows.snapshot",)


@dataclass(frozen=True)
class RunOptions:
    """What a pipeline command (run, backfill, serve) was asked: settings and how to run.

    Attributes:
        settings: the command's settings, resolved once (options > DATAPOOL_* > defaults).
        workers: local Dask worker processes, or None.
        dask_address: address of an existing Dask scheduler, or None.
        accept_sources: sources to publish even when missing, empty or much smaller.
        carry_sources: sources whose latest earlier export stands in when that happens.
        quiet: no progress lines.
        verbose: show Prefect's own log lines.
        given: the settings given as command-line options (not from the environment).
        partition: 'county' to match each county as its own task (matching/partition.py), or
            None.
    """

    settings: Settings
    workers: int | None = None
    dask_address: str | None = None
    accept_sources: tuple[str, ...] = ()
    carry_sources: tuple[str, ...] = ()
    quiet: bool = False
    verbose: bool = False
    given: frozenset[str] = frozenset()
    partition: str | None = None

    def run(self, snapshot: str) -> RunSummary:
        """Run the snapshot flow for ``snapshot`` on the task runner these options ask for."""
        flow, chunks = flow_for(self.workers, self.dask_address)
        summary: RunSummary = flow(
            snapshot=snapshot,
            settings=self.settings,
            score_chunks=chunks,
            show_progress=not self.quiet,
            accept_sources=list(self.accept_sources),
            carry_sources=list(self.carry_sources),
            partition_by=self.partition,
        )
        return summary


def quiet_dask() -> None:
    """Dask's INFO lines (scheduler, workers, nannies starting) are not for the terminal."""
    for name in (
        "distributed",
        "distributed.scheduler",
        "distributed.nanny",
        "distributed.worker",
        "distributed.core",
        "distributed.http.proxy",
        "distributed.deploy",
    ):
        logging.getLogger(name).setLevel(logging.WARNING)


def flow_for(workers: int | None, dask_address: str | None, which: Any = None) -> tuple[Any, int]:
    """The snapshot flow (or ``which`` flow; or its body as a plain function when no Prefect API
    is set and no Dask runner is asked for) and its number of scoring chunks, for the options
    given."""
    from prefect.settings import PREFECT_API_URL

    from datapool.flows.snapshot import snapshot_flow

    snapshot_flow = which if which is not None else snapshot_flow

    if not workers and not dask_address:
        # with no Prefect API to record the run in, the flow's body runs as a plain function:
        # no temporary Prefect server is started (it costs 10-20 s before the first stage)
        return (snapshot_flow if PREFECT_API_URL.value() else snapshot_flow.fn), 1
    try:
        from prefect_dask.task_runners import DaskTaskRunner
    except ImportError:
        raise DatapoolError(
            "Dask runs need the 'dask' extra: pip install 'datapool[dask]'"
        ) from None
    quiet_dask()
    runner = (
        DaskTaskRunner(address=dask_address)
        if dask_address
        else DaskTaskRunner(
            cluster_kwargs={
                "n_workers": workers,
                "threads_per_worker": 1,
                "processes": True,
                "dashboard_address": None,
                "silence_logs": logging.WARNING,
                "preload": list(WORKER_PRELOAD),
            }
        )
    )
    # a DaskTaskRunner runs PrefectDaskFutures, a kind of PrefectFuture (the parameter's type is
    # invariant in it)
    task_runner = cast("TaskRunner[PrefectFuture[Any]]", runner)
    on_dask = snapshot_flow.with_options(task_runner=task_runner)
    if dask_address:
        return on_dask, (workers or 2) * 2
    return sharing_api(on_dask), (workers or 2) * 2


def sharing_api(flow: Callable[..., Any]) -> Callable[..., Any]:
    """``flow`` called inside :func:`one_prefect_api` (for a flow on a local Dask cluster)."""

    def run(**parameters: Any) -> Any:
        with one_prefect_api():
            return flow(**parameters)

    return run


@contextmanager
def one_prefect_api() -> Iterator[None]:
    """With no ``PREFECT_API_URL``, the flow and the tasks of its local Dask workers record into
    one temporary Prefect server.

    Without it every worker process started a temporary server of its own before its first task
    (a Dask worker takes its settings from the flow's context, where the URL is empty): 20-90 s
    a worker on a loaded machine, longer than the matching, and the task runs landed in the
    workers' servers, not the flow's. Here the process's temporary server (the one Prefect itself
    would start for the flow, stopped when the process exits) is started first and its URL is put
    into the settings the workers receive. With ``PREFECT_API_URL`` set, nothing changes.
    """
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if PREFECT_API_URL.value():
        yield
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # the process's one temporary server (Prefect's own)
    server.start()
    with temporary_settings({PREFECT_API_URL: server.api_url}):
        yield
