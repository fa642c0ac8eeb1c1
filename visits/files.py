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
  and the answer comes back on its standard output, both pickled. :func:`start` starts it ahead
  of its job (the flow calls it when validation has answered, near the end of visit planning:
  started with the staging folder, it sat idle beside validation and the rows written ahead,
  120 MB more at the run's peak of all processes together), so its imports (about 1-2 CPU s)
  overlap the stages before publishing; a writer that is never sent a job is stopped with the
  failed run (:func:`stop`), or ends when its input closes as the run's process ends;
- it is sent only what the files need (:class:`FileJob`: a few small frames and the grids) and
  writes into the month's staging folder; nothing moves into place until the warehouse has
  committed (the flow's ``put_in_place``), and the commit waits for the files, so a month whose
  files fail is not published (``stages.write_visit_files`` is ``before_commit``'s wait);
- an error in the child is raised again in the run as the same kind of error; an unexpected one
  carries the child's frames (``child_frames``, no message text) for
  :func:`datapool.errors.withheld_traceback`. Warnings the child logs are logged again in the run.
  The pipes, start and stop are :mod:`datapool.child`'s, shared with the validation process.
- its wall time, CPU seconds and peak memory are handed back and shown by
  ``datapool bench --end-to-end`` as a stage of their own (:func:`datapool.stageclock.record`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from datapool.child import Figures, OneJobProcesses, serve
from datapool.connectors.grids import GridShape
from datapool.stageclock import own_peak_bytes

log = logging.getLogger("datapool")

WHAT = "the visit files' process"
_WRITERS = OneJobProcesses("datapool.visits.files", WHAT)  # by staging folder


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
    _WRITERS.start(folder)


def stop(folder: Path) -> None:
    """Stop the writer process of ``folder``, if one was started and is not done (a failed run):
    it is killed (what it wrote is in the staging folder, which the failed run removes)."""
    _WRITERS.stop(folder)


def write_beside(job: FileJob) -> tuple[list[Path], Figures]:
    """Write ``job``'s files in the writer process of ``job.folder`` (started here if
    :func:`start` was not called); returns the paths and the child's figures.

    Raises what the child raised (see the module's docstring); a child that ended without an
    answer is a RuntimeError naming its exit code.
    """
    (paths, cpu, peak, logged), wall = _WRITERS.ask(job.folder, job)
    for name, level, message in logged:
        logging.getLogger(name).log(level, "%s", message)
    return paths, Figures(wall, cpu, peak)


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


def main() -> None:
    """The writer process: import, wait for a job on standard input, answer on standard output
    (:func:`datapool.child.serve`; many small objects and no cycles: no cyclic collector)."""
    serve(_warm_up, _child, WHAT, collect=False)


if __name__ == "__main__":
    main()
