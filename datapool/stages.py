"""The snapshot's stages as plain functions (no Prefect here: the flow only wires them).

ingest -> resolve -> validate -> cover -> plan_visits -> publish
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import polars as pl
import sqlalchemy as sa

from datapool import scratch, validation_process
from datapool.connectors import staging, warehouse
from datapool.connectors.grids import GridShape
from datapool.connectors.grids import read_grids as read_grids_file
from datapool.connectors.members import read_members_beside as read_member_db
from datapool.connectors.reader import ReadResult, find_export, read_export
from datapool.connectors.specs import SOURCES, SPECS
from datapool.connectors.warehouse import RunRecord
from datapool.coverage import Coverage, diff_members, month_changes
from datapool.display import display_forms
from datapool.errors import DatapoolError, InputError
from datapool.guards import Baseline, carry_source_dir, decide, source_problems
from datapool.matching.blocking import KEY_COLUMNS
from datapool.matching.clusters import APART_COLUMN
from datapool.matching.engine import Resolution
from datapool.matching.scoring import PREPARED_FROM
from datapool.schemas import expectations as ex
from datapool.schemas.records import QUARANTINE_SCHEMA, RECORD_SCHEMA, conform
from datapool.settings import Settings
from datapool.stageclock import record as record_stage
from datapool.visits import files as visit_files
from datapool.visits import records as visit_records
from datapool.visits.groups import JointGroups, joint_groups
from datapool.visits.placement import place
from datapool.visits.records import VisitFiles, VisitLoop
from datapool.visits.routes import RouteStats, order_targets
from datapool.visits.weekly import Cadence, plan_weeks, watch_list

log = logging.getLogger("datapool")


class FileCount(TypedDict):
    """One export's accounting: ``rows_in == accepted + quarantined == physical_rows``.

    ``physical_rows`` counts the file's records apart from the parser; ``duplicates`` are rows
    quarantined as repeats; ``dropped_columns`` the extra columns not kept; ``carried_from``
    names the month whose export was carried forward in its place, if any.
    """

    file: str
    encoding: str
    rows_in: int
    accepted: int
    quarantined: int
    physical_rows: int
    duplicates: int
    dropped_columns: list[str]
    carried_from: NotRequired[str]


@dataclass
class Ingested:
    """All accepted records and quarantined rows of a snapshot, with per-file accounting."""

    records: pl.DataFrame
    quarantine: pl.DataFrame
    files: dict[str, FileCount] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    carried: dict[str, str] = field(default_factory=dict)

    @property
    def rows_in(self) -> int:
        """Data rows read over all files."""
        return sum(f["rows_in"] for f in self.files.values())


def snapshot_dir(settings: Settings, snapshot: str) -> Path:
    """The folder of ``snapshot`` under the input root; InputError when there is none."""
    folder = settings.input_root / snapshot
    if not folder.is_dir():
        raise InputError(f"snapshot folder {folder} does not exist")
    return folder


def read_source(settings: Settings, snapshot: str, source: str) -> ReadResult | None:
    """Read one agency's export of a snapshot; None when the agency sent nothing.

    An export without a byte of data (a BOM or blank space at most) reads as no rows.
    """
    spec = next(s for s in SPECS if s.source == source)
    snapshot_dir = settings.input_root / snapshot
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
    return read_export(path, spec, settings.hmac_key.get_secret_value())


def carry_forward(settings: Settings, snapshot: str, ing: Ingested, sources: list[str]) -> Ingested:
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
            folder = carry_source_dir(
                settings.input_root, snapshot, partial(find_export, spec=spec)
            )
            results[source] = read_source(settings, folder.name, source)
            carried[source] = folder.name
    kept_recs = ing.records.filter(~pl.col("source").is_in(sources))
    kept_quar = ing.quarantine.filter(~pl.col("source").is_in(sources))
    extra = combine(dict(results.items()))
    files = {k: v for k, v in ing.files.items() if k not in sources}
    files.update({s: FileCount(**f, carried_from=carried[s]) for s, f in extra.files.items()})
    recs = pl.concat([kept_recs, extra.records]).sort("source", maintain_order=True).rechunk()
    return Ingested(
        recs,
        pl.concat([kept_quar, extra.quarantine]),
        files,
        [m for m in ing.missing if m not in sources],
        {**ing.carried, **carried},
    )


def combine(results: dict[str, ReadResult | None]) -> Ingested:
    """Stack the sources' records and quarantines into the canonical frames.

    The results are handed over: each one's records are let go as they are stacked (their
    ``records`` left without rows), so that the month's records are not held twice at the end of
    reading."""
    recs: list[tuple[str, pl.DataFrame]] = []
    quars: list[pl.DataFrame] = []
    files: dict[str, FileCount] = {}
    missing: list[str] = []
    for source, r in results.items():
        if r is None:
            missing.append(source)
            continue
        recs.append((source, conform(r.records, RECORD_SCHEMA)))
        quars.append(
            conform(r.quarantine.with_columns(pl.lit(source).alias("source")), QUARANTINE_SCHEMA)
        )
        files[source] = FileCount(
            file=str(r.path),
            encoding=r.encoding,
            rows_in=r.rows_in,
            accepted=r.records.height,
            quarantined=r.quarantine.height,
            physical_rows=r.physical_rows if r.physical_rows is not None else r.rows_in,
            duplicates=r.duplicates,
            dropped_columns=r.dropped_columns,
        )
    if not recs:
        raise InputError("no agency export found in the snapshot folder: nothing to pool")
    # stacked in source order (each export's rows are in row order), as matching wants them, and in
    # one chunk per column (row gathers are much cheaper): matching makes no sorted copy
    frames = [frame for _, frame in sorted(recs, key=lambda sr: sr[0])]
    del recs
    for r in results.values():
        if r is not None:
            r.records = r.records.clear()
    return Ingested(stacked(frames), pl.concat(quars), files, missing)


def stacked(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """``pl.concat(frames, rechunk=True)`` a column at a time: each frame's column is let go once
    it is stacked (``frames`` is emptied), so the rows are held about once, not twice."""
    columns = []
    for name in frames[0].columns:
        columns.append(pl.concat([f.get_column(name) for f in frames], rechunk=True))
        frames[:] = [f.drop(name) for f in frames]
    frames.clear()
    return pl.DataFrame(columns)


def read_sources(
    settings: Settings, snapshot: str, sources: tuple[str, ...]
) -> dict[str, ReadResult | None]:
    """Each source's export of ``snapshot``, read one after the other."""
    return {source: read_source(settings, snapshot, source) for source in sources}


