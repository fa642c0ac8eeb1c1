"""The month's visit files (heat map HTML and PNG, visit sheets, phone pages), written in a
process of their own, beside publishing.

Publishing and these files are both Python-bound (SQLite's driver; xlsxwriter, matplotlib and
HTML text), so in two threads of one process they shared one core through the GIL. The files
are written by a child process instead, on the second core:

- the child is a fresh interpreter (``python -m datapool.visits.files``), never a ``fork``: the
  run's process holds threads (Prefect's, polars' pool, the stage clock's sampler) and a forked
  child may inherit a lock another thread held at the fork and wait on it for ever; nor
  multiprocessing's ``spawn``, which runs the parent's main script again in the child (a script
  that runs a month at its top level would run it twice). The job goes to its standard input
  and the answer comes back on its standard output, both pickled. :func:`start` starts it early
  (the flow calls it when it creates the staging folder), so its imports (about 2 CPU s)
  overlap the stages before publishing; a writer that is never sent a job is stopped with the
  failed run (:func:`stop`), or ends when its input closes as the run's process ends;
- it is sent only what the files need (:class:`FileJob`: a few small frames and the grids) and
  writes into the month's staging folder; nothing moves into place until the warehouse has
  committed (the flow's ``put_in_place``), and the commit waits for the files, so a month whose
  files fail is not published (``stages.write_visit_files`` is ``before_commit``'s wait);
- an error in the child is raised again in the run as the same kind of error; an unexpected one
  carries the child's frames (``child_frames``, no message text) for
  :func:`datapool.errors.withheld_traceback`. Warnings the child logs are logged again in the run.
- its wall time, CPU seconds and peak memory are handed back and shown by
  ``datapool bench --end-to-end`` as a stage of their own (:func:`datapool.stageclock.record`).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import pickle
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from datapool.connectors.grids import GridShape
from datapool.errors import DatapoolError
from datapool.stageclock import own_peak_bytes

log = logging.getLogger("datapool")

_WRITERS: dict[Path, subprocess.Popen[bytes]] = {}  # by staging folder
_LOCK = threading.Lock()


@dataclass
class FileJob:
    """What the visit files are written from (a part of the month's ``VisitPlan``)."""

    grids: list[GridShape]
    snapshot: str
    folder: Path
    targets: pl.DataFrame
    unplaced: pl.DataFrame
    sheet_rows: pl.DataFrame
    page_rows: pl.DataFrame
    group_members: pl.DataFrame
    groups: pl.DataFrame | None = None
    visit_history: pl.DataFrame | None = None


@dataclass
class Figures:
    """The writer's figures for the stage clock: the wall time the run waited from handing the
    job over, and the child's own CPU seconds (its imports included) and peak memory."""

    seconds: float
    cpu_seconds: float
    peak_bytes: int


def write_files(job: FileJob) -> list[Path]:
    """Write the heat map (HTML and PNG), the visit sheets and the phone pages of ``job`` into
    ``job.folder``, in this process; returns the paths."""
    from datapool.visits.maps import heatmap_html, heatmap_png
    from datapool.visits.phone import write_route_pages
    from datapool.visits.sheets import write_week_sheets
    from datapool.visits.weekly import week_starts

    folder = job.folder
    html, png = folder / "heatmap.html", folder / "heatmap.png"
    heatmap_html(
        job.grids,
        job.targets,
        job.snapshot,
        html,
        groups=job.groups,
        group_members=job.group_members,
    )
    heatmap_png(job.grids, job.targets, job.snapshot, png, groups=job.groups)
    weeks = week_starts(job.snapshot)
    sheets = write_week_sheets(
        job.sheet_rows, job.grids, job.snapshot, folder / "visit_sheets", weeks, job.unplaced
    )
    pages = write_route_pages(
        job.page_rows, job.grids, job.snapshot, folder / "route_pages", weeks, job.visit_history
    )
    return [html, png, *sheets, *pages]


def start(folder: Path) -> None:
    """Start the writer process of the run whose staging folder is ``folder`` (once): it imports
    what the files need while the run goes on, then waits for its job."""
    with _LOCK:
        if folder not in _WRITERS:
            _WRITERS[folder] = subprocess.Popen(
                [sys.executable, "-m", "datapool.visits.files"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                # small frames: polars' pool of threads would cost more than it gives, and the
                # run's process has the other core
                env={**os.environ, "POLARS_MAX_THREADS": "1"},
            )


def stop(folder: Path) -> None:
    """Stop the writer process of ``folder``, if one was started and is not done (a failed run):
    it is killed (what it wrote is in the staging folder, which the failed run removes)."""
    with _LOCK:
        proc = _WRITERS.pop(folder, None)
    if proc is None:
        return
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
    if proc.poll() is None:  # never sent a job, or its run gave up on it: nothing to keep
        proc.kill()
    proc.wait()


def write_beside(job: FileJob) -> tuple[list[Path], Figures]:
    """Write ``job``'s files in the writer process of ``job.folder`` (started here if
    :func:`start` was not called); returns the paths and the child's figures.

    Raises what the child raised (see the module's docstring); a child that ended without an
    answer is a RuntimeError naming its exit code.
    """
    start(job.folder)
    with _LOCK:
        proc = _WRITERS[job.folder]
    assert proc.stdin is not None and proc.stdout is not None
    wall = time.perf_counter()
    try:
        try:
            pickle.dump(job, proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            proc.stdin.close()
        except BrokenPipeError:
            pass  # it ended before reading: its exit code says so below
        answer = proc.stdout.read()
        code = proc.wait()
    finally:
        stop(job.folder)
    if not answer:
        raise RuntimeError(f"the visit files' process ended with exit code {code} and no answer")
    ok, result = pickle.loads(answer)
    if not ok:
        raise result
    paths, cpu, peak, logged = result
    for name, level, message in logged:
        logging.getLogger(name).log(level, "%s", message)
    return paths, Figures(time.perf_counter() - wall, cpu, peak)


def _warm_up() -> None:
    """Import, in the child, what the files need (matplotlib is the slow one)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401
    import xlsxwriter  # noqa: F401

    import datapool.visits.maps
    import datapool.visits.phone
    import datapool.visits.sheets  # noqa: F401


class _Keep(logging.Handler):
    """Keeps the records the child logs, to be logged again in the run."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, record.levelno, record.getMessage()))


def _child(job: FileJob) -> tuple[list[Path], float, int, list[tuple[str, int, str]]]:
    """In the child: write the files; the child's CPU seconds (its imports included), its peak
    memory and the records it logged go back with the paths."""
    keep = _Keep()
    logger = logging.getLogger("datapool")
    logger.addHandler(keep)
    logger.setLevel(logging.INFO)
    try:
        paths = write_files(job)
    finally:
        logger.removeHandler(keep)
    return paths, time.process_time(), own_peak_bytes(), keep.records


def _failure(exc: Exception) -> Exception:
    """The error to raise again in the run: ``exc`` itself (a DatapoolError as it is; another
    with the child's frames, not its message, in ``child_frames``), or a RuntimeError naming its
    kind when it cannot be pickled."""
    if isinstance(exc, DatapoolError):
        with contextlib.suppress(Exception):
            pickle.loads(pickle.dumps(exc))
            return exc
        return DatapoolError(str(exc))
    frames = "".join(traceback.format_tb(exc.__traceback__))
    try:
        pickle.loads(pickle.dumps(exc))
        out = exc
    except Exception:  # noqa: BLE001 - an error the pipe cannot carry: its kind, as text
        out = RuntimeError(f"{type(exc).__name__} in the visit files' process")
    out.child_frames = frames  # type: ignore[attr-defined]
    out.__traceback__ = None
    return out


def main() -> None:
    """The writer process: import, wait for a job on standard input, answer on standard output.

    The answer's pipe is kept to itself: whatever else writes to standard output in here goes to
    standard error instead.
    """
    from datapool.child import exit_with_parent

    exit_with_parent()  # a run killed outright leaves no writer behind
    answer = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _warm_up()
    try:
        job = pickle.load(sys.stdin.buffer)
    except EOFError:  # stopped before it was sent a job
        return
    # a short-lived process that makes many small objects and no cycles worth collecting: the
    # cyclic collector would walk them again and again
    gc.freeze()
    gc.disable()
    try:
        result: tuple[bool, Any] = (True, _child(job))
    except Exception as exc:  # noqa: BLE001 - raised again in the run (see _failure)
        result = (False, _failure(exc))
    pickle.dump(result, answer, protocol=pickle.HIGHEST_PROTOCOL)
    answer.close()


if __name__ == "__main__":
    main()
