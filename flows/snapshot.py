"""The monthly snapshot flow: ingest -> match -> validate -> coverage -> visits -> publish.

The flow only wires. Tasks are small; only I/O tasks retry (with back-off). Every task calls
one function of :mod:`datapool.stages` or one step of the matching engine, and the flow
holds no step of its own: ingesting is :func:`datapool.stages.ingest` reading each export as a
task, matching is :func:`datapool.matching.engine.resolve` walking its steps as tasks (scoring
one task per chunk of candidate pairs, so a Dask task runner spreads it over its workers;
clustering sees every accepted pair, so the result does not depend on the number of workers),
and the run's summary is :mod:`datapool.summary`. Runs need no Prefect server (an ephemeral API
is used when ``PREFECT_API_URL`` is unset).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import io
import logging
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import polars as pl
from prefect import Task, flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun

from datapool import stages
from datapool.connectors.grids import GridShape
from datapool.connectors.reader import ReadResult
from datapool.connectors.warehouse import RunRecord
from datapool.coverage import Coverage
from datapool.errors import WITHHELD, DatapoolError, InputError, withheld, withheld_traceback
from datapool.flows.runners import PARTITIONINGS
from datapool.guards import Baseline
from datapool.inert import markdown_text
from datapool.matching import engine, partition
from datapool.matching.engine import Resolution
from datapool.matching.scoring import Scored
from datapool.matching.weights import Weights
from datapool.memory import release_large_blocks
from datapool.review import markdown as review_markdown
from datapool.settings import Settings, check_snapshot
from datapool.stageclock import count_rows, mark, stage
from datapool.stages import VisitPlan
from datapool.summary import RunSummary, summarise
from datapool.validation_process import Suite
from datapool.visits.records import VisitFiles, VisitLoop

# hex characters of a random uuid in a run id (after the host name): 48 bits, unique enough
# among the runs of one warehouse
RUN_ID_HEX = 12
# pipeline_run.message is cut to this many characters
MESSAGE_CHARS = 2000


def _no_retry_on_user_error(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry I/O faults, never an error the user must fix (a missing column stays missing)."""
    try:
        state.result()
    except DatapoolError:
        return False
    except Exception:  # noqa: BLE001
        return True
    return False


IO: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": [1, 4],
    "cache_policy": NO_CACHE,
    "retry_condition_fn": _no_retry_on_user_error,
}
CPU: dict[str, Any] = {"cache_policy": NO_CACHE}


def _error_classes(cls: type[BaseException]) -> list[type[BaseException]]:
    return [cls, *(c for sub in cls.__subclasses__() for c in _error_classes(sub))]


class _UserErrorsWithoutTraceback(logging.Filter):
    """Prefect logs a failed task with its traceback. For an error a user caused the CLI prints the
    one line that matters, and the run's state keeps the message: drop Prefect's copies."""

    names = tuple(cls.__name__ for cls in _error_classes(DatapoolError))

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a log record that carries or names an error the user caused."""
        if record.exc_info and isinstance(record.exc_info[1], DatapoolError):
            return False
        if any(
            isinstance(a, DatapoolError)
            for a in (record.args if isinstance(record.args, tuple) else ())
        ):
            return False
        return not (
            record.levelno >= logging.ERROR and any(n in str(record.msg) for n in self.names)
        )


class _NoDataInErrors(logging.Filter):
    """Prefect logs a failed task with the error's repr and traceback, and an unexpected error's
    text may quote data values (a name, a phone): both are replaced by the error's kind, and the
    traceback keeps its frames only."""

    seen: collections.deque[str] = collections.deque(maxlen=32)  # texts of recent errors

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        exc = record.exc_info[1] if record.exc_info else None
        found = [e for e in (exc, *args) if isinstance(e, BaseException)]
        for e in (e for e in found if not isinstance(e, DatapoolError)):
            record.msg = str(record.msg).replace(repr(e), withheld(e))
            record.args = tuple(withheld(a) if a is e else a for a in args) or record.args
            if str(e) and str(e) not in self.seen:
                self.seen.append(str(e))
        if exc is not None and not isinstance(exc, DatapoolError):
            record.exc_info, record.exc_text = None, withheld_traceback(exc)
        # later records quote the error's text inside a state ("Finished in state Failed(...)")
        if any(text in str(record.msg) for text in self.seen):
            for text in self.seen:
                record.msg = str(record.msg).replace(text, WITHHELD)
        return True


def _quiet_user_errors() -> None:
    """Put the filter on the handlers of Prefect's loggers (idempotent)."""
    for name in ("", "prefect", "prefect.task_runs", "prefect.flow_runs"):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, _UserErrorsWithoutTraceback) for f in handler.filters):
                handler.addFilter(_UserErrorsWithoutTraceback())
            if not any(isinstance(f, _NoDataInErrors) for f in handler.filters):
                handler.addFilter(_NoDataInErrors())


