"""Deployments of the snapshot flow: a monthly cron, served locally or via prefect.yaml.

The scheduled run's ``snapshot`` parameter is empty: the flow entry point
``monthly_flow`` picks the previous calendar month, which is the month the
agencies have just exported.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date

from prefect import flow
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron, Schedule

from datapool.flows.runners import RunOptions
from datapool.settings import redact_url, resolve_settings
from datapool.summary import RunSummary


def previous_month(today: date | None = None) -> str:
    """The ``YYYY-MM`` before ``today``'s month."""
    today = today or date.today()
    return f"{today.year - (today.month == 1)}-{(today.month - 2) % 12 + 1:02d}"


TIMEZONE = "Asia/Shanghai"
URL_KEYS = ("warehouse_url", "members_url")


@flow(name="datapool-monthly", flow_run_name="monthly-{snapshot}")
def monthly_flow(
    snapshot: str = "",
    input_root: str | None = None,
    members_url: str | None = None,
    warehouse_url: str | None = None,
    out_dir: str | None = None,
    grids_path: str | None = None,
    threshold: int | None = None,
    workers: int | None = None,
    dask_address: str | None = None,
    outings_per_week: int | None = None,
    stops_per_outing: int | None = None,
    partition: str | None = None,
) -> RunSummary:
    """Scheduled entry point: the snapshot flow for ``snapshot``, else for the previous month.

    The settings are resolved here, once per run: these parameters over the serving process's
    ``DATAPOOL_*`` variables. URLs that carry a password are not parameters (Prefect stores
    parameters): the serving process hands them to the run as ``DATAPOOL_WAREHOUSE_URL`` /
    ``DATAPOOL_MEMBERS_URL``.
    """
    settings = resolve_settings(
        input_root=input_root,
        members_url=members_url,
        warehouse_url=warehouse_url,
        out_dir=out_dir,
        grids_path=grids_path,
        threshold=threshold,
        outings_per_week=outings_per_week,
        stops_per_outing=stops_per_outing,
    )
    opts = RunOptions(
        settings, workers=workers, dask_address=dask_address, partition=partition, quiet=True
    )
    return opts.run(snapshot or previous_month())


def has_password(url: str) -> bool:
    """True when a database URL carries a password."""
    from sqlalchemy.engine import make_url

    try:
        return bool(make_url(url).password)
    except Exception:  # noqa: BLE001 - an unparsable URL is treated as secret
        return True


def _given_urls(opts: RunOptions) -> dict[str, str]:
    """The database URLs given as options, in clear."""
    return {
        key: getattr(opts.settings, key).get_secret_value() for key in URL_KEYS if key in opts.given
    }


def deployment_parameters(opts: RunOptions) -> dict[str, str | int]:
    """The deployment's parameters: every option given, paths made absolute (a scheduled run
    starts in another working directory, so input and output folders are always fixed now),
    URLs only when they carry no password."""
    cfg = opts.settings
    params: dict[str, str | int] = {
        "input_root": str(cfg.input_root.expanduser().resolve()),
        "out_dir": str(cfg.out_dir.expanduser().resolve()),
    }
    if "grids_path" in opts.given:
        params["grids_path"] = str(cfg.grids_path.expanduser().resolve())
    if "threshold" in opts.given:
        params["threshold"] = cfg.threshold
    for key in ("outings_per_week", "stops_per_outing"):
        if key in opts.given:
            params[key] = getattr(cfg, key)
    if opts.workers is not None:
        params["workers"] = opts.workers
    if opts.dask_address is not None:
        params["dask_address"] = opts.dask_address
    if opts.partition is not None:
        params["partition"] = opts.partition
    params.update({k: url for k, url in _given_urls(opts).items() if not has_password(url)})
    return params


def secret_env(opts: RunOptions) -> dict[str, str]:
    """URLs with a password, as the DATAPOOL_* variables the serving process passes to its runs."""
    return {
        f"DATAPOOL_{key.upper()}": url
        for key, url in _given_urls(opts).items()
        if has_password(url)
    }


def schedule(cron: str, timezone: str = TIMEZONE) -> Schedule:
    """The deployment's cron schedule, read in ``timezone`` (Beijing time by default)."""
    return Cron(cron, timezone=timezone)


