"""The snapshot's stages as plain functions (no Prefect here: the flow only wires them).

ingest -> resolve -> validate -> cover -> plan_visits -> publish
"""

from __future__ import annotations

import logging
import shutil
import uuid
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import polars as pl

from datapool.connectors import warehouse
from datapool.connectors.grids import GridShape
from datapool.connectors.reader import ReadResult, find_export, read_export
from datapool.connectors.specs import SOURCES, SPECS
from datapool.coverage import Coverage, diff_members, month_changes
from datapool.display import display_forms
from datapool.errors import InputError
from datapool.guards import Baseline, carry_source_dir, decide, source_problems
from datapool.matching.engine import Resolution
from datapool.schemas import expectations as ex
from datapool.schemas.offline_docs import make_offline
from datapool.schemas.records import QUARANTINE_SCHEMA, RECORD_SCHEMA, conform
from datapool.visits.maps import heatmap_html, heatmap_png
from datapool.visits.placement import place
from datapool.visits.routes import order_targets
from datapool.visits.sheets import write_sheets

log = logging.getLogger("datapool")


@dataclass
class Ingested:
    """All accepted records and quarantined rows of a snapshot, with per-file accounting."""

    records: pl.DataFrame
    quarantine: pl.DataFrame
    files: dict[str, dict] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    carried: dict[str, str] = field(default_factory=dict)

    @property
    def rows_in(self) -> int:
        """Data rows read over all files."""
        return sum(f["rows_in"] for f in self.files.values())


def read_source(snapshot_dir: Path, source: str, hmac_key: str) -> ReadResult | None:
    """Read one agency's export of a snapshot; None when the agency sent nothing."""
    spec = next(s for s in SPECS if s.source == source)
    path = find_export(snapshot_dir, spec)
    if path is None:
        log.warning(
            "%s: no %s export this month (looked for %s.{%s})",
            snapshot_dir.name,
            source,
            spec.stem,
            ",".join(spec.formats),
        )
        return None
    try:  # only a small file can be blank: a large export is not read twice
        blank = path.stat().st_size <= 4096 and not path.read_bytes().lstrip(
            b"\xef\xbb\xbf\xff\xfe \t\r\n\x00"
        )
    except OSError as exc:  # a folder, a file without read permission
        raise InputError(f"{path}: cannot read file ({exc.strerror})") from None
    if blank:
        log.warning("%s: the %s export %s is empty", snapshot_dir.name, source, path)
        return ReadResult(
            source,
            path,
            pl.DataFrame(schema=RECORD_SCHEMA),
            pl.DataFrame(schema=QUARANTINE_SCHEMA),
            note="empty file",
            physical_rows=0,
        )
    return read_export(path, spec, hmac_key)


def carry_forward(
    ing: Ingested, sources: list[str], input_root: Path, snapshot: str, hmac_key: str
) -> Ingested:
    """Replace ``sources`` in ``ing`` by their rows of the latest earlier export, flagged carried.

    Each carried source's rows keep the row numbers of the file they come from; the month that
    file belongs to is recorded in ``ing.carried`` (and ``source_record.carried_from``).
    """
    if not sources:
        return ing
    results: dict[str, ReadResult | None] = {}
    carried: dict[str, str] = {}
    for source in SOURCES:
        if source in sources:
            spec = next(s for s in SPECS if s.source == source)
            folder = carry_source_dir(input_root, snapshot, lambda d, sp=spec: find_export(d, sp))
            results[source] = read_source(folder, source, hmac_key)
            carried[source] = folder.name
    kept_recs = ing.records.filter(~pl.col("source").is_in(sources))
    kept_quar = ing.quarantine.filter(~pl.col("source").is_in(sources))
    extra = combine({s: r for s, r in results.items()})
    files = {k: v for k, v in ing.files.items() if k not in sources}
    files.update({s: {**f, "carried_from": carried[s]} for s, f in extra.files.items()})
    recs = pl.concat([kept_recs, extra.records]).sort("source", maintain_order=True).rechunk()
    return Ingested(
        recs,
        pl.concat([kept_quar, extra.quarantine]),
        files,
        [m for m in ing.missing if m not in sources],
        {**ing.carried, **carried},
    )