_quiet_user_errors()


def progress(message: str, enabled: bool) -> None:
    """One line on stderr per stage, for people watching a long run."""
    if enabled:
        print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


@task(name="read-export", **IO)
def read_export_task(settings: Settings, snapshot: str, source: str) -> ReadResult | None:
    """One agency's export of the month."""
    return stages.read_source(settings, snapshot, source)


def _read_as_tasks(
    settings: Settings, snapshot: str, sources: tuple[str, ...]
) -> dict[str, ReadResult | None]:
    """:func:`datapool.stages.ingest`'s reads, one task per export, all submitted at once."""
    futures = {s: _submit(read_export_task, settings, snapshot, s) for s in sources}
    return {s: f.result() for s, f in futures.items()}


@task(name="read-members", **IO)
def read_members_task(settings: Settings) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The member database's organisations and joint-union members."""
    return stages.read_members(settings)


@task(name="read-grids", **IO)
def read_grids_task(settings: Settings) -> list[GridShape]:
    """The grids."""
    return stages.read_grids(settings)


@task(name="read-previous", **IO)
def previous_task(
    settings: Settings, snapshot: str
) -> tuple[str | None, pl.DataFrame | None, pl.DataFrame | None]:
    """The previous published month, its crosswalk and coverage."""
    return stages.previous_state(settings, snapshot)


@task(name="read-baseline", **IO)
def baseline_task(settings: Settings, snapshot: str) -> tuple[Baseline | None, str | None]:
    """What the month's sources are compared with, and the month it is built on."""
    return stages.month_context(settings, snapshot)


@task(name="read-visit-records", **IO)
def read_visits_task(settings: Settings, snapshot: str) -> VisitFiles:
    """The month's 三查三记 records handed back (none when the folder is absent)."""
    return stages.read_visits(settings, snapshot)