ReadAll = Callable[[Settings, str, tuple[str, ...]], dict[str, ReadResult | None]]


def ingest(settings: Settings, snapshot: str, read_all: ReadAll = read_sources) -> Ingested:
    """Read every agency export of one snapshot folder.

    ``read_all`` reads the exports (:func:`read_source` per source); the Prefect flow passes one
    that reads them as tasks. The checks (folder present, some export found) are made here.
    """
    snapshot_dir(settings, snapshot)
    return combine(read_all(settings, snapshot, SOURCES))


def validate(
    ing: Ingested, res: Resolution, docs_dir: Path, today: date | None = None
) -> pl.DataFrame:
    """Run every suite; raises ValidationFailed on a critical failure. Returns the results table.

    The frames the suites read are made here; they are validated by the checker process of
    ``docs_dir`` when the run started one (:func:`start_validation`), in place otherwise."""
    return check(validation_suites(ing, res, today or date.today()), docs_dir)


def check(
    suites: list[validation_process.Suite],
    docs_dir: Path,
    then: Callable[[], object] | None = None,
) -> pl.DataFrame:
    """:func:`validate` on suites already made (:func:`validation_suites`): the flow makes them
    before it lets the records go (:func:`let_go`) and has them checked beside the stages
    after. ``then`` is called when the checker process this process started has answered and
    the month passed (the flow starts the visit files' process there: the checker's memory is
    gone by then); not when validation runs in place (no checker was started here: a test, a
    library caller, a Dask worker)."""
    if not validation_process.started(docs_dir):
        return validation_process.run_suites(suites, docs_dir)
    table, fig = validation_process.check(suites, docs_dir)
    if then is not None:
        then()
    record_stage(
        "validation (beside member diff and visit planning, own process)",
        fig.seconds,
        fig.cpu_seconds,
        fig.peak_bytes,
    )
    return table


