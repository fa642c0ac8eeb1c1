"""Validation (Great Expectations) in a process of its own, beside the run (#20).

Great Expectations runs in Python: its import (about 3 s of CPU and 150 MB), the pandas frames it
validates and its Data Docs held the run's interpreter lock and memory beside the member diff and
visit planning. The run now starts a checker process when matching is done (:func:`start`: it
imports GX while the run goes on), builds the frames the suites read itself (polars work, a
fraction of the month's columns), and hands them over (:func:`check`): the child validates them,
writes the Data Docs into the staging folder and answers with the ``validation_result`` rows, or
with the :class:`~datapool.errors.ValidationFailed` a critical failure raises, raised again here
as it would have been in place. Nothing of the results changes.

The same pattern as the visit files' writer (:mod:`datapool.visits.files`): a fresh interpreter
(``python -m datapool.validation_process``), the job pickled on its standard input, the answer on
its standard output; it leaves when its run is gone (:mod:`datapool.child`). A run that fails
stops it (:func:`stop`). Without a started process (a test, a library caller), validation runs in
place.
"""

from __future__ import annotations

import contextlib
import gc
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

from datapool.errors import DatapoolError
from datapool.stageclock import own_peak_bytes

_LOCK = threading.Lock()
_CHECKERS: dict[Path, subprocess.Popen[bytes]] = {}


@dataclass
class Suite:
    """One suite to run: its name in the results and Data Docs, the frame and its checks."""

    name: str
    frame: pl.DataFrame
    checks: list[Any]  # datapool.schemas.expectations.Check (GX is not imported here)


@dataclass
class Figures:
    """The checker's figures for the stage clock: the wall time the run waited from handing the
    job over, and the child's own CPU seconds (its imports included) and peak memory."""

    seconds: float
    cpu_seconds: float
    peak_bytes: int


def run_suites(suites: list[Suite], docs_dir: Path) -> pl.DataFrame:
    """Run ``suites`` in order in one GX context, write the Data Docs into ``docs_dir``; raises
    ValidationFailed on a critical failure. Returns the results table."""
    from datapool.schemas import expectations as ex
    from datapool.schemas.offline_docs import make_offline

    v = ex.Validator(docs_dir)
    for s in suites:
        v.run(s.name, s.frame, s.checks)
    v.build_docs()
    v.close()
    make_offline(docs_dir)  # the CDN assets shipped beside the pages: they render offline
    v.raise_for_critical()
    return v.table()


def start(docs_dir: Path) -> None:
    """Start the checker process whose Data Docs go into ``docs_dir`` (once): it imports GX while
    the run goes on, then waits for its job."""
    with _LOCK:
        if docs_dir not in _CHECKERS:
            _CHECKERS[docs_dir] = subprocess.Popen(
                [sys.executable, "-m", "datapool.validation_process"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                # its frames are small: the run's process has the other core
                env={**os.environ, "POLARS_MAX_THREADS": "1"},
            )


def started(docs_dir: Path) -> bool:
    """Whether a checker process was started for ``docs_dir`` (and not stopped)."""
    with _LOCK:
        return docs_dir in _CHECKERS


def stop(docs_dir: Path) -> None:
    """Stop the checker of ``docs_dir``, if one was started and is not done (a failed run)."""
    with _LOCK:
        proc = _CHECKERS.pop(docs_dir, None)
    if proc is None:
        return
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def check(suites: list[Suite], docs_dir: Path) -> tuple[pl.DataFrame, Figures]:
    """Run ``suites`` in the checker process of ``docs_dir`` (started here if :func:`start` was
    not called); returns the results table and the child's figures.

    Raises what the child raised (ValidationFailed as it is); a child that ended without an answer
    is a RuntimeError naming its exit code.
    """
    start(docs_dir)
    with _LOCK:
        proc = _CHECKERS[docs_dir]
    assert proc.stdin is not None and proc.stdout is not None
    wall = time.perf_counter()
    try:
        try:
            pickle.dump((suites, docs_dir), proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            proc.stdin.close()
        except BrokenPipeError:
            pass  # it ended before reading: its exit code says so below
        answer = proc.stdout.read()
        code = proc.wait()
    finally:
        stop(docs_dir)
    if not answer:
        raise RuntimeError(f"the validation process ended with exit code {code} and no answer")
    ok, result = pickle.loads(answer)
    if not ok:
        raise result
    table, cpu, peak = result
    return table, Figures(time.perf_counter() - wall, cpu, peak)


def _failure(exc: Exception) -> Exception:
    """The error to raise again in the run: a DatapoolError as it is; another as itself when it
    can be pickled (its frames as text in ``child_frames``), else a RuntimeError naming its kind."""
    with contextlib.suppress(Exception):
        pickle.loads(pickle.dumps(exc))
        if not isinstance(exc, DatapoolError):
            exc.child_frames = "".join(traceback.format_tb(exc.__traceback__))  # type: ignore[attr-defined]
        exc.__traceback__ = None
        return exc
    if isinstance(exc, DatapoolError):
        return DatapoolError(str(exc))
    return RuntimeError(f"{type(exc).__name__} in the validation process")


def main() -> None:
    """The checker process: import GX, wait for a job on standard input, answer on standard
    output (whatever else writes to standard output in here goes to standard error)."""
    from datapool.child import exit_with_parent
    from datapool.memory import release_large_blocks

    exit_with_parent()  # a run killed outright leaves no checker behind
    answer = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    release_large_blocks()
    from datapool.schemas import expectations as ex

    ex.warm_up()
    try:
        suites, docs_dir = pickle.load(sys.stdin.buffer)
    except EOFError:  # stopped before it was sent a job
        return
    gc.freeze()  # GX's modules, loaded: the cyclic collector need not walk them again
    try:
        table = run_suites(suites, docs_dir)
        result: tuple[bool, Any] = (True, (table, time.process_time(), own_peak_bytes()))
    except Exception as exc:  # noqa: BLE001 - raised again in the run (see _failure)
        result = (False, _failure(exc))
    pickle.dump(result, answer, protocol=pickle.HIGHEST_PROTOCOL)
    answer.close()


if __name__ == "__main__":
    main()
