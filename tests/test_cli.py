from __future__ import annotations

import click
import pytest
from cliutil import assert_one_clear_line, invoke

from datapool.cli import cli


def test_every_command_has_help(capsys):
    for name, cmd in cli.commands.items():
        assert cmd.help and len(cmd.help) > 20, name
        code, out, _ = invoke(capsys, name, "--help")
        assert code == 0 and "Usage" in out and "--help" in out, name
        for p in cmd.params:
            if isinstance(p, click.Option):
                assert p.help, (name, p.name)


def test_bad_snapshot_option(capsys):
    code, _, err = invoke(capsys, "run", "--snapshot", "2025-13")
    assert code == 2 and "YYYY-MM" in err and "Traceback" not in err


def test_missing_input_root(capsys, tmp_path):
    code, _, err = invoke(
        capsys, "run", "--input", str(tmp_path / "nope"), "--out", str(tmp_path / "o")
    )
    assert_one_clear_line(code, err, "does not exist")


def test_samples_command_is_deterministic(capsys, tmp_path):
    assert (
        invoke(
            capsys,
            "samples",
            "--enterprises",
            "60",
            "--months",
            "2025-01,2025-02",
            "--out",
            str(tmp_path / "a"),
        )[0]
        == 0
    )
    assert (
        invoke(
            capsys,
            "samples",
            "--enterprises",
            "60",
            "--months",
            "2025-01,2025-02",
            "--out",
            str(tmp_path / "b"),
        )[0]
        == 0
    )
    for rel in (
        "2025-01/market_supervision.csv",
        "2025-02/social_insurance.csv",
        "2025-02/civil_affairs.xlsx",
        "grids.geojson",
        "truth/unions.csv",
    ):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_match_command_writes_links(capsys, tmp_path, samples):
    out = tmp_path / "links.csv"
    code, stdout, _ = invoke(
        capsys, "match", "--input", str(samples), "--snapshot", "2025-05", "--output", str(out)
    )
    assert code == 0 and "enterprises" in stdout
    header = out.read_text().splitlines()[0]
    assert header.startswith("source,source_row,enterprise_id,rule,score")
    assert header.endswith("agreed,name,id_clean,address,enterprise_name")


@pytest.mark.parametrize(
    "how",
    [
        ["--partition", "county"],
        pytest.param(
            ["--partition", "county", "--workers", "2"],
            marks=[pytest.mark.prefect, pytest.mark.slow],
        ),
    ],
    ids=["in-process", "dask-2-workers"],
)
def test_match_partitioned_writes_the_same_links(capsys, tmp_path, samples, how):
    if "--workers" in how:
        pytest.importorskip("prefect_dask")
    args = ["match", "--input", str(samples), "--snapshot", "2025-05", "--output"]
    code, _, err = invoke(capsys, *args, str(tmp_path / "single.csv"))
    assert code == 0, err
    code, stdout, err = invoke(capsys, *args, str(tmp_path / "split.csv"), *how)
    assert code == 0, err
    assert "enterprises" in stdout
    single = (tmp_path / "single.csv").read_bytes()
    assert (tmp_path / "split.csv").read_bytes() == single


@pytest.mark.prefect
def test_backfill_skips_published_and_force_reruns(capsys, prefect_harness, tmp_path, samples):
    args = [
        "backfill",
        "--from",
        "2025-05",
        "--to",
        "2025-06",
        "--input",
        str(samples),
        "--out",
        str(tmp_path),
        "--quiet",
    ]
    code, out, err = invoke(capsys, *args)
    assert code == 0, err
    assert "[1/2] 2025-05:" in out and "[2/2] 2025-06:" in out
    code, out, _ = invoke(capsys, *args)
    assert code == 0 and out.count("already published, skipped") == 2
    code, out, _ = invoke(capsys, *args[:-1], "--force", "--quiet")
    assert code == 0 and "skipped" not in out and "[2/2] 2025-06" in out
    db = tmp_path / "warehouse.sqlite"
    before = db.read_bytes()
    eid = _some_enterprise(tmp_path)
    code, out, _ = invoke(capsys, "profile", "--out", str(tmp_path), eid)
    assert code == 0 and "source rows" in out and "linked by" in out
    assert str(db) in out  # names the warehouse it read
    assert db.read_bytes() == before  # read-only
    page = (tmp_path / "profiles" / f"{eid}_2025-06.html").read_text(encoding="utf-8")
    for words in (
        "一企一档",
        "基本信息",
        "来源记录及关联原因",
        "关联原因",
        "历史",
        "2025-05",
        "已建会",
    ):
        assert words in page, words
    from openpyxl import load_workbook

    wb = load_workbook(tmp_path / "profiles" / f"{eid}_2025-06.xlsx")
    assert wb.sheetnames == ["基本信息", "来源记录", "走访记录", "历史"]
    assert [c.value for c in wb["历史"]["A"]][1:] == ["2025-05", "2025-06"]
    assert wb["来源记录"].max_row >= 4  # header + the 3+ rows behind it