@task(name="read-visit-history", **IO)
def visit_history_task(settings: Settings, snapshot: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The visit records of the months before, and the merges published for those months."""
    return stages.visit_history(settings, snapshot)


@task(name="link-visit-records", **CPU)
def link_visits_task(
    snapshot: str,
    files: VisitFiles,
    earlier: tuple[pl.DataFrame, pl.DataFrame],
    res: Resolution,
    previous_links: pl.DataFrame | None,
) -> tuple[Resolution, VisitLoop]:
    """The month's visit records linked to the pool (ids merged since followed), and their
    effects on enterprises."""
    return stages.link_visits(snapshot, files, earlier, res, previous_links)


@task(name="read-decisions", **IO)
def decisions_task(settings: Settings) -> pl.DataFrame:
    """People's current review decisions (datapool/review.py)."""
    return stages.review_decisions(settings)


@task(name="review-queue", **CPU)
def review_task(
    settings: Settings, res: Resolution, cov: Coverage, decisions: pl.DataFrame
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The month's review queue and how people's decisions held (the flow runs it beside visit
    planning: it is polars' work, which leaves Python's lock to the planner)."""
    with stage("review queue (beside visit planning)"):
        return stages.review_queue(settings, res, cov, decisions)


@task(name="standardise", **CPU)
def standardise_task(records: pl.DataFrame) -> pl.DataFrame:
    """The engine's standardise step."""
    return engine.INLINE.standardise(records)


@task(name="block", **CPU)
def block_task(std: pl.DataFrame) -> pl.DataFrame:
    """The engine's block step."""
    return engine.INLINE.block(std)


@task(name="learn-weights", **CPU)
def learn_task(std: pl.DataFrame) -> Weights:
    """The engine's learn step: the month's match weights."""
    return engine.INLINE.learn(std)


@task(name="score-chunk", **CPU)
def score_task(std: pl.DataFrame, pairs: pl.DataFrame, weights: Weights) -> Scored:
    """The engine's score step on one chunk of candidate pairs: its accepted pairs and the unsure
    ones the review queue is made of."""
    return engine.INLINE.score(std, [pairs], weights)[0]


@task(name="match-partitions", **CPU)
def partition_task(
    std: pl.DataFrame | Path,
    parts: pl.Series | None,
    codes: list[int],
    oversized: pl.DataFrame,
    weights: Weights,
) -> tuple[Scored, int]:
    """Blocking and scoring of one task's partitions (counties), each on its own (their accepted
    and unsure pairs); ``std`` is their rows (``parts`` their partitions), or a month's file to
    read them from."""
    if isinstance(std, Path):
        std, parts = partition.read_slice(std, codes)
    assert parts is not None
    return partition.match_partitions(std, parts, codes, oversized, weights)


@task(name="cluster", **CPU)
def finish_task(
    std: pl.DataFrame,
    scored: pl.DataFrame,
    previous: pl.DataFrame | None,
    n_pairs: int,
    id_key: str,
    weights: Weights,
) -> Resolution:
    """The engine's finish step: clusters, ids, explanations, golden records."""
    return engine.INLINE.finish(std, scored, previous, n_pairs, id_key, weights)


@dataclass(frozen=True)
class TaskSteps:
    """The matching engine's steps (:class:`datapool.matching.engine.MatchSteps`) as tasks.

    ``say`` reports the learned weights to whoever watches the run (they go to the run's log
    too).
    """

    say: Callable[[str], None]

    def standardise(self, records: pl.DataFrame) -> pl.DataFrame:
        """As a task."""
        result: pl.DataFrame = _call(standardise_task, records)
        return result

    def learn(self, std: pl.DataFrame) -> Weights:
        """As a task; the weights are logged and said."""
        weights: Weights = _call(learn_task, std)
        _logger().info(
            "match weights learned from the pairs identifiers label:\n%s", weights.summary()
        )
        self.say("match weights learned from the pairs identifiers label:\n" + weights.summary())
        return weights

    def block(self, std: pl.DataFrame) -> pl.DataFrame:
        """As a task."""
        result: pl.DataFrame = _call(block_task, std)
        return result

    def score(
        self, std: pl.DataFrame, chunks: list[pl.DataFrame], weights: Weights
    ) -> list[Scored]:
        """One task per chunk, all submitted at once; on Dask the rows are shipped once, not in
        every chunk's task."""
        with _shipped(std) as (rows,):
            futures = [_submit(score_task, rows, chunk, weights) for chunk in chunks]
            return [f.result() for f in futures]

    def partitions(
        self, std: pl.DataFrame, plan: partition.Plan, weights: Weights, cross: partition.Cross
    ) -> tuple[list[tuple[Scored, int]], list[Scored]]:
        """One task per bin of partitions (matching/partition.py) and one per chunk of the cross
        pairs, all submitted at once (a worker done with its bins scores cross pairs).

        Each task gets only its own rows, and never inside the Dask graph: on a local cluster
        the month is written once as Arrow IPC to a temporary folder and each task reads its
        bin's rows from it (the flow's process makes no copy of them); on a remote one each
        bin's rows are scattered to a worker once (:func:`_shipped`).
        """
        client = _dask_client()
        with contextlib.ExitStack() as stack:
            if client is not None and _local(client):
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="datapool-")))
                month = folder / "month.arrow"
                partition.write_month(std, plan, month)
                bins: list[Any] = [(month, None) for _ in plan.tasks]
            else:
                inputs = [partition.task_input(std, plan, codes)[:2] for codes in plan.tasks]
                shipped = stack.enter_context(_shipped(*(rows for rows, _ in inputs)))
                bins = [(rows, parts) for rows, (_, parts) in zip(shipped, inputs, strict=True)]
                del inputs
            (rows,) = stack.enter_context(_shipped(cross.rows))
            matching = [
                _submit(partition_task, given, parts, codes, plan.oversized, weights)
                for (given, parts), codes in zip(bins, plan.tasks, strict=True)
            ]
            scoring = [_submit(score_task, rows, chunk, weights) for chunk in cross.chunks]
            return [f.result() for f in matching], [f.result() for f in scoring]

    def finish(
        self,
        std: pl.DataFrame,
        scored: pl.DataFrame,
        previous_links: pl.DataFrame | None,
        n_pairs: int,
        id_key: str,
        weights: Weights,
    ) -> Resolution:
        """As a task."""
        res: Resolution = _call(finish_task, std, scored, previous_links, n_pairs, id_key, weights)
        return res


