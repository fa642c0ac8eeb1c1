"""Per-stage wall time, CPU use and peak memory of a run, for ``datapool bench --end-to-end``.

The flow marks its stages with :func:`stage`; nothing is measured unless a :class:`StageClock`
is installed (:func:`measuring`), so a normal run pays one global look-up per stage.
Peak memory is the process's resident set size. On Linux it is exact and costs nothing while a
stage runs: at every stage boundary the kernel's own peak (``VmHWM``) is read, credited to every
stage open at that moment, and reset to the present resident set (``/proc/self/clear_refs``,
value 5), so each stage gets the highest resident set of the intervals it spans. Elsewhere (or
where the reset is refused) a thread samples the resident set every few milliseconds, which
takes the interpreter lock 200 times a second and so slows the run it measures a little.
(``tracemalloc`` slows a run several times over and misses native buffers such as polars'.)
CPU use is the process's CPU time over the stage's wall time: 1.0 is one core busy, 2.0 both
(stages that run side by side share the process, so each sees the other's CPU too).
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from datapool.treepeak import resident_bytes

SAMPLE_SECONDS = 0.005  # how often the resident set size is read


def rss_bytes() -> int:
    """The process's resident set size now (Linux: its ``statm``, :func:`resident_bytes`; else
    the peak so far)."""
    now = resident_bytes(os.getpid())
    return now if now is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak() -> bool:
    """Reset the process's peak resident set (``VmHWM``) to its resident set now; False where
    Linux's ``clear_refs`` is missing or refused."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")  # 5: the peak only (1-4 would clear page bits, and cost)
    except OSError:
        return False
    return True


def own_peak_bytes() -> int:
    """This process's own peak resident set (Linux: VmHWM; ``ru_maxrss`` would count the parent
    a child was forked from)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class Stage:
    """One stage's figures; ``rows`` is set by the stage (what it worked through)."""

    name: str
    started: float
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_bytes: int = 0
    rows: int | None = None
    open: bool = True

    @property
    def cpu_use(self) -> float:
        """Process CPU seconds per wall second during the stage (cores busy)."""
        return self.cpu_seconds / self.seconds if self.seconds else 0.0


@dataclass
class StageClock:
    """Stages in the order they started, and the run's overall figures."""

    stages: list[Stage] = field(default_factory=list)
    peak_bytes: int = 0
    started: float = field(default_factory=time.perf_counter)
    cpu_started: float = field(default_factory=time.process_time)
    cpu_elsewhere: float = 0.0  # CPU seconds of stages run by other processes (:meth:`add`)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _sampler: threading.Thread | None = None
    _exact: bool = False  # the kernel's peak is read and reset at each boundary (no sampler)

    def start_sampling(self) -> None:
        """Measure peaks from now on: the kernel's resettable peak where there is one, else a
        thread reading the resident set size every ``SAMPLE_SECONDS`` until :meth:`stop`."""
        self._exact = reset_peak()
        self._note(rss_bytes())
        if self._exact:
            return

        def sample() -> None:
            while not self._stop.wait(SAMPLE_SECONDS):
                self._note(rss_bytes())

        self._sampler = threading.Thread(target=sample, name="stageclock", daemon=True)
        self._sampler.start()

    def stop(self) -> None:
        """Stop measuring (the last interval's peak is taken first)."""
        self._note(rss_bytes())
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join()

    def _note(self, now: int) -> None:
        """Credit the peak since the last boundary (``now`` without the kernel's peak) to every
        open stage and to the run; with the kernel's peak, start a new interval."""
        with self._lock:
            if self._exact:
                now = max(now, own_peak_bytes())
                reset_peak()
            self.peak_bytes = max(self.peak_bytes, now)
            for s in self.stages:
                if s.open:
                    s.peak_bytes = max(s.peak_bytes, now)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[Stage]:
        """Time the block as stage ``name``."""
        self._note(rss_bytes())  # the interval before this stage ends here
        s = Stage(name, time.perf_counter(), peak_bytes=rss_bytes())
        cpu = time.process_time()
        with self._lock:
            self.stages.append(s)
        try:
            yield s
        finally:
            self._note(rss_bytes())
            with self._lock:
                s.seconds = time.perf_counter() - s.started
                s.cpu_seconds = time.process_time() - cpu
                s.open = False

    def total(self) -> tuple[float, float]:
        """Wall and CPU seconds since the clock was made (with other processes' stages' CPU)."""
        cpu = time.process_time() - self.cpu_started + self.cpu_elsewhere
        return time.perf_counter() - self.started, cpu

    def add(self, name: str, seconds: float, cpu_seconds: float, peak_bytes: int) -> Stage:
        """A stage measured in another process (already over): its figures as it reports them;
        its CPU seconds count in :meth:`total`, its memory only in its own row."""
        s = Stage(name, time.perf_counter() - seconds, seconds, cpu_seconds, peak_bytes, open=False)
        with self._lock:
            self.stages.append(s)
            self.cpu_elsewhere += cpu_seconds
        return s


_CLOCK: StageClock | None = None  # one per process: a benchmark measures one run at a time


@contextlib.contextmanager
def stage(name: str) -> Iterator[Stage | None]:
    """Time the block as stage ``name`` when a clock is installed; otherwise do nothing."""
    clock = _CLOCK
    if clock is None:
        yield None
        return
    with clock.stage(name) as s:
        yield s


def record(name: str, seconds: float, cpu_seconds: float, peak_bytes: int) -> None:
    """Record a stage another process ran (see :meth:`StageClock.add`), when a clock is
    installed; otherwise do nothing."""
    clock = _CLOCK
    if clock is not None:
        clock.add(name, seconds, cpu_seconds, peak_bytes)


def set_rows(s: Stage | None, rows: int) -> None:
    """Record the rows a stage worked through (nothing when no clock is installed)."""
    if s is not None:
        s.rows = rows


@contextlib.contextmanager
def measuring() -> Iterator[StageClock]:
    """Install a fresh clock for the block, for every thread of the process."""
    global _CLOCK  # noqa: PLW0603
    clock, before = StageClock(), _CLOCK
    _CLOCK = clock
    clock.start_sampling()
    try:
        yield clock
    finally:
        clock.stop()
        _CLOCK = before


def installed() -> StageClock | None:
    """The clock installed in this context, if any."""
    return _CLOCK


_OPEN: list[tuple[contextlib.ExitStack, Stage]] = []  # the stage :func:`mark` began last


def mark(name: str | None, rows: int | None = None) -> None:
    """End the stage the last ``mark`` began and begin stage ``name`` (None: begin none).

    ``rows`` is what the new stage works through. One line per stage boundary in the flow;
    nothing happens when no clock is installed.
    """
    while _OPEN:
        _OPEN.pop()[0].close()
    if name is None or _CLOCK is None:
        return
    stack = contextlib.ExitStack()
    s = stack.enter_context(_CLOCK.stage(name))
    s.rows = rows
    _OPEN.append((stack, s))


def count_rows(rows: int) -> None:
    """Set the rows of the stage the last :func:`mark` began (when it learns them late)."""
    if _OPEN:
        _OPEN[-1][1].rows = rows