def test_profile_on_a_missing_warehouse_creates_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = invoke(capsys, "profile", "--out", str(tmp_path / "nowhere"), "E123")
    assert_one_clear_line(
        code, err, "no warehouse at", str(tmp_path / "nowhere" / "warehouse.sqlite")
    )
    code, _, err = invoke(capsys, "profile", "--warehouse-url", "sqlite:///rel/x.db", "E123")
    assert "relative SQLite URL" in err and str(tmp_path / "rel" / "x.db") in err
    assert_one_clear_line(code, err, "no warehouse at")
    assert list(tmp_path.iterdir()) == []


def _some_enterprise(out) -> str:
    import sqlite3

    con = sqlite3.connect(out / "warehouse.sqlite")
    (eid,) = con.execute(
        "SELECT enterprise_id FROM enterprise WHERE n_records >= 3 ORDER BY enterprise_id LIMIT 1"
    ).fetchone()
    con.close()
    return eid


@pytest.mark.prefect
def test_backfill_failure_names_the_month_and_keeps_earlier(
    capsys, prefect_harness, tmp_path, sample_copy
):
    (sample_copy / "2025-06" / "market_supervision.csv").write_text(
        "企业名称\n宏达\n", encoding="utf-8"
    )
    code, out, err = invoke(
        capsys,
        "backfill",
        "--from",
        "2025-05",
        "--to",
        "2025-06",
        "--input",
        str(sample_copy),
        "--out",
        str(tmp_path),
        "--quiet",
    )
    assert_one_clear_line(code, err, "backfill stopped at 2025-06", "统一社会信用代码")
    assert "[1/2] 2025-05:" in out
    code, out, _ = invoke(
        capsys,
        "backfill",
        "--from",
        "2025-05",
        "--to",
        "2025-05",
        "--input",
        str(sample_copy),
        "--out",
        str(tmp_path),
        "--quiet",
    )
    assert "already published" in out


@pytest.mark.parametrize(
    ("options", "params", "env"),
    [
        ({"threshold": 30}, {"threshold": 30}, {}),
        (
            {
                "warehouse_url": "sqlite:////data/dw.sqlite",
                "members_url": "postgresql+psycopg://reader:pw@db/union",
                "grids_path": "grids.geojson",
                "workers": 3,
                "dask_address": "tcp://10.0.0.5:8786",
                "partition": "county",
            },
            {
                "warehouse_url": "sqlite:////data/dw.sqlite",
                "workers": 3,
                "dask_address": "tcp://10.0.0.5:8786",
                "partition": "county",
            },
            {"DATAPOOL_MEMBERS_URL": "postgresql+psycopg://reader:pw@db/union"},
        ),
    ],
)
def test_serve_hands_every_option_to_the_deployment(tmp_path, options, params, env):
    from pathlib import Path

    from datapool.flows.deploy import build_deployment, secret_env
    from datapool.flows.runners import RunOptions
    from datapool.settings import resolve_settings

    given = {"input_root": tmp_path, **options}
    run = {k: given.pop(k) for k in ("workers", "dask_address", "partition") if k in given}
    opts = RunOptions(resolve_settings(**given), **run, given=frozenset(given))
    d = build_deployment("monthly", "0 6 2 * *", opts)
    sched = d.schedules[0].schedule
    assert sched.cron == "0 6 2 * *" and sched.timezone == "Asia/Shanghai"
    # input and output folders are always fixed, absolute: a scheduled run starts elsewhere
    expected = {"input_root": str(tmp_path), "out_dir": str(Path("out").resolve()), **params}
    if "grids_path" in options:
        expected["grids_path"] = str(Path("grids.geojson").resolve())
    assert d.parameters == expected
    assert secret_env(opts) == env
    assert d.name == "monthly" and "monthly" in d.tags
    # every parameter is one the scheduled flow takes
    from datapool.flows.deploy import monthly_flow

    assert set(d.parameters) <= set(monthly_flow.parameters.properties)