@task(name="validate", **CPU)
def check_task(
    suites: list[Suite], docs_dir: Path, then: Callable[[], object] | None = None
) -> pl.DataFrame:
    """Every GX suite of the month (its frames made, stages.validation_suites); raises
    ValidationFailed on a critical failure (the flow runs it beside the member diff and visit
    planning, which need nothing of it). ``then``: see :func:`datapool.stages.check`."""
    return stages.check(suites, docs_dir, then)  # in the checker process the flow started


@task(name="coverage", **CPU)
def cover_task(
    settings: Settings,
    snapshot: str,
    res: Resolution,
    orgs: pl.DataFrame,
    members: pl.DataFrame,
    prev_cov: pl.DataFrame | None,
    visits: VisitLoop | None = None,
) -> tuple[Coverage, pl.DataFrame]:
    """The member-database diff and the month's changes, with the visits' effects."""
    return stages.cover(settings, snapshot, res, orgs, members, prev_cov, visits)


@task(name="visits", **CPU)
def visits_task(
    res: Resolution,
    cov: Coverage,
    grids: list[GridShape],
    snapshot: str,
    folder: Path,
    settings: Settings | None = None,
    previous_coverage: pl.DataFrame | None = None,
    follow_ups: pl.DataFrame | None = None,
    visit_history: pl.DataFrame | None = None,
    write_files: bool = True,
) -> VisitPlan:
    """Placement, routes, the weekly plan; heat map, visit sheets and phone pages written into
    ``folder`` (the staging one) unless ``write_files`` is False (then :func:`visit_files_task`
    writes them)."""
    return stages.plan_visits(
        res,
        cov,
        grids,
        snapshot,
        folder,
        settings,
        previous_coverage,
        follow_ups,
        visit_history,
        write_files,
    )


@task(name="visit-files", **CPU)
def visit_files_task(
    plan: VisitPlan, grids: list[GridShape], snapshot: str, folder: Path
) -> list[Path]:
    """Heat map, visit sheets and phone pages of ``plan``, written into ``folder`` (the staging
    one)."""
    return stages.write_visit_files(plan, grids, snapshot, folder)


@task(name="publish", **IO)
def publish_task(
    settings: Settings,
    snapshot: str,
    tables: dict[str, pl.DataFrame],
    run: RunRecord,
    previous: str | None,
    before_commit: Callable[[], object] | None = None,
) -> None:
    """Every table of the month replaced in one transaction (refused if ``previous`` is stale);
    ``before_commit`` runs inside it, just before COMMIT."""
    stages.publish(settings, snapshot, tables, run, previous, before_commit)


_POOL: ThreadPoolExecutor | None = None