def combine(results: dict[str, ReadResult | None]) -> Ingested:
    """Stack the sources' records and quarantines into the canonical frames."""
    recs, quars, files, missing = [], [], {}, []
    for source, r in results.items():
        if r is None:
            missing.append(source)
            continue
        recs.append((source, conform(r.records, RECORD_SCHEMA)))
        quars.append(
            conform(r.quarantine.with_columns(pl.lit(source).alias("source")), QUARANTINE_SCHEMA)
        )
        files[source] = {
            "file": str(r.path),
            "encoding": r.encoding,
            "rows_in": r.rows_in,
            "accepted": r.records.height,
            "quarantined": r.quarantine.height,
            "physical_rows": r.physical_rows if r.physical_rows is not None else r.rows_in,
            "duplicates": r.duplicates,
            "dropped_columns": r.dropped_columns,
        }
    if not recs:
        raise InputError("no agency export found in the snapshot folder: nothing to pool")
    # stacked in source order (each export's rows are in row order), as matching wants them, and in
    # one chunk per column (row gathers are much cheaper): matching makes no sorted copy
    recs = [frame for _, frame in sorted(recs, key=lambda sr: sr[0])]
    return Ingested(pl.concat(recs, rechunk=True), pl.concat(quars), files, missing)


def ingest(snapshot_dir: Path, hmac_key: str) -> Ingested:
    """Read every agency export of one snapshot folder."""
    if not snapshot_dir.is_dir():
        raise InputError(f"snapshot folder {snapshot_dir} does not exist")
    return combine({s.source: read_source(snapshot_dir, s.source, hmac_key) for s in SPECS})


def validate(
    ing: Ingested, res: Resolution, docs_dir: Path, today: date | None = None
) -> pl.DataFrame:
    """Run every suite; raises ValidationFailed on a critical failure. Returns the results table."""
    today = today or date.today()
    v = ex.Validator(docs_dir)
    for source in sorted(ing.files):
        v.run(
            source,
            ex.source_frame(ing.records.filter(pl.col("source") == source), today),
            ex.source_checks(source),
        )
    v.run("enterprise", ex.pool_frame(res.enterprises, res.std, res.links), ex.pool_checks())
    v.run("enterprise_link", ex.links_frame(res.links), ex.links_checks(ing.records.height))
    acct = pl.DataFrame(
        [
            {
                "source": s,
                "balanced": f["rows_in"] == f["accepted"] + f["quarantined"]
                and f["rows_in"] == f["physical_rows"],
            }
            for s, f in sorted(ing.files.items())
        ]
    )
    v.run("accounting", acct, ex.accounting_checks())
    v.build_docs()
    make_offline(docs_dir)  # the CDN assets shipped beside the pages: they render offline
    v.raise_for_critical()
    return v.table()


def cover(
    res: Resolution,
    orgs: pl.DataFrame,
    members: pl.DataFrame,
    snapshot: str,
    threshold: int,
    hmac_key: str,
    previous_coverage: pl.DataFrame | None,
) -> tuple[Coverage, pl.DataFrame]:
    """The member-database diff and the month's changes."""
    cov = diff_members(res, orgs, members, snapshot, threshold, hmac_key)
    return cov, month_changes(cov.coverage, previous_coverage, threshold)


def display(res: Resolution) -> Resolution:
    """The resolution with its golden names and addresses in display form (see datapool.display)."""
    return replace(res, enterprises=display_forms(res.enterprises))


@dataclass
class VisitPlan:
    """Grid placement, route-ordered targets and the files written for grid workers."""

    placement: pl.DataFrame
    targets: pl.DataFrame
    route_stats: dict
    files: list[Path]
    unplaced: pl.DataFrame = field(default_factory=pl.DataFrame)


def plan_visits(
    res: Resolution, cov: Coverage, grids: list[GridShape], snapshot: str, folder: Path
) -> VisitPlan:
    """Place enterprises in grids, order each grid's targets into a route, write map and sheets
    into ``folder`` (the month's staging folder, see :func:`put_in_place`)."""
    placement = place(res.enterprises, grids)
    ents = res.enterprises.join(placement, on="enterprise_id")
    all_targets = ents.join(
        cov.coverage.filter(pl.col("target")).select("enterprise_id"), on="enterprise_id"
    )
    targets = all_targets.filter(pl.col("grid_id").is_not_null())
    unplaced = all_targets.filter(pl.col("grid_id").is_null()).select(
        "enterprise_id",
        "name",
        "address",
        "headcount",
        "headcount_source",
        "sources",
        "grid_method",
    )
    centroids = {g.grid_id: (g.geometry.centroid.x, g.geometry.centroid.y) for g in grids}
    ordered, stats = order_targets(
        targets.select(
            "enterprise_id",
            "grid_id",
            "name",
            "address",
            "headcount",
            "headcount_source",
            "sources",
            "lon",
            "lat",
            "grid_method",
        ),
        centroids,
    )
    html, png = folder / "heatmap.html", folder / "heatmap.png"
    heatmap_html(grids, ordered, snapshot, html)
    heatmap_png(grids, ordered, snapshot, png)
    sheets = write_sheets(ordered, grids, snapshot, folder / "visit_sheets", unplaced)
    return VisitPlan(placement, ordered, stats, [html, png, *sheets], unplaced)