def validation_suites(
    ing: Ingested, res: Resolution, today: date
) -> list[validation_process.Suite]:
    """Every suite of the month, in order, prepared for the validation process: the every-row
    checks measured here, the other checks' frame cut to what they read (a sample of a large
    one; :func:`datapool.schemas.expectations.prepare`)."""
    suites = [
        ex.prepare(
            source,
            ing.records.lazy()
            .filter(pl.col("source") == source)
            .select(ex.SOURCE_COLUMNS)
            .collect(),  # the columns read, not a copy of the source's whole records
            ex.source_checks(source),
            derive=lambda f: ex.source_frame(f, today),
        )
        for source in sorted(ing.files)
    ]
    suites.append(
        ex.prepare(
            "enterprise", ex.pool_frame(res.enterprises, res.std, res.links), ex.pool_checks()
        )
    )
    suites.append(
        ex.prepare(
            "enterprise_link",
            ex.links_frame(res.links),
            ex.links_checks(ing.records.height),
            derived=ex.LINK_KEYS,
        )
    )
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
    suites.append(ex.prepare("accounting", acct, ex.accounting_checks()))
    return suites


def start_validation(docs_dir: Path) -> None:
    """Start the process that will validate the month and write its Data Docs into ``docs_dir``
    (Great Expectations' import overlaps the member diff; :func:`discard` stops it when the run
    fails)."""
    validation_process.start(docs_dir)


def cover(
    settings: Settings,
    snapshot: str,
    res: Resolution,
    orgs: pl.DataFrame,
    members: pl.DataFrame,
    previous_coverage: pl.DataFrame | None,
    visits: VisitLoop | None = None,
) -> tuple[Coverage, pl.DataFrame]:
    """The member-database diff and the month's changes, with the visits' effects (``res``
    already holds their observed headcounts, see :func:`link_visits`)."""
    key, threshold = settings.hmac_key.get_secret_value(), settings.threshold
    cov = diff_members(res, orgs, members, snapshot, threshold, key)
    cov = replace(cov, coverage=visit_records.apply_to_coverage(cov.coverage, visits))
    changes = month_changes(cov.coverage, previous_coverage, threshold)
    extra = visit_records.visit_changes(visits, cov.coverage, previous_coverage)
    if extra.height:
        changes = pl.concat([changes, extra]).sort("enterprise_id", "change")
    return cov, changes


def read_visits(settings: Settings, snapshot: str) -> VisitFiles:
    """The month's 三查三记 records (``<snapshot>/visit_records/``; none when absent)."""
    return visit_records.read_visit_files(
        settings.input_root / snapshot, settings.hmac_key.get_secret_value()
    )