def build_deployment(
    name: str, cron: str, opts: RunOptions, timezone: str = TIMEZONE
) -> RunnerDeployment:
    """The RunnerDeployment that ``serve`` runs (also what tests inspect)."""
    deployment = monthly_flow.to_deployment(
        name=name,
        schedules=[schedule(cron, timezone)],
        parameters=deployment_parameters(opts),
        description="datapool monthly snapshot",
        tags=["datapool", "monthly"],
    )
    assert isinstance(deployment, RunnerDeployment)  # called synchronously: no coroutine
    return deployment


def describe(name: str, cron: str, opts: RunOptions, timezone: str = TIMEZONE) -> str:
    """What ``serve --dry-run`` prints: the deployment as a person reads it (no password)."""
    params = deployment_parameters(opts)
    env = secret_env(opts)
    cfg = opts.settings

    def where(key: str, value: str) -> str:
        shown = redact_url(value) if key.endswith("_url") else value  # a path is no URL
        if key in params:
            return f"{shown}  (deployment parameter)"
        if f"DATAPOOL_{key.upper()}" in env:
            return (
                f"{shown}  (has a password: handed to each run as "
                f"DATAPOOL_{key.upper()} by this process, never stored in Prefect)"
            )
        return f"{shown}  (default of the run, resolved when it starts)"

    mm, hh, dom = (cron.split() + ["*", "*", "*"])[:3]
    when = (
        f"day {dom} of each month at {int(hh):02d}:{int(mm):02d}"
        if mm.isdigit() and hh.isdigit() and dom.isdigit()
        else "as the cron says"
    )
    lines = [
        f"deployment  datapool-monthly/{name}",
        f"schedule    cron '{cron}' in {timezone}: {when} ({timezone} time)",
        "runs        the previous calendar month (empty snapshot parameter)",
        f"input       {where('input_root', str(cfg.input_root.resolve()))}",
        f"out         {where('out_dir', str(cfg.out_dir.resolve()))}",
        f"grids       {where('grids_path', str(cfg.grids_path.resolve()))}",
        f"warehouse   {where('warehouse_url', cfg.warehouse_url.get_secret_value())}",
        f"members     {where('members_url', cfg.members_url.get_secret_value())}",
        f"threshold   {cfg.threshold}"
        + ("  (deployment parameter)" if "threshold" in params else "  (default)"),
        "matching    "
        + (
            f"on the Dask scheduler at {params['dask_address']}"
            if params.get("dask_address")
            else f"on a local Dask cluster of {params['workers']} processes"
            if params.get("workers")
            else "in the run's own process"
        )
        + (f", partitioned by {params['partition']}" if params.get("partition") else ""),
        "Prefect API "
        + (
            os.environ["PREFECT_API_URL"]
            if os.environ.get("PREFECT_API_URL")
            else "none set: serve starts a local Prefect server on 127.0.0.1"
        ),
    ]
    return "\n".join(lines)


def serve_deployment(name: str, cron: str, opts: RunOptions, timezone: str = TIMEZONE) -> None:
    """Serve the deployment from this process until interrupted.

    Its runs inherit this process's environment, where the CLI entry has put :func:`secret_env`.
    """
    monthly_flow.serve(
        name=name,
        schedules=[schedule(cron, timezone)],
        parameters=deployment_parameters(opts),
        tags=["datapool", "monthly"],
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_local_server(say: Callable[[str], None]) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``prefect server`` on loopback; returns the process and its API URL once it answers.

    The caller points Prefect at the URL (the CLI entry sets ``PREFECT_API_URL`` for this
    process and the flow runs it starts).
    """
    port = _free_port()
    exe = shutil.which("prefect") or os.path.join(os.path.dirname(sys.executable), "prefect")
    say(f"PREFECT_API_URL is not set: starting a local Prefect server on http://127.0.0.1:{port}")
    # outlives a Ctrl-C to the group long enough to shut down
    proc = subprocess.Popen(
        [exe, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.time() + 60
    import urllib.request

    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/health", timeout=2)  # noqa: S310 - loopback only
            break
        except OSError:
            time.sleep(1)
    return proc, url