def _plain() -> bool:
    """True when the flow's body runs as a plain function (``snapshot_flow.fn``), outside Prefect:
    ``datapool run`` without PREFECT_API_URL runs so, and starts no Prefect server."""
    from prefect.context import FlowRunContext

    return FlowRunContext.get() is None


def _local(client: Any) -> bool:
    """True when every worker of ``client``'s cluster runs on this machine (a local cluster)."""
    hosts = {urlsplit(address).hostname for address in client.scheduler_info()["workers"]}
    return bool(hosts) and hosts <= {"127.0.0.1", "localhost", "::1"}


def _dask_runner() -> Any:
    """The flow run's task runner when it is prefect_dask's (the tasks run on Dask workers, in
    other processes), else None."""
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    runner = ctx.task_runner if ctx is not None else None
    if runner is None or type(runner).__module__.split(".")[0] != "prefect_dask":
        return None
    return runner  # prefect_dask's DaskTaskRunner (an optional dependency)


def _on_dask() -> bool:
    """True when the flow run's tasks run on Dask workers."""
    return _dask_runner() is not None


def _dask_client() -> Any:
    """The Dask client of the flow run's task runner, or None when the tasks do not run on Dask."""
    runner = _dask_runner()
    return None if runner is None else runner.client


class ArrowFrame:
    """A frame that pickles as uncompressed Arrow IPC and unpickles as the frame itself.

    A polars frame's own pickle took 1.9 s and 105 MB for the 140,762 standardised rows of the
    50,000-enterprise month; Arrow IPC takes 0.4 s and 61 MB.
    """

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame

    def __reduce__(self) -> tuple[Callable[[bytes], pl.DataFrame], tuple[bytes]]:
        buffer = io.BytesIO()
        self.frame.write_ipc(buffer, compression="uncompressed")
        return _read_arrow, (buffer.getvalue(),)


def _read_arrow(data: bytes) -> pl.DataFrame:
    """A frame from :class:`ArrowFrame`'s bytes."""
    return pl.read_ipc(io.BytesIO(data))


@contextlib.contextmanager
def _shipped(*frames: pl.DataFrame) -> Iterator[list[Any]]:
    """The frames as task arguments: on Dask, scattered to the workers once (a task given one is
    run where it lies; each is released when done), not pickled into the task graph, which held
    the rows again for every task (hundreds of MiB, and seconds of the scheduler's time, at
    500k rows); else the frames themselves."""
    client = _dask_client()
    if client is None:
        yield list(frames)
        return
    # each frame to the worker with the fewest rows so far (frames come largest first)
    workers = {address: 0 for address in client.scheduler_info()["workers"]}
    futures = []
    for frame in frames:
        if not workers:  # none connected yet: the scheduler places it
            futures.append(client.scatter(ArrowFrame(frame), hash=False))
            continue
        address = min(workers, key=lambda w: workers[w])
        workers[address] += frame.height
        futures.append(client.scatter(ArrowFrame(frame), workers=[address], hash=False))
    try:
        yield futures
    finally:
        client.cancel(futures)


def _submit(task_: Any, *args: Any) -> Any:
    """``task_.submit(*args)`` in a flow run; a thread of this process otherwise (I/O overlaps)."""
    global _POOL  # noqa: PLW0603
    if not _plain():
        return task_.submit(*args)
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="datapool")
    return _POOL.submit(_retrying, task_, *args)


def _call(task_: Any, *args: Any) -> Any:
    """``task_(*args)`` in a flow run; the plain function otherwise."""
    return task_(*args) if not _plain() else _retrying(task_, *args)


def _retrying(task_: Any, *args: Any) -> Any:
    """The task's function with the task's retries (I/O faults only, as in a flow run)."""
    delays = task_.retry_delay_seconds or []
    delays = delays if isinstance(delays, list) else [delays]
    for attempt in range((task_.retries or 0) + 1):
        try:
            return task_.fn(*args)
        except DatapoolError:
            raise
        except Exception:
            if attempt >= (task_.retries or 0):
                raise
            time.sleep(delays[min(attempt, len(delays) - 1)] if delays else 0)
    raise AssertionError("unreachable")