def visit_history(settings: Settings, snapshot: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The visit records published for the months before ``snapshot``, and the merges
    (``enterprise_alias``, ``why = 'merged'``) published for those months."""
    engine = warehouse_engine(settings)
    return (
        visit_records.earlier_records(engine, snapshot),
        visit_records.published_merges(engine, snapshot),
    )


def link_visits(
    snapshot: str,
    files: VisitFiles,
    earlier: tuple[pl.DataFrame, pl.DataFrame] | None,
    res: Resolution,
    previous_links: pl.DataFrame | None = None,
) -> tuple[Resolution, VisitLoop]:
    """Link the month's records to the pool; the resolution with their effects on enterprises
    (observed status, observed headcount) and the loop (records, quarantine, effects).

    ``earlier`` is :func:`visit_history`'s; with ``previous_links`` (the month before's
    crosswalk) the ids this month merges into others are followed too, as the published
    merges are (:func:`datapool.visits.records.follow_merges`).
    """
    from datapool.matching.ids import aliases

    records, published = earlier if earlier is not None else (None, None)
    merges = visit_records.merges_so_far(
        published if published is not None else pl.DataFrame(schema=visit_records.MERGE_SCHEMA),
        aliases(previous_links, res.links),
        snapshot,
    )
    loop = visit_records.link_visits(snapshot, files, res, records, merges)
    return replace(res, enterprises=visit_records.apply_to_enterprises(res.enterprises, loop)), loop


def follow_ups(loop: VisitLoop) -> pl.DataFrame:
    """The enterprises the visits ask to see again (``enterprise_id``, ``record_id``,
    ``visited_on``): a concern or need recorded at their latest visit, not found closed
    (:func:`datapool.visits.records.follow_ups`); the planner keeps those placed in a grid."""
    return visit_records.follow_ups(loop.history)


def visit_tables(
    tables: dict[str, pl.DataFrame],
    loop: VisitLoop,
    cov: Coverage,
    changes: pl.DataFrame,
    placement: pl.DataFrame,
    previous_coverage: pl.DataFrame | None,
) -> dict[str, pl.DataFrame]:
    """``tables`` with the month's ``visit_record`` and ``grid_month`` rows, and the visit rows
    turned away added to ``quarantine``."""
    quarantine = pl.concat([tables["quarantine"], loop.quarantine], how="diagonal_relaxed")
    return {
        **tables,
        "quarantine": quarantine,
        "visit_record": loop.records,
        "grid_month": visit_records.grid_month(
            loop, cov.coverage, changes, placement, previous_coverage
        ),
    }


def display(res: Resolution) -> Resolution:
    """The resolution with its golden names and addresses in display form (see datapool.display)."""
    return replace(res, enterprises=display_forms(res.enterprises))


@dataclass
class VisitPlan:
    """Grid placement, route-ordered targets and the files written for grid workers."""

    placement: pl.DataFrame
    targets: pl.DataFrame
    route_stats: dict[str, RouteStats]
    files: list[Path]
    unplaced: pl.DataFrame = field(default_factory=pl.DataFrame)
    weekly: pl.DataFrame = field(default_factory=pl.DataFrame)  # visit_plan (visits/weekly.py)
    groups: JointGroups | None = None  # joint-union groups of small employers (visits/groups.py)
    # what write_visit_files writes: the sheets' and phone pages' stops, the groups' members, and
    # the visit history the pages show
    sheet_rows: pl.DataFrame = field(default_factory=pl.DataFrame)
    page_rows: pl.DataFrame = field(default_factory=pl.DataFrame)
    group_members: pl.DataFrame = field(default_factory=pl.DataFrame)
    visit_history: pl.DataFrame | None = None


def plan_visits(
    res: Resolution,
    cov: Coverage,
    grids: list[GridShape],
    snapshot: str,
    folder: Path,
    settings: Settings | None = None,
    previous_coverage: pl.DataFrame | None = None,
    follow_ups: pl.DataFrame | None = None,
    visit_history: pl.DataFrame | None = None,
    write_files: bool = True,
) -> VisitPlan:
    """Place enterprises in grids, order each grid's targets into a route, plan the month's
    weeks (``visit_plan``), write map and sheets into ``folder`` (the month's staging folder,
    see :func:`put_in_place`).

    ``settings`` gives the threshold, the cadence (outings per week, stops per outing) and the
    watch list's margin (defaults when None); ``previous_coverage`` is the previous month's
    ``union_coverage`` (the watch list's growth); ``follow_ups`` the enterprises to visit
    again (``enterprise_id``), planned after the targets (see
    :func:`datapool.visits.weekly.plan_weeks`); ``visit_history`` the visit_record rows of every
    month so far, shown in each enterprise's file on the phone pages (None: no visits shown; see
    :func:`datapool.visits.phone.write_route_pages`). With ``write_files`` False the map, sheets
    and pages are left to :func:`write_visit_files` (the flow writes them beside publishing,
    which waits for them before it commits).
    """
    cfg = settings or Settings()
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
    watch = watch_list(
        visit_records.in_operation(res.enterprises),  # none a visit found closed, moved, gone
        cov.coverage,
        previous_coverage,
        snapshot,
        cfg.threshold,
        cfg.watch_margin,
    )
    weekly = plan_weeks(
        ents,
        targets,
        watch,
        centroids,
        snapshot,
        Cadence(cfg.outings_per_week, cfg.stops_per_outing),
        follow_ups=follow_ups,
    )
    groups = joint_groups(
        visit_records.in_operation(ents), cov.coverage, {g.grid_id: g.street for g in grids}
    )
    group_members = groups.members.join(
        ents.select("enterprise_id", "name", "address"), on="enterprise_id", how="left"
    )
    detail = weekly.join(
        ents.select("enterprise_id", "name", "address", "headcount", "headcount_source", "sources"),
        on="enterprise_id",
        how="left",
    )
    page_rows = weekly.join(
        ents.select(
            "enterprise_id",
            "name",
            "address",
            "headcount",
            "headcount_source",
            "status",
            "status_source",
            "industry",
            "founded_on",
            "sources",
            "lon",
            "lat",
        ),
        on="enterprise_id",
        how="left",
    ).join(
        cov.coverage.select("enterprise_id", "covered", "union_id", "members"),
        on="enterprise_id",
        how="left",
    )
    plan = VisitPlan(
        placement,
        ordered,
        stats,
        [],
        unplaced,
        weekly,
        groups=groups,
        sheet_rows=detail,
        page_rows=page_rows,
        group_members=group_members,
        visit_history=visit_history,
    )
    if write_files:
        plan.files = write_visit_files(plan, grids, snapshot, folder)
    return plan


def write_visit_files(
    plan: VisitPlan, grids: list[GridShape], snapshot: str, folder: Path
) -> list[Path]:
    """The heat map (HTML and PNG), the visit sheets and the phone pages of ``plan``, written
    into ``folder`` by a process of their own (:mod:`datapool.visits.files`: beside publishing,
    on the other core); this waits for them."""
    job = visit_files.FileJob(
        grids,
        snapshot,
        folder,
        targets=plan.targets,
        unplaced=plan.unplaced,
        sheet_rows=plan.sheet_rows,
        page_rows=plan.page_rows,
        group_members=plan.group_members,
        groups=plan.groups.groups if plan.groups is not None else None,
        visit_history=plan.visit_history,
    )
    paths, fig = visit_files.write_beside(job)
    record_stage(
        "visit files (beside publishing, own process)", fig.seconds, fig.cpu_seconds, fig.peak_bytes
    )
    return paths


def start_visit_files(staging: Path) -> None:
    """Start the process that will write the month's visit files into ``staging`` (its imports
    overlap the stages before publishing: the flow starts it when validation has answered, see
    :func:`check`); :func:`discard` stops it when the run fails."""
    visit_files.start(staging)


def early_tables(ing: Ingested, res: Resolution) -> dict[str, pl.DataFrame]:
    """The rows of ``source_record``, ``quarantine`` and ``enterprise_link``: final as soon as
    matching is done (visit records and display forms change only enterprises)."""
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
    }


def write_rows_ahead(
    settings: Settings, snapshot: str, run_id: str, early: dict[str, pl.DataFrame]
) -> dict[str, pl.DataFrame]:
    """Have a process of their own write ``early``'s rows ahead for publishing, on the other
    core, while the stages after matching run (a SQLite warehouse; another has them parked in
    the output folder and read back by publishing; see :mod:`datapool.connectors.staging`).
    Publishing copies them in its transaction.

    Returns the tables to hand to publishing: for a table written ahead, its stand-in (no rows:
    the run need not hold them to the end), else the frame itself."""
    return staging.start(
        settings.warehouse_url.get_secret_value(), snapshot, run_id, early, settings.out_dir
    )


# the standardised columns the stages after matching read: look-ups (the visit records', the
# member diff's) and the review queue block and score pairs again (matching/lookup.py,
# matching/review.py); the rows' keys, and the cannot-link labels of people's decisions
HELD_COLUMNS = tuple(
    dict.fromkeys(
        ("rid", "source", "source_row", "source_key", *KEY_COLUMNS, *PREPARED_FROM, APART_COLUMN)
    )
)


def let_go(ing: Ingested, res: Resolution) -> tuple[Ingested, Resolution]:
    """The month as the stages after matching need it, once ``source_record``'s rows are made
    (:func:`early_tables`, written ahead) and validation's frames too: of the records their keys
    only (their number and order), of the standardised rows the columns of
    :data:`HELD_COLUMNS`. The records' other columns (names and addresses as written, ``extra``,
    ``account``, the identifiers as given...) were otherwise held to the end of the run, by the
    records and the standardised rows both: about a fifth of the month held."""
    keep = [c for c in res.std.columns if c in HELD_COLUMNS]
    return (
        replace(ing, records=ing.records.select("source", "source_row")),
        replace(res, std=res.std.select(keep)),
    )


def warehouse_tables(
    ing: Ingested,
    res: Resolution,
    placement: pl.DataFrame,
    cov: Coverage,
    changes: pl.DataFrame,
    plan: VisitPlan,
    validation: pl.DataFrame,
    early: dict[str, pl.DataFrame] | None = None,
) -> dict[str, pl.DataFrame]:
    """The snapshot's rows for every warehouse table; ``early``: those of :func:`early_tables`,
    made before (the frames written ahead, see :func:`write_rows_ahead`)."""
    return {
        **(early if early is not None else early_tables(ing, res)),
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
        "visit_plan": plan.weekly,
        "validation_result": validation,
        "match_weight": res.weights.rows(),
        **joint_group_tables(plan.groups),
    }


def joint_group_tables(groups: JointGroups | None) -> dict[str, pl.DataFrame]:
    """``joint_group`` and ``joint_group_member`` rows (none when the plan made no groups)."""
    if groups is None:
        return {}
    return {"joint_group": groups.groups, "joint_group_member": groups.members}


def enterprise_aliases(previous: pl.DataFrame | None, res: Resolution) -> pl.DataFrame:
    """``enterprise_alias``: the previous month's ids merged into another, and split-off parts."""
    from datapool.matching.ids import aliases

    return aliases(previous, res.links)


