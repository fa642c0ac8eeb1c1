"""A run's helper processes: how they take a job and answer, and how they never outlive the run.

A run starts helper processes (the rows written ahead, :mod:`datapool.connectors.staging`; a
large member database's reader, :mod:`datapool.connectors.members`; the validation,
:mod:`datapool.validation_process`; the visit files, :mod:`datapool.visits.files`)
and stops them when it gives up on them. A run that is killed outright (SIGKILL, the kernel's
out-of-memory killer) stops nothing: its helpers, re-parented to init, would go on writing
gigabytes nobody reads. Each helper therefore watches the process that started it and exits as
soon as that process is gone (:func:`exit_with_parent`).

The member database's reader, the validation and the visit files are one-job helpers
(:class:`OneJobProcesses`): a fresh interpreter (``python -m <module>``) started ahead of its
job (the reader: with it), so its imports overlap the run;
the job goes pickled on its standard input and the answer comes back on its standard output
(:func:`serve`, the helper's side), or the error it raised, raised again in the run
(:func:`failure`).
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datapool.errors import DatapoolError

POLL_SECONDS = 0.5
ORPHANED = 70  # the exit code of a helper whose run is gone


def exit_with_parent(poll: float = POLL_SECONDS) -> threading.Thread:
    """Watch the parent process from a daemon thread and leave (``os._exit``) when it is gone
    (the process is re-parented, so its parent id changes)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                print("datapool: the run that started this process is gone", file=sys.stderr)
                os._exit(ORPHANED)
            threading.Event().wait(poll)

    t = threading.Thread(target=watch, name="exit-with-parent", daemon=True)
    t.start()
    return t


@dataclass
class Figures:
    """A helper's figures for the stage clock: the wall time the run waited from handing the job
    over, and the helper's own CPU seconds (its imports included) and peak memory."""

    seconds: float
    cpu_seconds: float
    peak_bytes: int


class OneJobProcesses:
    """Helper processes of one module that each take one job, one per key (a run's folder)."""

    def __init__(self, module: str, what: str) -> None:
        self.module = module
        self.what = what  # how errors name it: "the validation process"
        self.procs: dict[Path, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def start(self, key: Path) -> None:
        """Start the helper of ``key`` (once): it imports what it needs while the run goes on,
        then waits for its job."""
        with self._lock:
            if key not in self.procs:
                self.procs[key] = subprocess.Popen(
                    [sys.executable, "-m", self.module],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    # small frames: polars' pool of threads would cost more than it gives, and
                    # the run's process has the other core; pyarrow's memory (polars' to_pandas)
                    # from malloc, which gives it back, not mimalloc's pool, which kept it (the
                    # checker's peak at 200k enterprises 460 -> 413 MB with its frames let go)
                    env={
                        **os.environ,
                        "POLARS_MAX_THREADS": "1",
                        "ARROW_DEFAULT_MEMORY_POOL": "system",
                    },
                )

    def started(self, key: Path) -> bool:
        """Whether a helper was started for ``key`` (and not stopped)."""
        with self._lock:
            return key in self.procs

    def stop(self, key: Path) -> None:
        """Stop the helper of ``key``, if one was started and is not done (a failed run): it is
        killed (what it wrote is in the run's staging folder, which the failed run removes)."""
        with self._lock:
            proc = self.procs.pop(key, None)
        if proc is None:
            return
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        if proc.poll() is None:  # never sent a job, or its run gave up on it
            proc.kill()
        proc.wait()

    def ask(self, key: Path, job: object) -> tuple[Any, float]:
        """Hand ``job`` to the helper of ``key`` (started here if it was not) and wait for its
        answer; returns the answer and the seconds waited. The helper ends with its job.

        Raises what the helper raised; a helper that ended without an answer is a RuntimeError
        naming its exit code.
        """
        self.start(key)
        with self._lock:
            proc = self.procs[key]
        assert proc.stdin is not None and proc.stdout is not None
        wall = time.perf_counter()
        try:
            try:
                pickle.dump(job, proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                proc.stdin.close()
                del job  # sent: not held here while the helper works (the caller may let it go)
            except BrokenPipeError:
                pass  # it ended before reading: its exit code says so below
            answer = proc.stdout.read()
            code = proc.wait()
        finally:
            self.stop(key)
        if not answer:
            raise RuntimeError(f"{self.what} ended with exit code {code} and no answer")
        ok, result = pickle.loads(answer)
        if not ok:
            raise result
        return result, time.perf_counter() - wall


def failure(exc: Exception, what: str) -> Exception:
    """The error a helper sends back to be raised again in the run: ``exc`` itself (a
    DatapoolError as it is; another with the helper's frames, not its message, in
    ``child_frames``), or a RuntimeError naming its kind and ``what`` when it cannot be pickled."""
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
        out = RuntimeError(f"{type(exc).__name__} in {what}")
    out.child_frames = frames  # type: ignore[attr-defined]
    out.__traceback__ = None
    return out


def serve(
    warm_up: Callable[[], None], work: Callable[[Any], Any], what: str, collect: bool = True
) -> None:
    """A one-job helper's main: import (``warm_up``), wait for the job on standard input, answer
    ``work(job)`` (or the error it raised, see :func:`failure`) on standard output.

    The answer's pipe is kept to itself: whatever else writes to standard output in here goes to
    standard error instead. Once the job is read the modules loaded are frozen out of the cyclic
    collector; ``collect=False`` turns it off altogether (a short-lived process that makes many
    small objects and no cycles worth collecting).
    """
    exit_with_parent()  # a run killed outright leaves no helper behind
    answer = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    warm_up()
    try:
        job = pickle.load(sys.stdin.buffer)
    except EOFError:  # stopped before it was sent a job
        return
    gc.freeze()
    if not collect:
        gc.disable()
    try:
        result: tuple[bool, Any] = (True, work(job))
    except Exception as exc:  # noqa: BLE001 - raised again in the run (see failure)
        result = (False, failure(exc, what))
    pickle.dump(result, answer, protocol=pickle.HIGHEST_PROTOCOL)
    answer.close()
