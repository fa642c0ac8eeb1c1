"""Validation (Great Expectations) in a process of its own, beside the run (#20).

Great Expectations runs in Python: its import (about 3 s of CPU and 150 MB), the pandas frames it
validates and its Data Docs held the run's interpreter lock and memory beside the member diff and
visit planning. The run now starts a checker process when matching is done (:func:`start`: it
imports GX while the run goes on), prepares the suites itself (polars work:
:func:`datapool.schemas.expectations.prepare` measures the every-row checks and cuts the frame
the other checks read, the sample of a large one) and hands them over (:func:`check`), so what
crosses is bounded whatever the month's size: the child validates them,
writes the Data Docs into the staging folder and answers with the ``validation_result`` rows, or
with the :class:`~datapool.errors.ValidationFailed` a critical failure raises, raised again here
as it would have been in place. Nothing of the results changes.

The same one-job helper as the visit files' writer (:mod:`datapool.child`): a fresh interpreter
(``python -m datapool.validation_process``), the job pickled on its standard input, the answer on
its standard output; it leaves when its run is gone. A run that fails
stops it (:func:`stop`). Without a started process (a test, a library caller), validation runs in
place.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import polars as pl

from datapool.child import Figures, OneJobProcesses, serve
from datapool.schemas.expectations import Suite
from datapool.stageclock import own_peak_bytes

WHAT = "the validation process"
_CHECKERS = OneJobProcesses("datapool.validation_process", WHAT)  # by Data Docs folder


__all__ = ["Suite", "check", "run_suites", "start", "started", "stop"]


def run_suites(suites: list[Suite], docs_dir: Path) -> pl.DataFrame:
    """Run ``suites`` in order in one GX context, write the Data Docs into ``docs_dir``; raises
    ValidationFailed on a critical failure. Returns the results table."""
    from datapool.schemas import expectations as ex
    from datapool.schemas.offline_docs import make_offline

    v = ex.Validator(docs_dir)
    for i in range(len(suites)):
        v.run_suite(suites[i])
        # its frame let go once checked (the checker held every suite's to the end)
        suites[i] = dataclasses.replace(suites[i], frame=suites[i].frame.clear())
    v.build_docs()
    v.close()
    make_offline(docs_dir)  # the CDN assets shipped beside the pages: they render offline
    v.raise_for_critical()
    return v.table()


def start(docs_dir: Path) -> None:
    """Start the checker process whose Data Docs go into ``docs_dir`` (once): it imports GX while
    the run goes on, then waits for its job."""
    _CHECKERS.start(docs_dir)


def started(docs_dir: Path) -> bool:
    """Whether a checker process was started for ``docs_dir`` (and not stopped)."""
    return _CHECKERS.started(docs_dir)


def stop(docs_dir: Path) -> None:
    """Stop the checker of ``docs_dir``, if one was started and is not done (a failed run)."""
    _CHECKERS.stop(docs_dir)


def check(suites: list[Suite], docs_dir: Path) -> tuple[pl.DataFrame, Figures]:
    """Run ``suites`` in the checker process of ``docs_dir`` (started here if :func:`start` was
    not called); returns the results table and the child's figures.

    ``suites`` is emptied: once they are sent, the run lets their frames go (they were held
    beside the member diff and visit planning while the child checked them).

    Raises what the child raised (ValidationFailed as it is); a child that ended without an answer
    is a RuntimeError naming its exit code.
    """
    (table, cpu, peak), wall = _CHECKERS.ask(docs_dir, _handed(suites, docs_dir))
    return table, Figures(wall, cpu, peak)


def _handed(suites: list[Suite], docs_dir: Path) -> tuple[list[Suite], Path]:
    """The job, ``suites`` emptied (the job is then the only holder of their frames)."""
    job = (list(suites), docs_dir)
    suites.clear()
    return job


def _warm_up() -> None:
    from datapool.memory import release_large_blocks

    release_large_blocks()
    from datapool.schemas import expectations as ex

    ex.warm_up()


def _child(job: tuple[list[Suite], Path]) -> tuple[pl.DataFrame, float, int]:
    table = run_suites(*job)
    return table, time.process_time(), own_peak_bytes()


def main() -> None:
    """The checker process: import GX, wait for a job on standard input, answer on standard
    output (:func:`datapool.child.serve`)."""
    serve(_warm_up, _child, WHAT)


if __name__ == "__main__":
    main()