def warehouse_engine(settings: Settings) -> sa.Engine:
    """An engine on the settings' warehouse (tables created when missing)."""
    return warehouse.engine_for(settings.warehouse_url.get_secret_value(), settings.lock_timeout)


def read_members(settings: Settings) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The member database's organisations and joint-union members (read-only; a large database
    in a process of its own, beside the run)."""
    return read_member_db(settings.members_url.get_secret_value())


def read_grids(settings: Settings) -> list[GridShape]:
    """The grids the visits are planned in."""
    return read_grids_file(settings.grids_path)


def month_context(settings: Settings, snapshot: str) -> tuple[Baseline | None, str | None]:
    """What a month is checked against and built on.

    Returns the baseline its sources are compared with (the last published run of the month,
    else of the month before) and the previous published month its ids and changes come from.
    """
    engine = warehouse_engine(settings)
    found = warehouse.source_baseline(engine, snapshot)
    baseline = Baseline(*found) if found else None
    return baseline, warehouse.previous_snapshot(engine, snapshot)


def check_sources(
    settings: Settings,
    snapshot: str,
    ing: Ingested,
    baseline: Baseline | None,
    accept: list[str] | None,
    carry: list[str] | None,
) -> Ingested:
    """Stop the month on a missing, empty or shrunken export nobody accepted; carry what's asked."""
    max_shrink = settings.max_shrink
    problems = source_problems(ing.files, ing.missing, baseline, max_shrink)
    to_carry = decide(snapshot, problems, set(accept or ()), set(carry or ()))
    ing = carry_forward(settings, snapshot, ing, to_carry)
    if to_carry:  # a carried export is checked like any other (it may be the empty one)
        problems = source_problems(ing.files, ing.missing, None, max_shrink)
        decide(snapshot, [p for p in problems if p.source in to_carry], set(accept or ()), set())
    return ing


