"""The ``datapool`` command line: thin commands over the library.

Every error a user can cause (bad option, unreadable input, failed critical
expectation, locked or refused warehouse) ends as one line on stderr and exit
status 2; bugs keep their traceback.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from datapool.connectors.specs import SOURCES
from datapool.errors import DatapoolError, InputError, withheld_traceback
from datapool.flows.runners import PARTITIONINGS, RunOptions
from datapool.settings import SAMPLES, Settings, check_snapshot, relative_sqlite, resolve_settings

if TYPE_CHECKING:
    from datapool.guards import Stale

_SNAP_DIR = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def snapshots_in(root: Path) -> list[str]:
    """Snapshot folders (``YYYY-MM``) under an input root, in order."""
    if not root.is_dir():
        if root == SAMPLES:  # an installed datapool has no samples beside it: say what to pass
            raise InputError(
                f"no input root given, and the samples ({root}) exist only in a source checkout: "
                "pass --input or set DATAPOOL_INPUT_ROOT"
            )
        raise InputError(f"input root {root} does not exist")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and _SNAP_DIR.match(p.name))


def _snapshot(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return check_snapshot(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


PARTITION_OPTION = click.option(
    "--partition",
    type=click.Choice(PARTITIONINGS),
    default=None,
    help="Match each county as its own task (with --workers or --dask-address, spread over "
    "Dask), then one pass over the pairs across counties; the links are the same as without "
    "it. See docs/scale.md.",
)


def common(fn: Callable[..., None]) -> Callable[..., None]:
    """Options shared by the commands that run the pipeline, handed on as one ``RunOptions``.

    The command is called with ``opts`` instead of the options below; the settings are
    resolved once, here.
    """

    @functools.wraps(fn)
    def with_options(
        *args: Any,
        input_root: Path | None,
        members_url: str | None,
        warehouse_url: str | None,
        out_dir: Path | None,
        grids_path: Path | None,
        threshold: int | None,
        outings_per_week: int | None,
        stops_per_outing: int | None,
        workers: int | None,
        dask_address: str | None,
        partition: str | None,
        accept_sources: tuple[str, ...],
        carry_sources: tuple[str, ...],
        quiet: bool,
        verbose: bool,
        **kwargs: Any,
    ) -> None:
        _quiet_prefect(verbose)
        given: dict[str, Any] = {
            "input_root": input_root,
            "members_url": members_url,
            "warehouse_url": warehouse_url,
            "out_dir": out_dir,
            "grids_path": grids_path,
            "threshold": threshold,
            "outings_per_week": outings_per_week,
            "stops_per_outing": stops_per_outing,
        }
        opts = RunOptions(
            settings=resolve_settings(**given),
            workers=workers,
            dask_address=dask_address,
            partition=partition,
            accept_sources=tuple(accept_sources),
            carry_sources=tuple(carry_sources),
            quiet=quiet,
            verbose=verbose,
            given=frozenset(k for k, v in given.items() if v is not None),
        )
        fn(*args, opts=opts, **kwargs)

    options = [
        click.option(
            "--input",
            "input_root",
            type=click.Path(path_type=Path),
            default=None,
            help="Input root with one YYYY-MM folder per snapshot "
            "[env DATAPOOL_INPUT_ROOT; default: the samples of a source checkout].",
        ),
        click.option(
            "--members-url",
            default=None,
            help="SQLAlchemy URL of the union member database, opened read-only "
            "[env DATAPOOL_MEMBERS_URL; default sqlite:///<input>/members.sqlite].",
        ),
        click.option(
            "--warehouse-url",
            default=None,
            help="SQLAlchemy URL of the warehouse "
            "[env DATAPOOL_WAREHOUSE_URL; default sqlite:///<out>/warehouse.sqlite].",
        ),
        click.option(
            "--out",
            "out_dir",
            type=click.Path(path_type=Path),
            default=None,
            help="Folder for reports, Data Docs, heat maps and visit sheets "
            "[env DATAPOOL_OUT_DIR; default ./out].",
        ),
        click.option(
            "--grids",
            "grids_path",
            type=click.Path(path_type=Path),
            default=None,
            help="Grids GeoJSON [env DATAPOOL_GRIDS_PATH; default <input>/grids.geojson].",
        ),
        click.option(
            "--threshold",
            type=click.IntRange(min=0),
            default=None,
            help="Headcount above which an enterprise with no union is a target [default 25].",
        ),
        click.option(
            "--outings-per-week",
            type=click.IntRange(min=1),
            default=None,
            help="Fewest visit outings a grid worker makes a week while the grid has anything "
            "to visit (visit_plan) [env DATAPOOL_OUTINGS_PER_WEEK; default 3].",
        ),
        click.option(
            "--stops-per-outing",
            type=click.IntRange(min=1),
            default=None,
            help="Most stops of one visit outing (visit_plan) "
            "[env DATAPOOL_STOPS_PER_OUTING; default 8].",
        ),
        click.option(
            "--workers",
            type=click.IntRange(min=1),
            default=None,
            help="Run on a local Dask cluster with N worker processes (needs the 'dask' extra).",
        ),
        click.option(
            "--dask-address",
            default=None,
            help="Run on an existing Dask scheduler, e.g. tcp://10.0.0.5:8786.",
        ),
        PARTITION_OPTION,
        click.option(
            "--accept-source",
            "accept_sources",
            multiple=True,
            type=click.Choice([*SOURCES, "all"]),
            help="Publish even though this agency's export is missing, empty or much smaller than "
            "in the last published run (repeatable; 'all' for every source). Without it such a "
            "month stops before anything is replaced.",
        ),
        click.option(
            "--carry-forward",
            "carry_sources",
            multiple=True,
            type=click.Choice([*SOURCES, "all"]),
            help="When this agency's export is missing, empty or much smaller, reuse its rows from "
            "its latest earlier export instead, flagged as carried (source_record.carried_from).",
        ),
        click.option("--quiet", is_flag=True, help="No progress lines."),
        click.option("--verbose", is_flag=True, help="Show Prefect's own log lines."),
    ]
    command: Callable[..., None] = with_options
    for option in reversed(options):
        command = option(command)
    return command


def _quiet_prefect(verbose: bool) -> None:
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO" if verbose else "ERROR")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")


def _warn_relative(url: str) -> None:
    """Say where a relative SQLite URL really points (three slashes: relative to this folder)."""
    path = relative_sqlite(url)
    if path is not None:
        click.echo(
            f"warning: {url} is a relative SQLite URL: the warehouse is {path} (relative to the "
            f"current folder); write sqlite:////absolute/path (four slashes) for a fixed place",
            err=True,
        )


def _start(what: str, opts: RunOptions) -> None:
    """The first lines, at once: what runs, where it writes; notes on the key and relative URLs."""
    from datapool.connectors.warehouse import describe_url

    warehouse_url = opts.settings.warehouse_url.get_secret_value()
    if not opts.quiet:
        click.echo(
            f"[{datetime.now():%H:%M:%S}] {what}: starting; "
            f"warehouse {describe_url(warehouse_url)}",
            err=True,
        )
    _warn_relative(warehouse_url)
    if "members_url" in opts.given:
        _warn_relative(opts.settings.members_url.get_secret_value())
    _key_note(opts)


def _where(settings: Settings, months: list[str]) -> None:
    """Where the results are, as absolute paths."""
    from datapool.connectors.warehouse import describe_url

    click.echo(f"warehouse: {describe_url(settings.warehouse_url.get_secret_value())}")
    for month in months:
        click.echo(f"reports:   {(settings.out_dir / month).resolve()}")


def _key_note(opts: RunOptions) -> None:
    """Stop with one line when no HMAC key is given; say so when it is the public test key."""
    from datapool.privacy import TEST_KEY

    key = opts.settings.with_key().hmac_key.get_secret_value()
    if key == TEST_KEY and not opts.quiet:
        click.echo(
            "note: the HMAC key is the public test key: fine for the bundled samples, "
            "never for real exports (its hashes can be reversed by anyone)",
            err=True,
        )


def _stale(settings: Settings) -> dict[str, Stale]:
    """Published months built on an older publication of their predecessor, by month."""
    from datapool.connectors import warehouse
    from datapool.guards import stale_months
    from datapool.stages import warehouse_engine

    return {s.snapshot: s for s in stale_months(warehouse.latest_runs(warehouse_engine(settings)))}


def _warn_stale(stale: dict[str, Stale], after: str) -> None:
    """Name every stale month after ``after`` loudly, with the command that rebuilds it."""
    for month, s in sorted(stale.items()):
        if month > after:
            click.echo(
                f"WARNING: {month} is stale: {s.reason}; its enterprise ids and month-on-month "
                f"changes no longer follow {s.predecessor}. Re-run it: datapool backfill --from "
                f"{month} --to <last month> --force",
                err=True,
            )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="datapool")
def cli() -> None:
    """datapool: fuse the four registries into one enterprise pool, diff it against the
    union member database, and plan grid workers' visits.

    Quick start (in a source checkout, on its samples, with the public test key):
    `DATAPOOL_HMAC_KEY=datapool-public-test-key datapool run` runs the latest sample month with
    a SQLite warehouse in ./out; `datapool backfill --from 2025-05 --to 2025-06` runs every
    month in order. Real exports need a secret DATAPOOL_HMAC_KEY of your own.
    """


@cli.command()
@click.option(
    "--snapshot",
    callback=_snapshot,
    help="Month to run, YYYY-MM [default: the latest folder in the input root].",
)
@common
def run(snapshot: str | None, opts: RunOptions) -> None:
    """Run one monthly snapshot end to end and publish it (re-running replaces that month).

    The snapshot folder holds the agencies' exports and, optionally, visit_records/: the filled
    visit sheets handed back (.xlsx as printed, or .csv with the same headers: 企业ID, 企业名称,
    地址, 走访日期, 网格员, 经营状态, 考勤人数, 场所环境, 是否已建会, 企业顾虑, 职工急难愁盼,
    可利用资源). Their rows go to visit_record or quarantine; a closure, an on-site headcount
    or a union seen on a visit changes the month and the months after (docs/warehouse.md).
    """
    cfg = opts.settings
    months = snapshots_in(cfg.input_root)
    if not snapshot and not months:
        raise InputError(f"input root {cfg.input_root} holds no YYYY-MM snapshot folder")
    snapshot = snapshot or months[-1]
    _start(snapshot, opts)
    summary = opts.run(snapshot)
    click.echo(summary.line())
    _where(cfg, [snapshot])
    _warn_stale(_stale(cfg), snapshot)


@cli.command()
@click.option("--from", "start", required=True, callback=_snapshot, help="First month, YYYY-MM.")
@click.option("--to", "end", required=True, callback=_snapshot, help="Last month, YYYY-MM.")
@click.option("--force", is_flag=True, help="Re-run months that are already published.")
@common
def backfill(start: str, end: str, force: bool, opts: RunOptions) -> None:
    """Run every snapshot in the input root from --from to --to, in order, so ids carry forward.

    Months already published are skipped unless --force. A failure stops the
    backfill with the month named; earlier months stay published.
    """
    from datapool.connectors import warehouse
    from datapool.stages import warehouse_engine

    if start > end:
        raise click.BadParameter("--from is after --to")
    cfg = opts.settings
    months = [m for m in snapshots_in(cfg.input_root) if start <= m <= end]
    if not months:
        raise InputError(f"no snapshot folder between {start} and {end} in {cfg.input_root}")
    _start(f"backfill {months[0]}..{months[-1]}", opts)
    done = warehouse.published_snapshots(warehouse_engine(cfg))
    for i, month in enumerate(months, start=1):
        stale = _stale(cfg).get(month)
        if month in done and not force and stale is None:
            click.echo(
                f"[{i}/{len(months)}] {month}: already published, skipped (use --force to re-run)"
            )
            continue
        if stale is not None and not force:
            click.echo(f"[{i}/{len(months)}] {month}: re-run: it is stale ({stale.reason})")
        try:
            summary = opts.run(month)
        except DatapoolError as exc:
            raise DatapoolError(f"backfill stopped at {month}: {exc}") from None
        click.echo(f"[{i}/{len(months)}] " + summary.line())
    _where(cfg, months)
    _warn_stale(_stale(cfg), months[-1])


@cli.command()
@click.option("--snapshot", required=True, callback=_snapshot, help="Month to resolve, YYYY-MM.")
@click.option(
    "--input",
    "input_root",
    type=click.Path(path_type=Path),
    default=None,
    help="Input root [default: samples].",
)
@click.option(
    "--output", type=click.Path(path_type=Path), required=True, help="CSV to write the links to."
)
@click.option(
    "--previous",
    type=click.Path(path_type=Path, exists=True),
    default=None,
    help="A previous month's links CSV, so enterprise ids carry forward.",
)
@PARTITION_OPTION
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Match on a local Dask cluster with N worker processes (needs the 'dask' extra).",
)
@click.option(
    "--dask-address", default=None, help="Match on an existing Dask scheduler, e.g. tcp://h:8786."
)
def match(
    snapshot: str,
    input_root: Path | None,
    output: Path,
    previous: Path | None,
    partition: str | None,
    workers: int | None,
    dask_address: str | None,
) -> None:
    """Ingest + resolve one snapshot only; write one CSV row per source row: source, source_row,
    enterprise_id, rule, score, source_key, agreed (the evidence: fields that agreed), the row's
    name, identifier and address, and the enterprise's golden name."""
    import polars as pl

    cfg = resolve_settings(input_root=input_root).with_key()
    from datapool.flows.runners import flow_for
    from datapool.flows.snapshot import match_flow

    _quiet_prefect(False)
    # a Prefect flow on a Dask task runner with --workers / --dask-address; else plain functions
    # (recorded as a flow run when PREFECT_API_URL is set)
    run, chunks = flow_for(workers, dask_address, match_flow)
    res = run(
        snapshot=snapshot,
        settings=cfg,
        previous=str(previous) if previous else None,
        partition_by=partition,
        score_chunks=chunks,
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    names = res.enterprises.select("enterprise_id", pl.col("name").alias("enterprise_name"))
    res.links.join(
        res.std.select("source", "source_row", "name", "id_clean", "address"),
        on=["source", "source_row"],
        how="left",
    ).join(names, on="enterprise_id", how="left").select(
        "source",
        "source_row",
        "enterprise_id",
        "rule",
        "score",
        "source_key",
        "agreed",
        "name",
        "id_clean",
        "address",
        "enterprise_name",
    ).sort("enterprise_id", "source", "source_row").with_columns(
        # agency text opened in a spreadsheet is never a formula
        pl.when(pl.col(c).str.contains(r"^[=+\-@\t\r]"))
        .then("'" + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in ("name", "id_clean", "address", "enterprise_name")
    ).write_csv(output)
    click.echo("match weights learned from the pairs identifiers label:\n" + res.weights.summary())
    click.echo(
        f"{snapshot}: {res.links.height} rows -> {res.enterprises.height} enterprises "
        f"({res.counts['candidate_pairs']} candidate pairs); links in {output}"
    )


@cli.command()
@click.option(
    "--enterprises",
    type=click.IntRange(min=10),
    default=5000,
    show_default=True,
    help="Enterprises to create.",
)
@click.option(
    "--months",
    default="2025-05,2025-06",
    show_default=True,
    help="Comma-separated months, YYYY-MM.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder to write the snapshots to.",
)
@click.option(
    "--seed", type=int, default=7, show_default=True, help="Random seed (same seed, same files)."
)
@click.option(
    "--noise",
    type=click.Choice(["default", "holdout"]),
    default="default",
    show_default=True,
    help="Noise model: 'default' (the one data/samples is written with) or 'holdout', a second, "
    "independent one used only to score the matcher, never to tune it.",
)
def samples(enterprises: int, months: str, out: Path, seed: int, noise: str) -> None:
    """Generate messy, truthful sample snapshots (exports, member db, grids, truth/), and for
    every month after the first the filled visit sheets handed back (<month>/visit_records/)."""
    from datapool.samples import generate

    month_list = [check_snapshot(m.strip()) for m in months.split(",") if m.strip()]
    counts = generate(out, enterprises, month_list, seed, noise=noise)
    for k, v in counts.items():
        click.echo(f"{k}: {v}")


@cli.command()
@click.argument("enterprise_id")
@click.option("--snapshot", callback=_snapshot, help="Month [default: the latest that has it].")
@click.option(
    "--warehouse-url",
    default=None,
    help="Warehouse URL [env DATAPOOL_WAREHOUSE_URL; default sqlite:///<out>/warehouse.sqlite].",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Output folder of the runs, where the default warehouse is [env DATAPOOL_OUT_DIR; "
    "default ./out].",
)
@click.option(
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder to write the file to [default <out>/profiles].",
)
@click.option(
    "--format",
    "formats",
    type=click.Choice(["html", "xlsx"]),
    multiple=True,
    help="File format(s) to write [default: both].",
)
def profile(
    enterprise_id: str,
    snapshot: str | None,
    warehouse_url: str | None,
    out_dir: Path | None,
    output: Path | None,
    formats: tuple[str, ...],
) -> None:
    """一企一档: write one enterprise's file (HTML and/or xlsx, Chinese labels): the golden record
    with each field's source, every registry row and why it was linked, union coverage and visit
    status, the grid workers' visits (三查三记) and the concerns and needs the latest visit left
    open, and its history across months. Reads the warehouse only: creates nothing there. The
    terminal shows counts only; the free text of visits is in the files."""
    from datapool.visits.profile import load_profile, summary, write_html, write_xlsx

    cfg = resolve_settings(warehouse_url=warehouse_url, out_dir=out_dir)
    url = cfg.warehouse_url.get_secret_value()
    _warn_relative(url)
    p = load_profile(url, enterprise_id, snapshot)
    click.echo(summary(p))
    folder = (output or cfg.out_dir / "profiles").resolve()
    stem = f"{enterprise_id}_{p.snapshot}"
    for fmt in formats or ("html", "xlsx"):
        path = (write_html if fmt == "html" else write_xlsx)(p, folder / f"{stem}.{fmt}")
        click.echo(f"written: {path}")


@cli.group()
def review() -> None:
    """People decide the pairs the matcher is unsure of: export the month's queue, import the
    decisions (same / different / unsure), see how often the matcher agreed.

    A decision applies to every run after it is recorded (re-run the month with
    `datapool backfill --from M --to M --force`, and every later month): `same` keeps the two rows
    in one enterprise, `different` keeps them, and the enterprises they are in, apart. Identifier
    constraints still win (two valid USCCs are never one enterprise); the run says when they did.
    """


@review.command("export")
@click.option("--snapshot", required=True, callback=_snapshot, help="Month, YYYY-MM.")
@click.option(
    "--out",
    "out_file",
    type=click.Path(path_type=Path),
    required=True,
    help="File to write: .xlsx (Chinese labels, for people) or .csv.",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N pairs.")
@click.option(
    "--warehouse-url",
    default=None,
    help="Warehouse URL [env DATAPOOL_WAREHOUSE_URL; default sqlite:///out/warehouse.sqlite].",
)
def review_export(
    snapshot: str, out_file: Path, limit: int | None, warehouse_url: str | None
) -> None:
    """Write the month's undecided candidate pairs, most useful first.

    Ordered by how much a decision would change: priority = change x (1 + log2 rows) x (2 when a
    visit target is touched), where change is the chance the decision contradicts the matcher
    (1 - p for rows it put together, p for rows it kept apart; p: the chance of one enterprise by
    the month's learned weights) and rows the rows of the enterprise(s) the pair touches. Pairs
    decided before are never written again. Columns: pair_id, left_/right_ source, row, name,
    address, id; score, rule, evidence; decision and note, blank, for the analyst.
    """
    from datapool.review import export

    cfg = resolve_settings(warehouse_url=warehouse_url)
    url = cfg.warehouse_url.get_secret_value()
    _warn_relative(url)
    n = export(url, snapshot, out_file, limit)
    click.echo(f"{snapshot}: {n} pairs to decide written to {out_file.resolve()}")


@review.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--by",
    default=None,
    help="Who decided. Stored only as a keyed pseudonym (a name is personal data); needs "
    "DATAPOOL_HMAC_KEY.",
)
@click.option(
    "--warehouse-url",
    default=None,
    help="Warehouse URL [env DATAPOOL_WAREHOUSE_URL; default sqlite:///out/warehouse.sqlite].",
)
def review_import(file: Path, by: str | None, warehouse_url: str | None) -> None:
    """Record every filled decision of FILE (an exported .xlsx or .csv) in review_decision.

    A new decision on a pair supersedes the old one; nothing is deleted. A bad row, an unknown
    pair, or a `same` that would join two different valid USCCs stops the import with one line,
    and nothing of the file is recorded.
    """
    from datapool.review import import_file

    cfg = resolve_settings(warehouse_url=warehouse_url)
    key = cfg.with_key().hmac_key.get_secret_value() if by else None
    url = cfg.warehouse_url.get_secret_value()
    _warn_relative(url)
    got = import_file(url, file, by, key)
    what = ", ".join(f"{k} {v}" for k, v in sorted(got.by_decision.items())) or "none filled"
    click.echo(
        f"{file.name}: {got.recorded} decisions recorded ({what}); "
        f"{got.superseded} earlier decisions superseded"
    )


@review.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option(
    "--warehouse-url",
    default=None,
    help="Warehouse URL [env DATAPOOL_WAREHOUSE_URL; default sqlite:///out/warehouse.sqlite].",
)
def review_stats(as_json: bool, warehouse_url: str | None) -> None:
    """Pairs decided and waiting; how often the matcher agreed with people, per rule and per
    score band; the rules people overturn most."""
    from datapool.review import stats, stats_json, stats_text

    cfg = resolve_settings(warehouse_url=warehouse_url)
    url = cfg.warehouse_url.get_secret_value()
    s = stats(url)
    click.echo(stats_json(s) if as_json else stats_text(s))


@cli.command()
@click.option(
    "--cron",
    default="0 6 2 * *",
    show_default=True,
    help="Cron schedule (02 of each month, 06:00).",
)
@click.option("--name", default="monthly", show_default=True, help="Deployment name.")
@click.option(
    "--timezone",
    default="Asia/Shanghai",
    show_default=True,
    help="Time zone the cron is read in (Prefect would read it as UTC).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the deployment (schedule, where each option goes) and exit; passwords are hidden.",
)
@common
def serve(cron: str, name: str, timezone: str, dry_run: bool, opts: RunOptions) -> None:
    """Serve a deployment of the snapshot flow on a monthly cron schedule from this process.

    Every option reaches the scheduled runs: paths (made absolute), threshold, workers and Dask
    address as deployment parameters; database URLs too, unless they carry a password, which
    this process hands to its runs as DATAPOOL_* variables instead (Prefect stores parameters).
    Scheduling needs a real Prefect API: PREFECT_API_URL is used when set; otherwise a local
    `prefect server` is started on 127.0.0.1 and said so.
    """
    from datapool.flows.deploy import (
        build_deployment,
        describe,
        secret_env,
        serve_deployment,
        start_local_server,
    )

    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(timezone)
    except Exception:  # noqa: BLE001
        raise click.BadParameter(
            f"unknown time zone {timezone!r}", param_hint="--timezone"
        ) from None
    build_deployment(name, cron, opts, timezone)  # a bad cron fails here, before anything starts
    click.echo(describe(name, cron, opts, timezone))
    if dry_run:
        return
    _key_note(opts)  # a schedule without a key would fail every month: stop now
    # URLs with a password reach the scheduled runs through this process's environment only
    os.environ.update(secret_env(opts))
    server = None
    if os.environ.get("PREFECT_API_URL"):
        click.echo(f"using the Prefect API at {os.environ['PREFECT_API_URL']}")
    else:
        server, url = start_local_server(click.echo)
        _use_prefect_api(url)
    try:
        serve_deployment(name, cron, opts, timezone)
    finally:
        if server is not None:
            server.terminate()


def _use_prefect_api(url: str) -> None:
    """Point this process, and the flow runs it starts, at the Prefect API at ``url``."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    os.environ["PREFECT_API_URL"] = url
    temporary_settings({PREFECT_API_URL: url}).__enter__()


@cli.command()
@click.option(
    "--enterprises",
    type=click.IntRange(min=100),
    default=200_000,
    show_default=True,
    help="Enterprises to generate for the matcher benchmark (about 2.5 rows each).",
)
@click.option(
    "--reader-rows",
    type=click.IntRange(min=1000),
    default=1_000_000,
    show_default=True,
    help="Rows of the generated export for the reader benchmark.",
)
@click.option(
    "--splink/--no-splink",
    default=True,
    help="Also run Splink on the same rows when it is installed.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("bench-out"),
    show_default=True,
    help="Folder for the generated benchmark inputs (reused when present).",
)
@click.option(
    "--repeat",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Run the matcher (and Splink, taking turns) this many times and print the medians: "
    "on a machine whose speed varies, one run's ratio says little.",
)
@click.option(
    "--quality-enterprises",
    type=click.IntRange(min=100),
    default=5000,
    show_default=True,
    help="Enterprises of the two three-month worlds that match quality is measured on, one per "
    "noise model (default, and the held-out one the matcher is never tuned on).",
)
@click.option(
    "--quality-only",
    is_flag=True,
    help="Only measure match quality on both noise models (no reader or speed benchmark).",
)
@click.option(
    "--partitioned",
    is_flag=True,
    help="Also match the benchmark's month partitioned by county (--partition county) in a "
    "Prefect flow on a local Dask cluster: seconds and CPU seconds per step, partitions, peak "
    "memory of the flow, of each worker and of all its processes together, the load average, "
    "and whether the links equal the single-process run's (docs/scale.md).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Dask worker processes for --partitioned.",
)
@click.option(
    "--end-to-end",
    is_flag=True,
    help="Run a generated month of --enterprises enterprises through the whole run (read, match, "
    "validate, member diff, visits, publish) and print each stage's wall time, CPU use, peak "
    "memory and rows per second, the peak of all the run's processes together (the helper "
    "processes too), and Splink's matching time on the same rows when installed.",
)
@click.option(
    "--warehouse-url",
    "--warehouse",
    "warehouse_url",
    default=None,
    metavar="URL",
    help="With --end-to-end: the warehouse to publish into (e.g. a PostgreSQL URL); default a "
    "fresh SQLite file under --out.",
)
def bench(
    enterprises: int,
    reader_rows: int,
    splink: bool,
    out: Path,
    repeat: int,
    quality_enterprises: int,
    quality_only: bool,
    partitioned: bool,
    workers: int,
    end_to_end: bool,
    warehouse_url: str | None,
) -> None:
    """Benchmarks: reader throughput, matcher speed/memory (vs Splink when installed), and match
    quality on both noise models, month by month; or, with --end-to-end, a whole month's run
    stage by stage."""
    from datapool.bench import run_bench, run_quality

    out.mkdir(parents=True, exist_ok=True)
    if end_to_end:
        from datapool.bench_e2e import run_end_to_end

        run_end_to_end(enterprises, out, warehouse_url, splink, click.echo)
        return
    if warehouse_url:
        raise click.BadParameter("--warehouse-url is for --end-to-end only")
    if not quality_only:
        run_bench(enterprises, reader_rows, splink, out, click.echo, repeat)
        if partitioned:
            from datapool.bench_partition import run_partitioned

            # without PREFECT_API_URL the flow starts a temporary Prefect server: its database
            # goes under --out, not into the shared ~/.prefect (other runs would hold its lock)
            home = os.environ.get("PREFECT_HOME")
            os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
            # as a run: no telemetry (the temporary server's heartbeat met its own database
            # locked under load and printed a traceback), Prefect's errors only
            _quiet_prefect(False)
            if not os.environ.get("PREFECT_API_URL"):
                os.environ["PREFECT_HOME"] = str((out / "prefect-home").resolve())
            try:
                run_partitioned(enterprises, out, workers, click.echo)
            finally:
                if home is None:
                    os.environ.pop("PREFECT_HOME", None)
                else:
                    os.environ["PREFECT_HOME"] = home
    run_quality(quality_enterprises, out, click.echo, splink=splink)


def main() -> None:
    """Console entry point: user errors become one line and exit 2."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DatapoolError as exc:
        click.echo(f"datapool: error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug: its traceback, but not its text (which may quote data)
        click.echo(withheld_traceback(exc), err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
