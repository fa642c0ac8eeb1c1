"""The monthly snapshot flow: ingest -> match -> validate -> coverage -> visits -> publish.

Tasks are small; only I/O tasks retry (with back-off). Nothing here holds
logic: every task calls one function of :mod:`datapool.stages` or of the
matching engine. Runs need no Prefect server (an ephemeral API is used when
``PREFECT_API_URL`` is unset). Scoring is split into chunks of candidate
pairs, so a Dask task runner spreads the matching work over its workers;
clustering then sees every accepted pair, so the result does not depend on
the number of workers.
"""

from __future__ import annotations

import collections
import logging
import socket
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from datapool import stages
from datapool.connectors import warehouse
from datapool.connectors.grids import read_grids
from datapool.connectors.members import read_members
from datapool.connectors.specs import SOURCES
from datapool.errors import WITHHELD, DatapoolError, InputError, withheld, withheld_traceback
from datapool.inert import markdown_text
from datapool.matching.blocking import candidate_pairs
from datapool.matching.engine import finish
from datapool.matching.scoring import score_pairs
from datapool.matching.standardise import standardise
from datapool.matching.weights import Weights, learn
from datapool.settings import check_snapshot, from_env


def _no_retry_on_user_error(task, task_run, state) -> bool:  # noqa: ANN001
    """Retry I/O faults, never an error the user must fix (a missing column stays missing)."""
    try:
        state.result()
    except DatapoolError:
        return False
    except Exception:  # noqa: BLE001
        return True
    return False


IO = {
    "retries": 2,
    "retry_delay_seconds": [1, 4],
    "cache_policy": NO_CACHE,
    "retry_condition_fn": _no_retry_on_user_error,
}
CPU = {"cache_policy": NO_CACHE}


def _error_classes(cls: type) -> list[type]:
    return [cls, *(c for sub in cls.__subclasses__() for c in _error_classes(sub))]


class _UserErrorsWithoutTraceback(logging.Filter):
    """Prefect logs a failed task with its traceback. For an error a user caused the CLI prints the
    one line that matters, and the run's state keeps the message: drop Prefect's copies."""

    names = tuple(cls.__name__ for cls in _error_classes(DatapoolError))

    def filter(self, record: logging.LogRecord) -> bool:
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
def read_export_task(snapshot_dir: str, source: str, hmac_key: str):  # noqa: ANN201
    return stages.read_source(Path(snapshot_dir), source, hmac_key)


@task(name="read-members", **IO)
def read_members_task(url: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    return read_members(url)


@task(name="read-grids", **IO)
def read_grids_task(path: str):  # noqa: ANN201
    return read_grids(Path(path))


@task(name="read-previous", **IO)
def previous_task(url: str, snapshot: str, lock_timeout: float):  # noqa: ANN201
    return stages.previous_state(warehouse.engine_for(url, lock_timeout), snapshot)


@task(name="read-baseline", **IO)
def baseline_task(url: str, snapshot: str, lock_timeout: float):  # noqa: ANN201
    return stages.month_context(warehouse.engine_for(url, lock_timeout), snapshot)


@task(name="standardise", **CPU)
def standardise_task(records: pl.DataFrame) -> pl.DataFrame:
    return standardise(records)


@task(name="block", **CPU)
def block_task(std: pl.DataFrame) -> pl.DataFrame:
    return candidate_pairs(std)


@task(name="learn-weights", **CPU)
def learn_task(std: pl.DataFrame) -> Weights:
    return learn(std)


@task(name="score-chunk", **CPU)
def score_task(std: pl.DataFrame, pairs: pl.DataFrame, weights: Weights) -> pl.DataFrame:
    return score_pairs(std, pairs, weights)


@task(name="cluster", **CPU)
def finish_task(std, scored, previous, n_pairs, id_key, weights):  # noqa: ANN001, ANN201
    return finish(std, scored, previous, n_pairs, id_key, weights)


@task(name="validate", **CPU)
def validate_task(ing, res, docs_dir: str):  # noqa: ANN001, ANN201
    return stages.validate(ing, res, Path(docs_dir))


@task(name="coverage", **CPU)
def cover_task(res, orgs, members, snapshot, threshold, hmac_key, prev_cov):  # noqa: ANN001, ANN201
    return stages.cover(res, orgs, members, snapshot, threshold, hmac_key, prev_cov)


@task(name="visits", **CPU)
def visits_task(res, cov, grids, snapshot, out_dir):  # noqa: ANN001, ANN201
    return stages.plan_visits(res, cov, grids, snapshot, Path(out_dir))


@task(name="publish", **IO)
def publish_task(
    url: str, snapshot: str, tables: dict, run: dict, lock_timeout: float, previous: str | None
) -> None:
    engine = warehouse.engine_for(url, lock_timeout)
    warehouse.publish(engine, snapshot, tables, run, previous, lock_timeout)


_POOL: ThreadPoolExecutor | None = None


def _plain() -> bool:
    """True when the flow's body runs as a plain function (``snapshot_flow.fn``), outside Prefect:
    ``datapool run`` without PREFECT_API_URL runs so, and starts no Prefect server."""
    from prefect.context import FlowRunContext

    return FlowRunContext.get() is None


def _submit(task_, *args):  # noqa: ANN001, ANN002, ANN202
    """``task_.submit(*args)`` in a flow run; a thread of this process otherwise (I/O overlaps)."""
    global _POOL  # noqa: PLW0603
    if not _plain():
        return task_.submit(*args)
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="datapool")
    return _POOL.submit(_retrying, task_, *args)


