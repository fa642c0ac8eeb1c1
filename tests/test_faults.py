"""Fault injection: a run failing at any stage leaves the warehouse exactly as it was; the re-run
completes.

Also: the same flow on PostgreSQL gives the same tables, re-runs identically; and a Dask
LocalCluster with two workers writes the same tables as the local run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from datapool.connectors import warehouse
from datapool.schemas import warehouse as wh
from datapool.settings import Settings

pytestmark = [pytest.mark.prefect, pytest.mark.slow]
MONTH = "2025-06"
COMPARE = [t for t in wh.SNAPSHOT_TABLES if t != "validation_result"]


def snapshot_tables(url: str, month: str) -> dict[str, pl.DataFrame]:
    engine = warehouse.engine_for(url)
    return {t: warehouse.read_table(engine, t, month) for t in COMPARE}


STAGES = {
    "ingest": "datapool.stages.combine",
    "match": "datapool.matching.engine.finish",
    "validate": "datapool.stages.check",  # the suites made (stages.validation_suites), checked
    "coverage": "datapool.stages.cover",
    "visits": "datapool.stages.plan_visits",
    "visit files": "datapool.visits.files.write_beside",  # the commit waits for them
    "publish": "datapool.connectors.warehouse._insert",
}


@pytest.mark.parametrize("stage", list(STAGES))
def test_failure_at_each_stage_leaves_warehouse_intact(stage, sample_run, samples, monkeypatch):
    from datapool.flows.snapshot import snapshot_flow

    before = snapshot_tables(sample_run["url"], MONTH)
    calls = {"n": 0}

    def boom(*args, **kwargs):
        calls["n"] += 1
        if stage == "publish" and calls["n"] < 4:  # fail mid-way through the inserts
            return real(*args, **kwargs)
        raise RuntimeError(f"injected fault in {stage}")

    module, name = STAGES[stage].rsplit(".", 1)
    real = getattr(__import__(module, fromlist=[name]), name)
    monkeypatch.setattr(STAGES[stage], boom)
    with pytest.raises(Exception, match="injected fault|refused"):
        snapshot_flow(snapshot=MONTH, settings=sample_run["settings"])
    after = snapshot_tables(sample_run["url"], MONTH)
    for t in COMPARE:
        assert after[t].equals(before[t]), (stage, t)
    monkeypatch.undo()
    snapshot_flow(snapshot=MONTH, settings=sample_run["settings"])
    for t in COMPARE:
        assert snapshot_tables(sample_run["url"], MONTH)[t].equals(before[t]), (stage, "re-run", t)


def test_validation_failing_beside_a_later_stage_is_the_months_reason(sample_run, monkeypatch):
    """Validation runs beside the member diff and visit planning: when it fails critically and a
    stage beside it fails too, the month stops on the validation's failure (the one a person
    must act on), records it, publishes nothing and leaves no staging folder."""
    import sqlalchemy as sa

    from datapool.errors import ValidationFailed
    from datapool.flows.snapshot import snapshot_flow

    before = snapshot_tables(sample_run["url"], MONTH)

    def critical(*args, **kwargs):
        time.sleep(1)  # the member diff fails first
        raise ValidationFailed("critical expectation failed: injected")

    def boom(*args, **kwargs):
        raise RuntimeError("injected fault in coverage")

    monkeypatch.setattr("datapool.stages.check", critical)
    monkeypatch.setattr("datapool.stages.cover", boom)
    with pytest.raises(ValidationFailed, match="injected"):
        snapshot_flow(snapshot=MONTH, settings=sample_run["settings"])
    after = snapshot_tables(sample_run["url"], MONTH)
    for t in COMPARE:
        assert after[t].equals(before[t]), t
    with sa.create_engine(sample_run["url"]).connect() as conn:
        status, message = conn.execute(
            sa.text("SELECT status, message FROM pipeline_run ORDER BY started_at DESC LIMIT 1")
        ).one()
    assert status == "failed" and "critical expectation failed: injected" in message
    assert not list(Path(sample_run["out"]).glob(f".{MONTH}.staging-*"))


def test_killed_run_leaves_warehouse_intact(sample_run, samples, sample_copy, tmp_path):
    """SIGKILL a real `datapool run` inside its publishing transaction, after it has replaced the
    month's rows of a table with different ones; the month is as before, and a re-run completes."""
    from datapool.flows.snapshot import snapshot_flow

    before = snapshot_tables(sample_run["url"], MONTH)
    # one registry row fewer: what the killed run writes differs from what is published
    export = sample_copy / MONTH / "market_supervision.csv"
    lines = export.read_bytes().rstrip(b"\r\n").split(b"\r\n")
    export.write_bytes(b"\r\n".join(lines[:-1]) + b"\r\n")
    marker = tmp_path / "publishing.json"
    hang = Path(__file__).with_name("publish_then_hang.py")
    args = [sys.executable, str(hang), str(marker), "run", "--snapshot", MONTH]
    args += ["--input", str(sample_copy), "--warehouse-url", sample_run["url"]]
    args += ["--out", str(tmp_path / "out")]
    # its own process group: the kill also takes the temporary Prefect server it started
    with open(tmp_path / "stderr.txt", "w") as err:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    try:
        deadline = time.time() + 600
        while not marker.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert marker.exists(), (tmp_path / "stderr.txt").read_text()[-2000:]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    # where the kill landed: inside the transaction, with the month's rows of the first table
    # replaced by the new, different ones
    inside = json.loads(marker.read_text())
    assert inside["table"] == wh.SNAPSHOT_TABLES[0] and inside["in_transaction"], inside
    assert inside["rows_seen"] == inside["rows_inserted"] == before[inside["table"]].height - 1
    after = snapshot_tables(sample_run["url"], MONTH)
    for t in COMPARE:
        assert after[t].equals(before[t]), t
    # the killed run's scratch folders: rows written ahead beside the warehouse, files in its out
    left = [Path(sample_run["out"]).glob(".datapool-rows-*"), (tmp_path / "out").glob(".*-*")]
    assert all(list(g) for g in left), "the kill landed before both scratch folders existed"
    # the re-run (its files in the killed run's output folder) removes them
    settings = sample_run["settings"].model_copy(update={"out_dir": tmp_path / "out"})
    result = snapshot_flow(snapshot=MONTH, settings=settings)
    assert result.snapshot == MONTH
    assert not list(Path(sample_run["out"]).glob(".datapool-rows-*"))
    assert not list((tmp_path / "out").glob(".*")), list((tmp_path / "out").glob(".*"))
    rerun = snapshot_tables(sample_run["url"], MONTH)
    for t in COMPARE:
        assert rerun[t].equals(before[t]), ("re-run", t)