def _user_error_of(future: Any) -> DatapoolError | None:
    """The error the user must fix that ``future``'s task raised, once it is done (None if it
    raised none, or another kind)."""
    if future is None:
        return None
    try:
        future.result()
    except DatapoolError as exc:
        return exc
    except Exception:  # noqa: BLE001 - the month's own error is reported instead
        return None
    return None


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The flow run's logger in a flow run; datapool's own otherwise."""
    return get_run_logger() if not _plain() else logging.getLogger("datapool")


@flow(name="datapool-snapshot", flow_run_name="snapshot-{snapshot}", log_prints=False)
def snapshot_flow(
    snapshot: str,
    settings: Settings,
    score_chunks: int = 1,
    show_progress: bool = False,
    accept_sources: list[str] | None = None,
    carry_sources: list[str] | None = None,
    partition_by: str | None = None,
) -> RunSummary:
    """Build, check and publish one monthly snapshot; returns the run's summary.

    ``settings`` is resolved once by the caller (the CLI, or the scheduled entry point); its
    secrets are secret types, so Prefect records them only masked. ``accept_sources`` and
    ``carry_sources`` say what to do with a missing, empty or shrunken export (see
    :mod:`datapool.guards`). ``partition_by`` ('county'): match each county as its own task, then
    the pairs across counties (:mod:`datapool.matching.partition`); the links are the same.
    """
    _quiet_user_errors()
    release_large_blocks()  # freed arrays go back to the system (datapool/memory.py)
    try:  # a deployment's parameter: it names folders, so nothing but YYYY-MM
        check_snapshot(snapshot)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    cfg = settings.with_key()  # no key, no run (a deployment may keep it in a Secret block)
    run: RunRecord = {
        "run_id": f"{socket.gethostname()}:{uuid.uuid4().hex[:RUN_ID_HEX]}",
        "started_at": datetime.now(),
        "status": "running",
    }

    def say(message: str) -> None:
        progress(f"{snapshot}: {message}", show_progress)

    logger = _logger()
    staging: Path | None = None
    files_f: Any = None
    validation_f: Any = None
    try:
        t0 = time.perf_counter()
        say("reading agency exports, member database, grids")
        mark("reading")
        stages.snapshot_dir(cfg, snapshot)
        members_f = _submit(read_members_task, cfg)
        grids_f = _submit(read_grids_task, cfg)
        prev_f = _submit(previous_task, cfg, snapshot)
        base_f = _submit(baseline_task, cfg, snapshot)
        visits_f = _submit(read_visits_task, cfg, snapshot)
        history_f = _submit(visit_history_task, cfg, snapshot)
        decisions_f = _submit(decisions_task, cfg)
        ing = stages.ingest(cfg, snapshot, read_all=_read_as_tasks)
        baseline, built_on = base_f.result()
        ing = stages.check_sources(cfg, snapshot, ing, baseline, accept_sources, carry_sources)
        for s in ing.missing:
            logger.warning("%s sent no export for %s", s, snapshot)
        orgs, members = members_f.result()
        grids = grids_f.result()
        prev_month, prev_links, prev_cov = prev_f.result()
        decisions = decisions_f.result()
        count_rows(ing.rows_in)
        mark("matching", ing.records.height)
        say(f"{ing.records.height} rows accepted, {ing.quarantine.height} quarantined; matching")
        res = resolve_with(
            partition_by,
            ing.records,
            prev_links,
            cfg.hmac_key.get_secret_value(),
            TaskSteps(say),
            score_chunks,
            say,
            decisions=stages.enforced(decisions),
        )
        n_pairs = res.counts["candidate_pairs"]
        say(f"{res.enterprises.height} enterprises from {n_pairs} candidate pairs; validating")
        staging = stages.staging_folder(cfg.out_dir, snapshot)  # files move in after publishing
        if not _on_dask():  # on Dask the validation task runs on a worker, in place: a checker
            # started here would never be asked, and would sit idle as long as this process
            stages.start_validation(staging / "data_docs")  # its process imports GX meanwhile
        # final now: written ahead, beside the stages below (for publishing, their stand-ins)
        early = stages.early_tables(ing, res)
        heights = {name: df.height for name, df in early.items()}  # a stand-in has no rows
        early = stages.write_rows_ahead(cfg, snapshot, run["run_id"], early)
        # validation needs only the pool: it runs beside the member diff and visit planning, and
        # the month waits for it before its tables are made; its frames are made now, so that
        # the records' columns no later stage reads are let go
        suites = stages.validation_suites(ing, res, date.today())
        # the visit files' writer is started when validation is done (its imports overlap the
        # end of visit planning): idle beside validation and the rows written ahead, it made the
        # run's processes together 120 MB larger at their peak
        validation_f = _submit(
            check_task,
            suites,
            staging / "data_docs",
            functools.partial(stages.start_visit_files, staging),
        )
        del suites
        ing, res = stages.let_go(ing, res)
        say("linking visit records")
        mark("visit records", res.enterprises.height)
        res, loop = _call(
            link_visits_task, snapshot, visits_f.result(), history_f.result(), res, prev_links
        )
        say("diffing against the member database")
        mark("member diff", res.enterprises.height + orgs.height + members.height)
        cov, changes = _call(cover_task, cfg, snapshot, res, orgs, members, prev_cov, loop)
        del orgs, members, members_f  # the member database is done with: not held to the end
        queue_f = _submit(review_task, cfg, res, cov, decisions)  # beside visit planning
        res = stages.display(res)  # names and addresses as people read them, from here on
        say("planning visits")
        mark("visit planning", res.enterprises.height)
        follow_ups = stages.follow_ups(loop)  # a concern or need recorded at the latest visit
        plan = _call(
            visits_task,
            res,
            cov,
            grids,
            snapshot,
            staging,
            cfg,
            prev_cov,
            follow_ups,
            loop.history,
            False,
        )
        queue, review_figures = queue_f.result()
        mark("waiting for validation")
        validation = validation_f.result()
        validation_f = None
        tables = stages.warehouse_tables(
            ing, res, plan.placement, cov, changes, plan, validation, early
        )
        tables = stages.visit_tables(tables, loop, cov, changes, plan.placement, prev_cov)
        tables["review_pair"] = queue
        tables["enterprise_alias"] = stages.enterprise_aliases(prev_links, res)
        street_of = {g.grid_id: g.street for g in grids}
        summary = summarise(snapshot, ing, res, cov, plan, validation, changes, street_of, built_on)
        summary.counts["visit_records"] = loop.counts()
        summary.counts["review"] = review_figures
        run.update(
            {
                "status": "success",
                "rows_in": ing.rows_in,
                "rows_accepted": ing.records.height,
                "rows_quarantined": ing.quarantine.height,
                "counts": summary.counts,
                "finished_at": datetime.now(),
                "message": f"published in {time.perf_counter() - t0:.1f}s",
            }
        )
        say("publishing to the warehouse")
        mark(
            "publishing",
            sum(heights[k] if t is early.get(k) else t.height for k, t in tables.items()),
        )
        # the heat map and sheets are written beside publishing; the commit waits for them, so a
        # month whose files fail is not published
        files_f = _submit(visit_files_task, plan, grids, snapshot, staging)
        _call(publish_task, cfg, snapshot, tables, run, prev_month, files_f.result)
        files_f = None
        stages.put_in_place(staging, cfg.out_dir, snapshot)
        staging = None
        mark(None)
        if not _plain():  # artifacts live in the Prefect API; a plain run has none
            _artifacts(summary, cfg.out_dir)
        counts = summary.counts
        say(f"done: {counts['targets']} targets in {counts['grids_with_targets']} grids")
        return summary
    except Exception as exc:
        # a critical validation failure is the month's reason, though a later step failed first
        failed = _user_error_of(validation_f) or exc
        validation_f = None
        # an unexpected error's text may quote data values: only its kind is recorded
        message = (
            str(failed)
            if isinstance(failed, DatapoolError)
            else f"unexpected {type(failed).__name__}; see the run's log"
        )
        stages.record_failure(
            cfg,
            snapshot,
            {**run, "message": message[:MESSAGE_CHARS], "finished_at": datetime.now()},
        )
        if failed is not exc:
            raise failed from None
        raise
    finally:
        mark(None)
        if validation_f is not None:  # its Data Docs go into the staging folder: done first
            with contextlib.suppress(Exception):
                validation_f.result()
        if files_f is not None:  # publishing failed: the files' writer is done before cleaning up
            with contextlib.suppress(Exception):
                files_f.result()
        if staging is not None:
            stages.discard(staging)


@flow(name="datapool-match", flow_run_name="match-{snapshot}", log_prints=False)
def match_flow(
    snapshot: str,
    settings: Settings,
    previous: str | None = None,
    partition_by: str | None = None,
    score_chunks: int = 1,
) -> Resolution:
    """Ingest and resolve one month only (``datapool match``): the same steps as the snapshot
    flow's, as tasks; ``previous``: a previous month's links CSV, so ids carry forward."""
    _quiet_user_errors()
    cfg = settings.with_key()
    ing = stages.ingest(cfg, snapshot, read_all=_read_as_tasks)
    prev = (
        pl.read_csv(previous, schema_overrides={"source_key": pl.Utf8, "enterprise_id": pl.Utf8})
        if previous
        else None
    )
    return resolve_with(
        partition_by,
        ing.records,
        prev,
        cfg.hmac_key.get_secret_value(),
        TaskSteps(lambda message: _logger().info("%s", message)),
        score_chunks,
        lambda message: _logger().info("%s", message),
    )


def resolve_with(
    partition_by: str | None,
    records: pl.DataFrame,
    previous_links: pl.DataFrame | None,
    id_key: str,
    steps: TaskSteps,
    score_chunks: int,
    say: Callable[[str], None],
    decisions: pl.DataFrame | None = None,
) -> Resolution:
    """The engine's resolve, or the partitioned one when ``partition_by`` names a partitioning.

    ``decisions``: people's review decisions, enforced as clustering constraints."""
    if partition_by is None:
        return engine.resolve(
            records,
            previous_links,
            id_key,
            steps=steps,
            score_chunks=score_chunks,
            decisions=decisions,
        )
    if partition_by not in PARTITIONINGS:  # a deployment's parameter
        raise InputError(
            f"unknown partitioning {partition_by!r}; known: {', '.join(PARTITIONINGS)}"
        )
    return partition.resolve(
        records,
        previous_links,
        id_key,
        steps=steps,
        score_chunks=score_chunks,
        say=say,
        decisions=decisions,
    )


def _artifacts(summary: RunSummary, out_dir: Path) -> None:
    """The run's summary, largest targets and links to the heat map and Data Docs, in Prefect."""
    snapshot = summary.snapshot
    key = f"datapool-{snapshot}".replace("_", "-").lower()
    create_markdown_artifact(
        summary.markdown(), key=key, description=f"datapool run summary {snapshot}"
    )
    if "review" in summary.counts:
        create_markdown_artifact(
            review_markdown(snapshot, summary.counts["review"]),
            key=f"{key}-review",
            description=f"datapool review figures {snapshot}",
        )
    create_table_artifact(
        [{**t, "name": markdown_text(t["name"])} for t in summary.top_targets],
        key=f"{key}-top-targets",
        description="largest targets without a union",
    )
    folder = (out_dir / snapshot).resolve()
    create_link_artifact(
        f"file://{folder / 'heatmap.html'}", link_text="heat map", key=f"{key}-heatmap"
    )
    create_link_artifact(
        f"file://{folder / 'data_docs' / 'index.html'}",
        link_text="validation data docs",
        key=f"{key}-data-docs",
    )
