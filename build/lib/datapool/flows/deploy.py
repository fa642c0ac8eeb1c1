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
from pathlib import Path

from prefect import flow


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
) -> dict:
    """Scheduled entry point: the snapshot flow for ``snapshot``, else for the previous month.

    URLs that carry a password are not parameters (Prefect stores parameters): the serving
    process hands them to the run as ``DATAPOOL_WAREHOUSE_URL`` / ``DATAPOOL_MEMBERS_URL``.
    """
    from datapool.flows.runners import flow_for

    run_flow, chunks = flow_for(workers, dask_address)
    return run_flow(
        snapshot=snapshot or previous_month(),
        input_root=input_root,
        members_url=members_url,
        warehouse_url=warehouse_url,
        out_dir=out_dir,
        grids_path=grids_path,
        threshold=threshold,
        score_chunks=chunks,
    )


def has_password(url: str) -> bool:
    """True when a database URL carries a password."""
    from sqlalchemy.engine import make_url

    try:
        return bool(make_url(url).password)
    except Exception:  # noqa: BLE001 - an unparsable URL is treated as secret
        return True


def _parameters(kw: dict) -> dict:
    """The deployment's parameters: every option given, paths made absolute (a scheduled run
    starts in another working directory), URLs only when they carry no password."""
    params: dict = {}
    for key in ("input_root", "out_dir", "grids_path"):
        if kw.get(key) is not None:
            params[key] = str(Path(kw[key]).expanduser().resolve())
    for key in ("threshold", "workers", "dask_address"):
        if kw.get(key) is not None:
            params[key] = kw[key]
    for key in URL_KEYS:
        url = kw.get(key)
        if url and not has_password(str(url)):
            params[key] = str(url)
    return params


def secret_env(kw: dict) -> dict[str, str]:
    """URLs with a password, as the DATAPOOL_* variables the serving process passes to its runs."""
    return {
        f"DATAPOOL_{key.upper()}": str(kw[key])
        for key in URL_KEYS
        if kw.get(key) and has_password(str(kw[key]))
    }


def schedule(cron: str, timezone: str = TIMEZONE):  # noqa: ANN201
    """The deployment's cron schedule, read in ``timezone`` (Beijing time by default)."""
    from prefect.schedules import Cron

    return Cron(cron, timezone=timezone)


def build_deployment(name: str, cron: str, kw: dict, timezone: str = TIMEZONE):  # noqa: ANN201
    """The RunnerDeployment that ``serve`` runs (also what tests inspect)."""
    return monthly_flow.to_deployment(
        name=name,
        schedules=[schedule(cron, timezone)],
        parameters=_parameters(kw),
        description="datapool monthly snapshot",
        tags=["datapool", "monthly"],
    )


def describe(name: str, cron: str, kw: dict, timezone: str = TIMEZONE) -> str:
    """What ``serve --dry-run`` prints: the deployment as a person reads it (no password)."""
    from datapool.settings import from_env, redact_url

    params = _parameters(kw)
    env = secret_env(kw)
    cfg = from_env(
        input_root=kw.get("input_root"),
        out_dir=kw.get("out_dir"),
        grids_path=kw.get("grids_path"),
        threshold=kw.get("threshold"),
        warehouse_url=kw.get("warehouse_url"),
        members_url=kw.get("members_url"),
    )

    def where(key: str, value: str) -> str:
        if key in params:
            return f"{value}  (deployment parameter)"
        if f"DATAPOOL_{key.upper()}" in env:
            return (
                f"{redact_url(value)}  (has a password: handed to each run as "
                f"DATAPOOL_{key.upper()} by this process, never stored in Prefect)"
            )
        return f"{redact_url(value)}  (default of the run, resolved when it starts)"

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
        f"grids       {where('grids_path', str(Path(str(cfg.grids_path)).resolve()))}",
        f"warehouse   {where('warehouse_url', cfg.warehouse_url)}",
        f"members     {where('members_url', cfg.members_url)}",
        f"threshold   {cfg.threshold}"
        + ("  (deployment parameter)" if "threshold" in params else "  (default)"),
        "matching    "
        + (
            f"on the Dask scheduler at {params['dask_address']}"
            if params.get("dask_address")
            else f"on a local Dask cluster of {params['workers']} processes"
            if params.get("workers")
            else "in the run's own process"
        ),
        "Prefect API "
        + (
            os.environ["PREFECT_API_URL"]
            if os.environ.get("PREFECT_API_URL")
            else "none set: serve starts a local Prefect server on 127.0.0.1"
        ),
    ]
    return "\n".join(lines)


def serve_deployment(name: str, cron: str, kw: dict, timezone: str = TIMEZONE) -> None:
    """Serve the deployment from this process until interrupted; its runs inherit the URLs."""
    os.environ.update(secret_env(kw))
    monthly_flow.serve(
        name=name,
        schedules=[schedule(cron, timezone)],
        parameters=_parameters(kw),
        tags=["datapool", "monthly"],
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_api(say: Callable[[str], None]) -> subprocess.Popen | None:
    """Use PREFECT_API_URL when set; else start ``prefect server`` on loopback and point at it."""
    if os.environ.get("PREFECT_API_URL"):
        say(f"using the Prefect API at {os.environ['PREFECT_API_URL']}")
        return None
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
    os.environ["PREFECT_API_URL"] = url
    from prefect.settings import PREFECT_API_URL, temporary_settings

    temporary_settings({PREFECT_API_URL: url}).__enter__()
    return proc