def warehouse_tables(
    ing: Ingested,
    res: Resolution,
    placement: pl.DataFrame,
    cov: Coverage,
    changes: pl.DataFrame,
    plan: VisitPlan,
    validation: pl.DataFrame,
) -> dict[str, pl.DataFrame]:
    """The snapshot's rows for every warehouse table."""
    return {
        "source_record": res.std.select(
            "source",
            "source_row",
            "source_key",
            "id_clean",
            "id_kind",
            "uscc",
            "uscc_valid",
            "org_code",
            "regno",
            "name",
            "name_clean",
            "kind",
            "status",
            "active",
            "address",
            "industry",
            "headcount",
            "founded_on",
            "lon",
            "lat",
            "phone_hash",
            "account",
            "extra",
            pl.when(pl.col("source").is_in(list(ing.carried)))
            .then(pl.col("source").replace_strict(ing.carried, default=None))
            .otherwise(None)
            .alias("carried_from"),
        ),
        "quarantine": ing.quarantine.sort("source", "source_row"),
        "enterprise_link": res.links,
        "enterprise": res.enterprises.join(placement, on="enterprise_id", how="left"),
        "union_coverage": cov.coverage,
        "union_orphan": cov.orphans,
        "union_change": changes,
        "member_link": cov.member_links,
        "visit_target": plan.targets.select(
            "enterprise_id",
            "grid_id",
            "route_order",
            "headcount",
            "name",
            "address",
            "distance_to_next_m",
            pl.col("grid_method").alias("placed_by"),
        ),
        "validation_result": validation,
        "match_weight": res.weights.rows(),
    }


def month_context(engine, snapshot: str) -> tuple[Baseline | None, str | None]:  # noqa: ANN001
    """What a month is checked against and built on.

    Returns the baseline its sources are compared with (the last published run of the month,
    else of the month before) and the previous published month its ids and changes come from.
    """
    found = warehouse.source_baseline(engine, snapshot)
    baseline = Baseline(*found) if found else None
    return baseline, warehouse.previous_snapshot(engine, snapshot)


def check_sources(
    ing: Ingested,
    baseline: Baseline | None,
    snapshot: str,
    input_root: Path,
    settings_max_shrink: float,
    accept: list[str] | None,
    carry: list[str] | None,
    hmac_key: str,
) -> Ingested:
    """Stop the month on a missing, empty or shrunken export nobody accepted; carry what's asked."""
    problems = source_problems(ing.files, ing.missing, baseline, settings_max_shrink)
    to_carry = decide(snapshot, problems, set(accept or ()), set(carry or ()))
    ing = carry_forward(ing, to_carry, input_root, snapshot, hmac_key)
    if to_carry:  # a carried export is checked like any other (it may be the empty one)
        problems = source_problems(ing.files, ing.missing, None, settings_max_shrink)
        decide(snapshot, [p for p in problems if p.source in to_carry], set(accept or ()), set())
    return ing


def previous_state(
    engine, snapshot: str
) -> tuple[str | None, pl.DataFrame | None, pl.DataFrame | None]:  # noqa: ANN001
    """The previous published snapshot, its crosswalk (links) and coverage (all None if none)."""
    prev = warehouse.previous_snapshot(engine, snapshot)
    if prev is None:
        return None, None, None
    return (
        prev,
        warehouse.read_table(engine, "enterprise_link", prev),
        warehouse.read_table(engine, "union_coverage", prev),
    )


def staging_folder(out_dir: Path, snapshot: str) -> Path:
    """A fresh folder beside the month's output folder, where a run writes its files until the
    warehouse has taken the month (:func:`put_in_place`)."""
    folder = out_dir / f".{snapshot}.staging-{uuid.uuid4().hex[:12]}"
    folder.mkdir(parents=True)
    return folder


def put_in_place(staging: Path, out_dir: Path, snapshot: str) -> Path:
    """Make ``staging`` the month's output folder, after the warehouse commit.

    The previous folder is renamed aside and removed only once the new one is in place, so the
    month's folder always holds one run's complete files, never a mix (a sheet of a grid that
    has no targets any more does not stay behind).
    """
    final = out_dir / snapshot
    old = out_dir / f".{snapshot}.old-{uuid.uuid4().hex[:12]}"
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def discard(staging: Path) -> None:
    """Remove a staging folder of a run that did not publish."""
    shutil.rmtree(staging, ignore_errors=True)
