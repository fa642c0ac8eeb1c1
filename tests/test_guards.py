"""A bad month never replaces a good one; a month built on a stale predecessor is re-run or named.

The end-to-end cases run the real ``datapool`` command on a small generated input root with a real
SQLite warehouse, break one export of the second month, and check that the month stops before
anything is replaced, naming the source and the flags that accept it.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest
from cliutil import assert_one_clear_line, invoke

from datapool.guards import Baseline, SourceCheckFailed, decide, source_problems, stale_months

M1, M2 = "2025-03", "2025-04"


def _files(**accepted: int) -> dict[str, dict]:
    return {
        s: {"file": f"/x/{s}.csv", "rows_in": n, "accepted": n, "quarantined": 0}
        for s, n in accepted.items()
    }


ALL = {"market_supervision": 100, "civil_affairs": 10, "social_insurance": 80, "tax_registry": 90}


@pytest.mark.parametrize(
    ("files", "missing", "baseline", "expect"),
    [
        (ALL, [], None, []),
        (ALL, [], Baseline(M1, False, ALL), []),
        ({**ALL, "tax_registry": 64}, [], Baseline(M1, False, ALL), []),  # 29% fewer: fine
        ({**ALL, "tax_registry": 62}, [], Baseline(M1, False, ALL), [("tax_registry", "shrunk")]),
        ({**ALL, "market_supervision": 0}, [], None, [("market_supervision", "empty")]),
        (
            {k: v for k, v in ALL.items() if k != "social_insurance"},
            ["social_insurance"],
            Baseline(M2, True, ALL),
            [("social_insurance", "missing")],
        ),
        ({**ALL, "civil_affairs": 10}, [], Baseline(M1, False, {**ALL, "civil_affairs": 0}), []),
    ],
)
def test_source_problems(files, missing, baseline, expect):
    got = source_problems(_files(**files), missing, baseline, 0.3)
    assert [(p.source, p.kind) for p in got] == expect


def test_decide_names_source_and_flags():
    problems = source_problems(
        _files(**{**ALL, "market_supervision": 0}), [], Baseline(M2, True, ALL), 0.3
    )
    with pytest.raises(SourceCheckFailed) as err:
        decide(M2, problems, set(), set())
    msg = str(err.value)
    assert "market_supervision (市场监管)" in msg and "is empty" in msg
    assert (
        "--accept-source market_supervision" in msg and "--carry-forward market_supervision" in msg
    )
    assert "last published run of 2025-04 had 100" in msg
    assert decide(M2, problems, {"market_supervision"}, set()) == []
    assert decide(M2, problems, set(), {"all"}) == ["market_supervision"]


def _t(h: int) -> datetime:
    return datetime(2026, 1, 1, h)


def test_stale_months():
    runs = [
        {"snapshot": "2025-05", "started_at": _t(5), "finished_at": _t(6)},
        {"snapshot": "2025-06", "started_at": _t(1), "finished_at": _t(2), "built_on": None},
        {"snapshot": "2025-07", "started_at": _t(7), "finished_at": _t(8), "built_on": "2025-06"},
        {"snapshot": "2025-08", "started_at": _t(9), "finished_at": _t(10)},  # predates built_on
    ]
    stale = stale_months(runs)
    assert [(s.snapshot, s.predecessor) for s in stale] == [("2025-06", "2025-05")]
    assert "built on no earlier month" in stale[0].reason
    runs[1]["built_on"] = "2025-05"
    assert [s.snapshot for s in stale_months(runs)] == ["2025-06"]  # 2025-05 republished after it


# ---------------------------------------------------------------- end to end, real runs


@pytest.fixture(scope="session")
def two_months(tmp_path_factory) -> Path:
    from datapool.samples import generate

    root = tmp_path_factory.mktemp("two")
    generate(root, 150, [M1, M2], seed=5)
    shutil.rmtree(root / "truth")
    return root


@pytest.fixture()
def published(two_months, tmp_path, capsys, prefect_harness):
    """Both months published into a fresh warehouse from a writable copy of the input."""
    root = tmp_path / "in"
    shutil.copytree(two_months, root)
    out = tmp_path / "out"
    code, _, err = invoke(
        capsys,
        "backfill",
        "--from",
        M1,
        "--to",
        M2,
        "--input",
        str(root),
        "--out",
        str(out),
        "--quiet",
    )
    assert code == 0, err
    return root, out


def _tables_digest(db: Path) -> str:
    """A digest of every snapshot table's rows (not pipeline_run: a failed run is logged there)."""
    con = sqlite3.connect(db)
    names = [
        n
        for (n,) in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
        if n not in ("pipeline_run", "snapshot_lock")
    ]
    h = hashlib.sha256()
    for n in names:
        for row in con.execute(f'SELECT * FROM "{n}" ORDER BY 1, 2, 3'):  # noqa: S608 - our names
            h.update(repr(row).encode())
    con.close()
    return h.hexdigest()


