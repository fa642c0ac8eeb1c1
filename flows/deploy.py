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

from datapool.flows.snapshot import snapshot_flow


def previous_month(today: date | None = None) -> str:
    """The ``YYYY-MM`` before ``today``'s month."""
    today = today or date.today()
    return f"{today.year - (today.month == 1)}-{(today.month - 2) % 12 + 1:02d}"


@flow(name="datapool-monthly", flow_run_name="monthly-{snapshot}")
def monthly_flow(
    snapshot: str = "",
    input_root: str | None = None,
    members_url: str | None = None,
    warehouse_url: str | None = None,
    out_dir: str | None = None,
    threshold: int | None = None,
) -> dict:
    """Scheduled entry point: the snapshot flow for ``snapshot``, else for the previous month."""
    return snapshot_flow(
        snapshot=snapshot or previous_month(),
        input_root=input_root,
        members_url=members_url,
        warehouse_url=warehouse_url,
        out_dir=out_dir,
        threshold=threshold,
    )


def _parameters(kw: dict) -> dict:
    params = {
        "input_root": kw.get("input_root"),
        "out_dir": kw.get("out_dir"),
        "threshold": kw.get("threshold"),
    }
    # URLs may carry credentials: they stay in the serving process's DATAPOOL_* variables
    return {k: str(v) if k != "threshold" else v for k, v in params.items() if v is not None}


def build_deployment(name: str, cron: str, kw: dict):  # noqa: ANN201
    """The RunnerDeployment that ``serve`` runs (also what tests inspect)."""
    return monthly_flow.to_deployment(
        name=name,
        cron=cron,
        parameters=_parameters(kw),
        description="datapool monthly snapshot",
        tags=["datapool", "monthly"],
    )


def serve_deployment(name: str, cron: str, kw: dict) -> None:
    """Serve the deployment from this process until interrupted."""
    monthly_flow.serve(
        name=name, cron=cron, parameters=_parameters(kw), tags=["datapool", "monthly"]
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