def previous_state(
    settings: Settings, snapshot: str
) -> tuple[str | None, pl.DataFrame | None, pl.DataFrame | None]:
    """The previous published snapshot, its crosswalk (links) and coverage (all None if none)."""
    engine = warehouse_engine(settings)
    prev = warehouse.previous_snapshot(engine, snapshot)
    if prev is None:
        return None, None, None
    links = warehouse.read_table(engine, "enterprise_link", prev)
    seen = warehouse.first_seen(engine, prev)  # a merge keeps the older id (matching/ids.py)
    return (
        prev,
        links.join(seen, on="enterprise_id", how="left") if seen.height else links,
        warehouse.read_table(engine, "union_coverage", prev),
    )


def staging_folder(out_dir: Path, snapshot: str) -> Path:
    """A fresh folder beside the month's output folder, where a run writes its files until the
    warehouse has taken the month (:func:`put_in_place`). Folders of either kind left by runs
    killed outright are removed first (:mod:`datapool.scratch`)."""
    for kind in ("staging", "old"):
        scratch.sweep(out_dir, f".{snapshot}.{kind}-")
    folder = out_dir / scratch.owned_name(f".{snapshot}.staging-")
    folder.mkdir(parents=True)
    return folder


def put_in_place(staging: Path, out_dir: Path, snapshot: str) -> Path:
    """Make ``staging`` the month's output folder, after the warehouse commit.

    The previous folder is renamed aside and removed only once the new one is in place, so the
    month's folder always holds one run's complete files, never a mix (a sheet of a grid that
    has no targets any more does not stay behind).
    """
    final = out_dir / snapshot
    old = out_dir / scratch.owned_name(f".{snapshot}.old-")
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def discard(staging: Path) -> None:
    """Remove a staging folder of a run that did not publish (and stop its files' writer)."""
    visit_files.stop(staging)
    validation_process.stop(staging / "data_docs")
    shutil.rmtree(staging, ignore_errors=True)


