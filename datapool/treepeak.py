"""The peak memory of a process and all its descendants together, sampled (the benchmarks).

A month's run is several processes: the run, its helper processes (validation, rows written
ahead, visit files), Dask workers. Each one's own peak (``VmHWM``) is exact, but they peak at
different moments, so neither their sum nor the largest says what the machine had to hold at
once. :class:`TreePeak` samples, every ``interval`` seconds in a thread, the memory of a process
and of every process below it (``/proc/<pid>/task/*/children``) and keeps the largest sum. Each
process counts its proportional set size (``Pss`` of ``/proc/<pid>/smaps_rollup``: a page shared
by n processes, such as the interpreter's libraries, counts 1/n in each), so the sum is what the
processes hold together, not more; where ``smaps_rollup`` is missing (Linux before 4.14) the
resident set (``VmRSS``), which counts shared pages once per process and so errs high. A peak
shorter than the interval may be missed. Linux only: elsewhere :attr:`TreePeak.peak_bytes` stays
``None``.

Reading ``smaps_rollup`` walks the process's page tables: about 50 ms of CPU for a process of
1.3 GB, so five readings a second of a 500k-row month took 6 of its 55 CPU seconds, on the cores
the run needs. A process's proportional set is never above its resident set (``statm``, read in
microseconds), so a sample reads the proportional sets only when the resident sets together
exceed the peak so far: no sample that could raise the peak is skipped.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType

PROC = Path("/proc")


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it that is alive now (children of each of its threads)."""
    seen: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        seen.append(p)
        try:
            tasks = list((PROC / str(p) / "task").iterdir())
        except OSError:  # gone meanwhile
            continue
        for t in tasks:
            try:
                todo += [int(c) for c in (t / "children").read_text().split()]
            except (OSError, ValueError):
                continue
    return seen


def _field_kb(path: Path, field: str) -> int | None:
    try:
        with open(path, encoding="ascii") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def memory_bytes(pid: int) -> int:
    """A process's memory now: its proportional set size, else its resident set (the module
    docstring); 0 when it is gone."""
    kb = _field_kb(PROC / str(pid) / "smaps_rollup", "Pss:")
    if kb is None:
        kb = _field_kb(PROC / str(pid) / "status", "VmRSS:")
    return (kb or 0) * 1024


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes(pid: int) -> int | None:
    """A process's resident set now (``statm``, cheap); None when it is gone or unreadable."""
    try:
        with open(PROC / str(pid) / "statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def tree_bytes(pid: int, above: int = -1) -> tuple[int, int]:
    """The memory of ``pid`` and its descendants together, and how many processes.

    With ``above``: when their resident sets together are at most ``above``, that sum is returned
    without reading the proportional sets (their sum is lower still, so it cannot exceed
    ``above``)."""
    pids = descendants(pid)
    if above >= 0:
        rss = [resident_bytes(p) for p in pids]
        if None not in rss and sum(r or 0 for r in rss) <= above:
            return sum(r or 0 for r in rss), len(pids)
    return sum(memory_bytes(p) for p in pids), len(pids)


class TreePeak:
    """``with TreePeak(pid) as t: ...`` then ``t.peak_bytes`` (and ``t.processes``, the most
    processes seen at once)."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_bytes: int | None = None
        self.processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tree-peak", daemon=True)

    def _run(self) -> None:
        while True:
            peak = self.peak_bytes
            total, n = tree_bytes(self.pid, -1 if peak is None else peak)
            if total and (peak is None or total > peak):
                self.peak_bytes = total
            self.processes = max(self.processes, n if total else 0)
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> TreePeak:
        if (PROC / "self" / "task").is_dir():
            self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