def test_postgres_warehouse_same_tables_and_idempotent(sample_run, samples, pg_url, tmp_path):
    from datapool.flows.snapshot import snapshot_flow

    pg_settings = Settings(input_root=samples, warehouse_url=pg_url, out_dir=tmp_path)
    for month in ("2025-05", MONTH):
        snapshot_flow(snapshot=month, settings=pg_settings)
    first = snapshot_tables(pg_url, MONTH)
    lite = snapshot_tables(sample_run["url"], MONTH)
    for t in COMPARE:
        key = [
            c
            for c in (
                "source",
                "source_row",
                "enterprise_id",
                "union_id",
                "member_key",
                "change",
                "unit_name",
            )
            if c in first[t].columns
        ]
        a = first[t].sort(key).with_columns(pl.col(pl.Float64).round(6))
        b = lite[t].sort(key).with_columns(pl.col(pl.Float64).round(6))
        assert a.height == b.height and a.select(key).equals(b.select(key)), t
    snapshot_flow(snapshot=MONTH, settings=pg_settings)
    again = snapshot_tables(pg_url, MONTH)
    for t in COMPARE:
        assert again[t].equals(first[t]), t


def test_dask_local_cluster_writes_same_tables(sample_run, samples, tmp_path):
    pytest.importorskip("prefect_dask")
    from prefect_dask import DaskTaskRunner

    from datapool.flows.snapshot import snapshot_flow

    url = f"sqlite:///{tmp_path / 'dask.sqlite'}"
    runner = DaskTaskRunner(
        cluster_kwargs={
            "n_workers": 2,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
        }
    )
    for month in ("2025-05", MONTH):
        snapshot_flow.with_options(task_runner=runner)(
            snapshot=month,
            settings=Settings(input_root=samples, warehouse_url=url, out_dir=tmp_path),
            score_chunks=4,
        )
    dask_tables, local = snapshot_tables(url, MONTH), snapshot_tables(sample_run["url"], MONTH)
    for t in COMPARE:
        assert dask_tables[t].equals(local[t]), t
