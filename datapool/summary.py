"""A run's summary as data, and its two renderings: the CLI's line and Prefect's artifacts.

The flow builds a :class:`RunSummary` from the stages' results; its ``counts`` are what
``pipeline_run.counts`` records. The CLI prints :meth:`RunSummary.line`; the flow publishes
:meth:`RunSummary.markdown` and :attr:`RunSummary.top_targets` as Prefect artifacts. Agency text
(street names, enterprise names) reaches the Markdown only escaped, so it stays inert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict

import polars as pl

from datapool.coverage import Coverage
from datapool.inert import markdown_text
from datapool.matching.engine import Resolution
from datapool.stages import FileCount, Ingested, VisitPlan
from datapool.visits.routes import RouteStats

TOP_TARGETS = 20  # targets in the run's "largest targets" table


class RunCounts(TypedDict):
    """The run's figures, as ``pipeline_run.counts`` records them (JSON)."""

    files: dict[str, FileCount]
    missing_sources: list[str]
    carried: dict[str, str]
    records: int
    candidate_pairs: int
    accepted_pairs: int
    links_kept: int
    enterprises: int
    weight_threshold: float | None
    links_by_rule: dict[str, int]
    validation_warnings: int
    targets: int
    covered: int
    orphans: int
    placed: int
    unplaced: int
    unplaced_targets: int
    unplaced_target_reasons: dict[str, int]
    grids_with_targets: int
    route_m: int
    unordered_m: int
    route_saving_grids_3plus: float | None
    route_saving_grids_4plus: float | None
    changes: dict[str, int]
    built_on: str | None
    visit_records: NotRequired[dict[str, Any]]  # visits/records.py: VisitLoop.counts()
    review: NotRequired[dict[str, Any]]  # review figures (datapool/review.py: month_figures)


def _visits_part(v: dict[str, Any] | None) -> str:
    """The visit records' part of the CLI line (none when the month had no visit_records/)."""
    if not v or not v.get("files"):
        return ""
    return (
        f"; visit records: {v['accepted']} linked, {v['quarantined']} quarantined "
        f"({v['observed_closed']} closed, {v['observed_headcount']} headcounts, "
        f"{v['union_on_visit']} unions seen on visits in force)"
    )


class TopTarget(TypedDict):
    """One row of the largest targets without a union."""

    enterprise_id: str
    name: str
    grid_id: str
    headcount: int | None


def _review_line(review: dict[str, Any] | None) -> str:
    """People's decisions in this run: how many held, and why the others could not."""
    if not review:
        return ""
    held = review.get("enforced") or {}
    line = (
        f"\nreview: {review.get('waiting', 0)} pairs waiting; {held.get('applicable', 0)} "
        f"decisions on this month's rows, {held.get('same_held', 0)} same and "
        f"{held.get('different_held', 0)} different held"
    )
    refused = held.get("refused") or {}
    if refused:
        line += "; same not applied, identifier constraints win: " + ", ".join(
            f"{n} ({why})" for why, n in refused.items()
        )
    return line