def publish(
    settings: Settings,
    snapshot: str,
    tables: dict[str, pl.DataFrame],
    run: RunRecord,
    previous: str | None,
    before_commit: Callable[[], object] | None = None,
) -> None:
    """Replace ``snapshot`` in every warehouse table and record the run, in one transaction.

    ``previous`` is the month the run built on; the warehouse refuses the run when another month
    before ``snapshot`` was published since. ``before_commit`` is called inside the transaction
    just before it commits (the flow waits there for the month's files): when it raises, nothing
    is published.
    """
    engine = warehouse_engine(settings)
    warehouse.publish(engine, snapshot, tables, run, previous, settings.lock_timeout, before_commit)


def review_decisions(settings: Settings) -> pl.DataFrame:
    """People's current review decisions (datapool/review.py), every kind."""
    from datapool.review import current_decisions

    return current_decisions(warehouse_engine(settings))


def enforced(decisions: pl.DataFrame) -> pl.DataFrame | None:
    """The decisions clustering enforces: ``same`` and ``different`` (None when there are none)."""
    d = decisions.filter(pl.col("decision").is_in(["same", "different"]))
    return d if d.height else None


def review_queue(
    settings: Settings, res: Resolution, cov: Coverage, decisions: pl.DataFrame
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The month's review queue (``review_pair``) and the review figures of its run: how people's
    decisions held in this month's clusters, and how often the matcher agreed with them."""
    from datapool.matching.review import enforcement
    from datapool.review import month_figures, month_queue

    key = settings.hmac_key.get_secret_value()
    if res.unsure is None:  # a resolution not made by engine.resolve / partition.resolve
        raise ValueError("matching kept no unsure pairs to make the review queue of")
    queue = month_queue(res.std, res.links, res.weights, res.unsure, cov.coverage, key, decisions)
    d = enforced(decisions)
    held = (
        enforcement(res.std, res.links, d)
        if d is not None
        else enforcement(res.std, res.links, decisions.head(0))
    )
    return queue, month_figures(queue, held, decisions)


def record_failure(settings: Settings, snapshot: str, run: RunRecord) -> None:
    """Log a failed run in ``pipeline_run``; a warehouse that cannot be opened is left alone."""
    staging.drop(run["run_id"])  # rows written ahead for it, if any
    try:
        warehouse.record_failure(warehouse_engine(settings), snapshot, run)
    except DatapoolError:
        pass