def _call(task_, *args):  # noqa: ANN001, ANN002, ANN202
    """``task_(*args)`` in a flow run; the plain function otherwise."""
    return task_(*args) if not _plain() else _retrying(task_, *args)


def _retrying(task_, *args):  # noqa: ANN001, ANN002, ANN202
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


def split_pairs(pairs: pl.DataFrame, chunks: int) -> list[pl.DataFrame]:
    """Cut candidate pairs into contiguous chunks (by rid_a) for parallel scoring."""
    chunks = max(1, chunks)
    size = max(1, -(-pairs.height // chunks))
    return [pairs.slice(i, size) for i in range(0, max(pairs.height, 1), size)] or [pairs]


@flow(name="datapool-snapshot", flow_run_name="snapshot-{snapshot}", log_prints=False)
def snapshot_flow(
    snapshot: str,
    input_root: str | None = None,
    members_url: str | None = None,
    warehouse_url: str | None = None,
    out_dir: str | None = None,
    grids_path: str | None = None,
    threshold: int | None = None,
    score_chunks: int = 1,
    show_progress: bool = False,
    accept_sources: list[str] | None = None,
    carry_sources: list[str] | None = None,
) -> dict:
    """Build, check and publish one monthly snapshot; returns the run's counts."""
    _quiet_user_errors()
    try:  # a deployment's parameter: it names folders, so nothing but YYYY-MM
        check_snapshot(snapshot)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    cfg = from_env(
        input_root=Path(input_root) if input_root else None,
        members_url=members_url,
        warehouse_url=warehouse_url,
        out_dir=Path(out_dir) if out_dir else None,
        grids_path=Path(grids_path) if grids_path else None,
        threshold=threshold,
    )
    run = {
        "run_id": f"{socket.gethostname()}:{uuid.uuid4().hex[:12]}",
        "started_at": datetime.now(),
    }
    say = lambda m: progress(f"{snapshot}: {m}", show_progress)  # noqa: E731
    logger = get_run_logger() if not _plain() else logging.getLogger("datapool")
    staging = None
    try:
        t0 = time.perf_counter()
        say("reading agency exports, member database, grids")
        if not (cfg.input_root / snapshot).is_dir():
            raise InputError(f"snapshot folder {cfg.input_root / snapshot} does not exist")
        snap_dir = str(cfg.input_root / snapshot)
        reads = {s: _submit(read_export_task, snap_dir, s, cfg.hmac_key) for s in SOURCES}
        members_f = _submit(read_members_task, cfg.members_url)
        grids_f = _submit(read_grids_task, str(cfg.grids_path))
        prev_f = _submit(previous_task, cfg.warehouse_url, snapshot, cfg.lock_timeout)
        base_f = _submit(baseline_task, cfg.warehouse_url, snapshot, cfg.lock_timeout)
        ing = stages.combine({s: f.result() for s, f in reads.items()})
        baseline, built_on = base_f.result()
        ing = stages.check_sources(
            ing,
            baseline,
            snapshot,
            cfg.input_root,
            cfg.max_shrink,
            accept_sources,
            carry_sources,
            cfg.hmac_key,
        )
        for s in ing.missing:
            logger.warning("%s sent no export for %s", s, snapshot)
        orgs, members = members_f.result()
        grids = grids_f.result()
        prev_month, prev_links, prev_cov = prev_f.result()
        say(f"{ing.records.height} rows accepted, {ing.quarantine.height} quarantined; matching")
        std = _call(standardise_task, ing.records)
        weights = _call(learn_task, std)
        logger.info(
            "match weights learned from the pairs identifiers label:\n%s", weights.summary()
        )
        say("match weights learned from the pairs identifiers label:\n" + weights.summary())
        pairs = _call(block_task, std)
        parts = [
            _submit(score_task, std, chunk, weights) for chunk in split_pairs(pairs, score_chunks)
        ]
        scored, n_pairs = pl.concat([p.result() for p in parts]), pairs.height
        del pairs, parts  # not held through clustering: at millions of rows it is hundreds of MB
        res = _call(finish_task, std, scored, prev_links, n_pairs, cfg.hmac_key, weights)
        say(f"{res.enterprises.height} enterprises from {n_pairs} candidate pairs; validating")
        staging = stages.staging_folder(cfg.out_dir, snapshot)  # files move in after publishing
        validation = _call(validate_task, ing, res, str(staging / "data_docs"))
        say("diffing against the member database")
        cov, changes = _call(
            cover_task, res, orgs, members, snapshot, cfg.threshold, cfg.hmac_key, prev_cov
        )
        res = stages.display(res)  # names and addresses as people read them, from here on
        say("planning visits")
        plan = _call(visits_task, res, cov, grids, snapshot, str(staging))
        tables = stages.warehouse_tables(ing, res, plan.placement, cov, changes, plan, validation)
        counts = _counts(ing, res, cov, plan, validation, changes)
        counts["built_on"] = built_on
        run.update(
            status="success",
            rows_in=ing.rows_in,
            rows_accepted=ing.records.height,
            rows_quarantined=ing.quarantine.height,
            counts=counts,
            finished_at=datetime.now(),
            message=f"published in {time.perf_counter() - t0:.1f}s",
        )
        say("publishing to the warehouse")
        _call(publish_task, cfg.warehouse_url, snapshot, tables, run, cfg.lock_timeout, prev_month)
        stages.put_in_place(staging, cfg.out_dir, snapshot)
        staging = None
        if not _plain():  # artifacts live in the Prefect API; a plain run has none
            _artifacts(
                snapshot, ing, res, plan, counts, cfg.out_dir, {g.grid_id: g.street for g in grids}
            )
        say(f"done: {counts['targets']} targets in {counts['grids_with_targets']} grids")
        return {"snapshot": snapshot, **counts}
    except Exception as exc:
        _record_failure(
            cfg,
            snapshot,
            run,
            # an unexpected error's text may quote data values: only its kind is recorded
            str(exc)
            if isinstance(exc, DatapoolError)
            else f"unexpected {type(exc).__name__}; see the run's log",
        )
        raise
    finally:
        if staging is not None:
            stages.discard(staging)


def _record_failure(cfg, snapshot: str, run: dict, message: str) -> None:  # noqa: ANN001
    try:
        warehouse.record_failure(
            warehouse.engine_for(cfg.warehouse_url, cfg.lock_timeout),
            snapshot,
            {**run, "message": message[:2000], "finished_at": datetime.now()},
        )
    except DatapoolError:
        pass


def _counts(ing, res, cov, plan, validation, changes) -> dict:  # noqa: ANN001
    rules = dict(res.links.group_by("rule").len().sort("rule").iter_rows())
    warnings = validation.filter(~pl.col("success")).height if validation.height else 0
    placed = plan.placement.filter(pl.col("grid_id").is_not_null()).height
    return {
        "files": ing.files,
        "missing_sources": ing.missing,
        "carried": ing.carried,
        **res.counts,
        "links_by_rule": rules,
        "validation_warnings": warnings,
        "targets": int(cov.coverage["target"].sum()),
        "covered": int(cov.coverage["covered"].sum()),
        "orphans": cov.orphans.height,
        "placed": placed,
        "unplaced": plan.placement.height - placed,
        "unplaced_targets": plan.unplaced.height,
        "unplaced_target_reasons": dict(
            plan.unplaced.group_by("grid_method").len().sort("grid_method").iter_rows()
        )
        if plan.unplaced.height
        else {},
        "grids_with_targets": plan.targets.select("grid_id").n_unique()
        if plan.targets.height
        else 0,
        "route_m": round(sum(s["route_m"] for s in plan.route_stats.values())),
        "unordered_m": round(sum(s["unordered_m"] for s in plan.route_stats.values())),
        "route_saving_grids_3plus": _mean_saving(plan.route_stats, 3),
        "route_saving_grids_4plus": _mean_saving(plan.route_stats, 4),
        "changes": dict(changes.group_by("change").len().sort("change").iter_rows())
        if changes.height
        else {},
    }


def _warnings_text(n: int) -> str:
    return f"{n} warnings" if n else "all passed"


def _mean_saving(stats: dict, min_stops: int) -> float | None:
    """Mean per-grid saving of the route over the unordered list, over grids of ``min_stops``+."""
    savings = [
        1 - v["route_m"] / v["unordered_m"]
        for v in stats.values()
        if v["stops"] >= min_stops and v["unordered_m"] > 0
    ]
    return round(sum(savings) / len(savings), 4) if savings else None


def _artifacts(snapshot, ing, res, plan, counts, out_dir, street_of) -> None:  # noqa: ANN001
    key = f"datapool-{snapshot}".replace("_", "-").lower()
    lines = [
        f"# datapool snapshot {snapshot}",
        "",
        "| source | rows in | accepted | quarantined |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {s} | {f['rows_in']} | {f['accepted']} | {f['quarantined']} |"
        for s, f in sorted(ing.files.items())
    ]
    lines += [f"| (missing) {s} | 0 | 0 | 0 |" for s in ing.missing]
    lines += [
        "",
        f"**Enterprises:** {res.enterprises.height} · "
        f"**candidate pairs:** {res.counts['candidate_pairs']}",
        "",
        "Links by rule: " + ", ".join(f"{k} {v}" for k, v in counts["links_by_rule"].items()),
        "",
        f"**Validation:** {_warnings_text(counts['validation_warnings'])}",
        "",
        f"**Targets:** {counts['targets']} · covered {counts['covered']} · "
        f"orphan union records {counts['orphans']}",
        "",
        f"**Unplaced targets (未落格目标):** {counts['unplaced_targets']}"
        + "".join(f" · {k}: {v}" for k, v in counts["unplaced_target_reasons"].items()),
        "",
        "| street | targets |",
        "|---|---|",
    ]
    if plan.targets.height:
        streets = (
            plan.targets.select(
                pl.col("grid_id").replace_strict(street_of, default="?").alias("street")
            )
            .group_by("street")
            .len()
            .sort(["len", "street"], descending=[True, False])
        )
        lines += [f"| {markdown_text(t)} | {n} |" for t, n in streets.iter_rows()]
    create_markdown_artifact(
        "\n".join(lines), key=key, description=f"datapool run summary {snapshot}"
    )
    top = (
        plan.targets.sort("headcount", descending=True)
        .head(20)
        .select("enterprise_id", "name", "grid_id", "headcount")
    )
    create_table_artifact(
        top.with_columns(
            pl.col("name").map_elements(markdown_text, return_dtype=pl.Utf8)
        ).to_dicts(),
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