def _header_only(p: Path) -> None:
    p.write_bytes(p.read_bytes().split(b"\r\n")[0] + b"\r\n")


def _keep_a_third(p: Path) -> None:
    lines = p.read_bytes().split(b"\r\n")
    p.write_bytes(b"\r\n".join(lines[: len(lines) // 3]) + b"\r\n")


BREAKS = {
    "header only": ("market_supervision.csv", _header_only, "is empty"),
    "empty file": ("tax_registry.csv", lambda p: p.write_bytes(b""), "is empty"),
    "missing": ("social_insurance.csv", lambda p: p.unlink(), "sent no export"),
    "truncated": ("market_supervision.csv", _keep_a_third, "fewer than"),
}


@pytest.mark.prefect
@pytest.mark.parametrize("case", list(BREAKS))
def test_bad_export_stops_the_month_and_changes_nothing(case, published, capsys):
    root, out = published
    name, breaker, words = BREAKS[case]
    source = name.split(".")[0]
    breaker(root / M2 / name)
    before = _tables_digest(out / "warehouse.sqlite")
    code, _, err = invoke(
        capsys, "run", "--snapshot", M2, "--input", str(root), "--out", str(out), "--quiet"
    )
    assert_one_clear_line(
        code,
        err,
        f"{M2} stopped before anything was replaced",
        source,
        words,
        f"--accept-source {source}",
        f"--carry-forward {source}",
    )
    assert _tables_digest(out / "warehouse.sqlite") == before


@pytest.mark.prefect
def test_accept_and_carry_forward(published, capsys):
    root, out = published
    (root / M2 / "social_insurance.csv").unlink()
    db = out / "warehouse.sqlite"
    args = ["run", "--snapshot", M2, "--input", str(root), "--out", str(out), "--quiet"]
    code, _, err = invoke(capsys, *args, "--carry-forward", "social_insurance")
    assert code == 0, err
    con = sqlite3.connect(db)
    carried = con.execute(
        "SELECT count(*), min(carried_from), max(carried_from) FROM source_record "
        "WHERE snapshot = ? AND source = 'social_insurance'",
        (M2,),
    ).fetchone()
    first = con.execute(
        "SELECT count(*) FROM source_record WHERE snapshot = ? AND source = 'social_insurance'",
        (M1,),
    ).fetchone()[0]
    others = con.execute(
        "SELECT count(*) FROM source_record WHERE snapshot = ? AND carried_from IS NOT NULL "
        "AND source != 'social_insurance'",
        (M2,),
    ).fetchone()[0]
    con.close()
    assert carried == (first, M1, M1) and others == 0
    code, _, err = invoke(capsys, *args, "--accept-source", "social_insurance")
    assert code == 0, err
    con = sqlite3.connect(db)
    n = con.execute(
        "SELECT count(*) FROM source_record WHERE snapshot = ? AND source = 'social_insurance'",
        (M2,),
    ).fetchone()[0]
    con.close()
    assert n == 0


@pytest.mark.prefect
def test_backfill_reruns_a_successor_built_on_a_stale_predecessor(published, capsys):
    root, out = published
    base = ["--input", str(root), "--out", str(out), "--quiet"]
    # M2 is published last; re-publishing M1 makes M2 stale
    code, _, err = invoke(capsys, "run", "--snapshot", M1, *base)
    assert code == 0, err
    assert f"{M2} is stale" in err and "--force" in err
    code, stdout, err = invoke(capsys, "backfill", "--from", M1, "--to", M2, *base)
    assert code == 0, err
    assert "already published, skipped" in stdout and f"[2/2] {M2}" in stdout
    assert "re-run: " in stdout
    code, stdout, err = invoke(capsys, "backfill", "--from", M1, "--to", M2, *base)
    assert stdout.count("already published, skipped") == 2
    # a successor outside the range is named loudly
    code, _, err = invoke(capsys, "backfill", "--from", M1, "--to", M1, "--force", *base)
    assert code == 0 and f"{M2} is stale" in err
