"""Guards against a bad month: a missing, empty or shrunken export, and months built on stale data.

A month's exports are compared, source by source, with the last published run
of the same month or, when the month was never published, of the month
before. A source that sent nothing, whose export holds no usable row, or that
lost more than ``max_shrink`` of its accepted rows stops the month before
anything is replaced, unless the operator says what to do with it:

* ``--accept-source SOURCE``: go on with what the agency sent (nothing, or the
  smaller export);
* ``--carry-forward SOURCE``: reuse the agency's rows from its latest earlier
  export, flagged as carried (``source_record.carried_from``).

:func:`stale_months` finds published months whose predecessor was published
again after them, so their ids and month-on-month changes are out of date.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datapool.connectors.specs import LABELS, SOURCES
from datapool.errors import InputError

log = logging.getLogger("datapool")

SOURCE_LABELS = LABELS


class SourceCheckFailed(InputError):
    """An agency export is missing, empty or much smaller than last time; nothing was replaced."""


@dataclass(frozen=True)
class Baseline:
    """Accepted rows per source of the run a month is compared with."""

    snapshot: str
    same_month: bool
    accepted: dict[str, int]

    def describe(self) -> str:
        """Which run this is, for messages."""
        return (
            f"the last published run of {self.snapshot}"
            if self.same_month
            else f"the previous published month, {self.snapshot}"
        )


@dataclass(frozen=True)
class SourceProblem:
    """One source that would make the month worse than the baseline."""

    source: str
    kind: str  # missing | empty | shrunk
    detail: str


def source_problems(
    files: Mapping[str, Mapping[str, Any]],
    missing: list[str],
    baseline: Baseline | None,
    max_shrink: float,
) -> list[SourceProblem]:
    """The sources of a month that are missing, empty, or shrank by more than ``max_shrink``.

    Args:
        files: per-source accounting of what was read (``accepted``, ``rows_in``, ``file``).
        missing: sources whose export is absent from the snapshot folder.
        baseline: accepted rows per source of the run compared with, if any.
        max_shrink: the largest accepted fraction of the baseline a source may lose (0.3 = 30%).
    """
    problems = []
    for source in SOURCES:
        before = baseline.accepted.get(source, 0) if baseline else 0
        since = f" ({baseline.describe()} had {before:,})" if baseline and before else ""
        if source in missing:
            problems.append(SourceProblem(source, "missing", f"sent no export{since}"))
            continue
        f = files.get(source)
        if f is None:
            continue
        name = Path(f.get("file") or source).name
        if f["accepted"] == 0:
            what = (
                "is empty"
                if f["rows_in"] == 0
                else f"has no usable row (all {f['rows_in']:,} quarantined)"
            )
            problems.append(SourceProblem(source, "empty", f"export {name} {what}{since}"))
        elif before and f["accepted"] < before * (1 - max_shrink):
            drop = 1 - f["accepted"] / before
            problems.append(
                SourceProblem(
                    source,
                    "shrunk",
                    f"export {name} holds {f['accepted']:,} usable rows, {drop:.0%} fewer than "
                    f"the {before:,} of {baseline.describe()}",  # type: ignore[union-attr]
                )
            )
    return problems


def decide(
    snapshot: str,
    problems: list[SourceProblem],
    accept: set[str],
    carry: set[str],
) -> list[str]:
    """Raise :class:`SourceCheckFailed` for problems nobody accepted; return the sources to carry.

    ``accept`` and ``carry`` may hold ``"all"``.
    """
    stop, to_carry = [], []
    for p in problems:
        label = f"{p.source} ({SOURCE_LABELS.get(p.source, p.source)})"
        if p.source in carry or "all" in carry:
            log.warning("%s: %s %s; carrying its last rows forward", snapshot, label, p.detail)
            to_carry.append(p.source)
        elif p.source in accept or "all" in accept:
            log.warning("%s: %s %s; going on as told (--accept-source)", snapshot, label, p.detail)
        else:
            stop.append((p, label))
    if stop:
        names = " ".join(p.source for p, _ in stop)
        flags = " ".join(f"--accept-source {p.source}" for p, _ in stop)
        carries = " ".join(f"--carry-forward {p.source}" for p, _ in stop)
        raise SourceCheckFailed(
            f"{snapshot} stopped before anything was replaced: "
            + "; ".join(f"{label} {p.detail}" for p, label in stop)
            + f". If this is right, re-run with {flags} to publish without "
            + ("it" if len(stop) == 1 else "them")
            + f", or with {carries} to reuse the last rows sent, flagged as carried"
            + f" (sources: {names})"
        )
    return to_carry


def carry_source_dir(input_root: Path, snapshot: str, find: Callable[[Path], Path | None]) -> Path:
    """The latest snapshot folder before ``snapshot`` in which ``find(folder)`` finds the export."""
    earlier = sorted(
        (p for p in input_root.iterdir() if p.is_dir() and len(p.name) == 7 and p.name < snapshot),
        reverse=True,
    )
    for folder in earlier:
        if find(folder) is not None:
            return folder
    raise InputError(
        f"nothing to carry forward: no snapshot folder before {snapshot} in {input_root} "
        "holds that export"
    )


@dataclass(frozen=True)
class Stale:
    """A published month whose predecessor was (re)published after it was built."""

    snapshot: str
    built_on: str | None
    predecessor: str
    reason: str


def stale_months(runs: list[dict[str, Any]]) -> list[Stale]:
    """Published months built on an older state of their predecessor.

    Args:
        runs: the latest successful run of each published month, as dicts with
            ``snapshot``, ``started_at``, ``finished_at`` and ``built_on`` (the
            previous month the run read ids and coverage from; None when it had
            none, missing when the run predates this record).
    """
    by_month = sorted(runs, key=lambda r: r["snapshot"])
    stale = []
    for prev, run in zip(by_month, by_month[1:], strict=False):
        built_on = run.get("built_on", "?")
        if built_on != "?" and built_on != prev["snapshot"]:
            stale.append(
                Stale(
                    run["snapshot"],
                    built_on,
                    prev["snapshot"],
                    f"built on {built_on or 'no earlier month'}, "
                    f"but {prev['snapshot']} is now published",
                )
            )
        elif prev["finished_at"] > run["started_at"]:
            stale.append(
                Stale(
                    run["snapshot"],
                    built_on if built_on != "?" else None,
                    prev["snapshot"],
                    f"{prev['snapshot']} was published again after it",
                )
            )
    return stale