@dataclass(frozen=True)
class RunSummary:
    """What a published run reports: its counts, targets per street and the largest targets.

    Attributes:
        snapshot: the month, ``YYYY-MM``.
        counts: the run's figures (``pipeline_run.counts``).
        streets: (street, targets) pairs, most targets first.
        top_targets: the largest targets without a union, largest first.
    """

    snapshot: str
    counts: RunCounts
    streets: list[tuple[str, int]] = field(default_factory=list)
    top_targets: list[TopTarget] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        """Data rows read over all files."""
        return sum(f["rows_in"] for f in self.counts["files"].values())

    @property
    def quarantined(self) -> int:
        """Rows put in quarantine over all files."""
        return sum(f["quarantined"] for f in self.counts["files"].values())

    def line(self) -> str:
        """The summary the CLI prints: one line, and the match weights' threshold when learned."""
        c, rows_in, quarantined = self.counts, self.rows_in, self.quarantined
        threshold = c["weight_threshold"]
        text = (
            f"{self.snapshot}: {rows_in} rows in, {rows_in - quarantined} accepted, "
            f"{quarantined} quarantined; {c['enterprises']} enterprises; {c['targets']} targets "
            f"in {c['grids_with_targets']} grids; {c['orphans']} orphan union records"
            + (
                f"; {c['unplaced_targets']} targets in no grid (listed with the reason in "
                f"visit_sheets/{self.snapshot}_未落格目标.xlsx)"
                if c["unplaced_targets"]
                else ""
            )
            + (
                f"; {c['validation_warnings']} validation warnings"
                if c["validation_warnings"]
                else ""
            )
            + _visits_part(c.get("visit_records"))
        ) + (
            f"\nmatch weights: threshold {threshold:+.1f} "
            "(every level's weight in the warehouse table match_weight)"
            if threshold is not None
            else ""
        )
        return text + _review_line(c.get("review"))

    def markdown(self) -> str:
        """The run's Markdown artifact; every name from an input is escaped."""
        c = self.counts
        warnings = c["validation_warnings"]
        lines = [
            f"# datapool snapshot {self.snapshot}",
            "",
            "| source | rows in | accepted | quarantined |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {markdown_text(s)} | {f['rows_in']} | {f['accepted']} | {f['quarantined']} |"
            for s, f in sorted(c["files"].items())
        ]
        lines += [f"| (missing) {markdown_text(s)} | 0 | 0 | 0 |" for s in c["missing_sources"]]
        lines += [
            "",
            f"**Enterprises:** {c['enterprises']} · **candidate pairs:** {c['candidate_pairs']}",
            "",
            "Links by rule: " + ", ".join(f"{k} {v}" for k, v in c["links_by_rule"].items()),
            "",
            f"**Validation:** {f'{warnings} warnings' if warnings else 'all passed'}",
            "",
            f"**Targets:** {c['targets']} · covered {c['covered']} · "
            f"orphan union records {c['orphans']}",
            "",
            f"**Unplaced targets (未落格目标):** {c['unplaced_targets']}"
            + "".join(
                f" · {markdown_text(k)}: {v}" for k, v in c["unplaced_target_reasons"].items()
            ),
            "",
            "| street | targets |",
            "|---|---|",
        ]
        lines += [f"| {markdown_text(street)} | {n} |" for street, n in self.streets]
        return "\n".join(lines)


def summarise(
    snapshot: str,
    ing: Ingested,
    res: Resolution,
    cov: Coverage,
    plan: VisitPlan,
    validation: pl.DataFrame,
    changes: pl.DataFrame,
    street_of: dict[str, str],
    built_on: str | None = None,
) -> RunSummary:
    """The run's summary from the stages' results.

    ``street_of`` maps a grid id to its street; ``built_on`` is the previous published month the
    run took its ids and changes from.
    """
    rules = dict(res.links.group_by("rule").len().sort("rule").iter_rows())
    warnings = validation.filter(~pl.col("success")).height if validation.height else 0
    placed = plan.placement.filter(pl.col("grid_id").is_not_null()).height
    stats = plan.route_stats
    counts: RunCounts = {
        "files": ing.files,
        "missing_sources": ing.missing,
        "carried": ing.carried,
        "records": res.counts["records"],
        "candidate_pairs": res.counts["candidate_pairs"],
        "accepted_pairs": res.counts["accepted_pairs"],
        "links_kept": res.counts["links_kept"],
        "enterprises": res.counts["enterprises"],
        "weight_threshold": res.counts["weight_threshold"],
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
        "route_m": round(sum(s["route_m"] for s in stats.values())),
        "unordered_m": round(sum(s["unordered_m"] for s in stats.values())),
        "route_saving_grids_3plus": mean_saving(stats, 3),
        "route_saving_grids_4plus": mean_saving(stats, 4),
        "changes": dict(changes.group_by("change").len().sort("change").iter_rows())
        if changes.height
        else {},
        "built_on": built_on,
    }
    return RunSummary(snapshot, counts, _streets(plan, street_of), _top_targets(plan))


def mean_saving(stats: dict[str, RouteStats], min_stops: int) -> float | None:
    """Mean per-grid saving of the route over the unordered list, over grids with ``min_stops``+."""
    savings = [
        1 - v["route_m"] / v["unordered_m"]
        for v in stats.values()
        if v["stops"] >= min_stops and v["unordered_m"] > 0
    ]
    return round(sum(savings) / len(savings), 4) if savings else None


def _streets(plan: VisitPlan, street_of: dict[str, str]) -> list[tuple[str, int]]:
    if not plan.targets.height:
        return []
    streets = (
        plan.targets.select(
            pl.col("grid_id").replace_strict(street_of, default="?").alias("street")
        )
        .group_by("street")
        .len()
        .sort(["len", "street"], descending=[True, False])
    )
    return [(str(street), int(n)) for street, n in streets.iter_rows()]


def _top_targets(plan: VisitPlan) -> list[TopTarget]:
    top = (
        plan.targets.sort("headcount", descending=True)
        .head(TOP_TARGETS)
        .select("enterprise_id", "name", "grid_id", "headcount")
    )
    return [
        TopTarget(enterprise_id=e, name=n, grid_id=g, headcount=h) for e, n, g, h in top.iter_rows()
    ]