def test_serve_dry_run_is_readable_and_hides_passwords(capsys, tmp_path):
    from cliutil import invoke

    code, out, err = invoke(
        capsys,
        "serve",
        "--dry-run",
        "--input",
        str(tmp_path),
        "--warehouse-url",
        "postgresql+psycopg://etl:topsecret@dw/pool",
        "--workers",
        "2",
    )
    assert code == 0, err
    assert "topsecret" not in out + err
    assert "Asia/Shanghai" in out and "day 2 of each month at 06:00" in out
    assert "DATAPOOL_WAREHOUSE_URL" in out and "local Dask cluster of 2" in out
    assert str(tmp_path) in out and "RunnerDeployment" not in out
    assert f"grids       {tmp_path / 'grids.geojson'}" in out  # a path, not a URL to redact
    assert "unparseable" not in out


def test_prefect_yaml_matches_serve_schedule():
    import yaml
    from conftest import ROOT

    doc = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    dep = doc["deployments"][0]
    assert dep["schedules"][0]["cron"] == "0 6 2 * *"
    assert dep["schedules"][0]["timezone"] == "Asia/Shanghai"
    assert dep["entrypoint"] == "flows/deploy.py:monthly_flow"
    assert set(dep["parameters"]) >= {"snapshot", "input_root", "out_dir"}


def test_previous_month():
    from datetime import date

    from datapool.flows.deploy import previous_month

    assert (
        previous_month(date(2026, 1, 2)) == "2025-12"
        and previous_month(date(2026, 7, 2)) == "2026-06"
    )


def test_bench_command_runs_small(capsys, tmp_path):
    code, out, err = invoke(
        capsys,
        "bench",
        "--enterprises",
        "150",
        "--reader-rows",
        "2000",
        "--no-splink",
        "--out",
        str(tmp_path),
        "--repeat",
        "2",
    )
    assert code == 0, err
    assert "rows/s" in out and "F1" in out
    assert "run 2/2: datapool" in out and "median of 2 runs: datapool" in out


@pytest.mark.prefect
@pytest.mark.slow
def test_bench_partitioned_prints_its_figures(capsys, tmp_path):
    pytest.importorskip("prefect_dask")
    code, out, err = invoke(
        capsys,
        "bench",
        "--enterprises",
        "300",
        "--reader-rows",
        "2000",
        "--no-splink",
        "--quality-enterprises",
        "100",
        "--out",
        str(tmp_path),
        "--partitioned",
    )
    assert code == 0, err
    assert "partitions by county" in out and "cross partitions" in out
    assert "Dask workers" in out and "MB" in out
    assert "links equal to the single-process run's" in out


def test_sample_grids_cover_the_district(samples):
    from datapool.connectors.grids import read_grids

    grids = read_grids(samples / "grids.geojson")
    assert len(grids) == 136 and len({g.grid_id for g in grids}) == 136
    assert len({(g.street, g.community) for g in grids}) == 136 and all(
        g.grid_worker for g in grids
    )


def test_plain_run_starts_no_prefect_server(tmp_path):
    """Without PREFECT_API_URL a run needs no Prefect API at all (ephemeral servers are disabled
    here, so any use of one would fail the run), and its first line comes before the imports."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from datapool.samples import generate

    generate(tmp_path / "in", 120, ["2025-03"], seed=11)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update(PREFECT_SERVER_EPHEMERAL_ENABLED="false", PREFECT_HOME=str(tmp_path / "ph"))
    exe = Path(sys.executable).with_name("datapool")
    done = subprocess.run(
        [str(exe), "run", "--input", str(tmp_path / "in"), "--out", "out"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[0].endswith(
        f"starting; warehouse {tmp_path / 'out'}/warehouse.sqlite (SQLite)"
    )
    assert f"warehouse: {tmp_path / 'out' / 'warehouse.sqlite'}" in done.stdout
    assert f"reports:   {tmp_path / 'out' / '2025-03'}" in done.stdout
