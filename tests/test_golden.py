"""Golden output: every warehouse table of both sample months, compared with a committed digest.

The session's end-to-end run (``sample_run`` in conftest.py, shared with test_pipeline.py) is
summarised per snapshot and table as its row count, a digest of its sorted rows and a digest of each
column's sorted values, with the columns that change from run to run left out (run ids, timestamps,
durations, absolute paths). The summary is compared with ``tests/golden/warehouse.json``.

A change that means to alter outputs (a matching rule, a new column) regenerates the file and says
why in its commit:

    .venv/bin/python -m pytest tests/test_golden.py --update-golden

A failure names each table that differs, its row counts and the columns whose values changed.
The run uses the public test key (conftest.py sets ``DATAPOOL_HMAC_KEY`` to it), on which the
phone hashes, member keys and new enterprise ids depend.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from datapool.connectors import warehouse
from datapool.schemas import warehouse as wh

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

GOLDEN = Path(__file__).parent / "golden" / "warehouse.json"
MONTHS = ["2025-05", "2025-06"]
TABLES = (*wh.SNAPSHOT_TABLES, "pipeline_run")
# columns that differ between two runs of the same inputs
VOLATILE = {"pipeline_run": {"run_id", "started_at", "finished_at", "message"}}
FLOAT_DIGITS = 6  # floats are compared rounded, so a last-bit difference between platforms passes
DIGEST_CHARS = 16  # hex characters kept of each SHA-256


def _value(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, FLOAT_DIGITS)
    if isinstance(v, dt.date | dt.datetime):
        return v.isoformat()
    return v


def _counts(text: str) -> str:
    """``pipeline_run.counts`` without the absolute paths of the files read."""
    counts = json.loads(text)
    for f in counts.get("files", {}).values():
        f["file"] = Path(f["file"]).name
    return json.dumps(counts, ensure_ascii=False, sort_keys=True)


def _digest(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:DIGEST_CHARS]


def table_summary(conn: sa.Connection, name: str, snapshot: str) -> dict[str, Any]:
    """Row count, row digest and per-column digests of one snapshot of one table."""
    table = wh.metadata.tables[name]
    cols = [c for c in table.columns if c.name not in VOLATILE.get(name, set())]
    query = sa.select(*cols).where(table.c.snapshot == snapshot)
    if name == "pipeline_run":  # failed runs and re-runs of the session's other tests aside
        query = query.where(table.c.status == "success").distinct()
    rows = []
    for r in conn.execute(query):
        row = {c.name: _value(v) for c, v in zip(cols, r, strict=True)}
        if name == "pipeline_run" and row["counts"]:
            row["counts"] = _counts(row["counts"])
        rows.append(row)
    dump = lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)  # noqa: E731
    return {
        "rows": len(rows),
        "digest": _digest(sorted(dump(r) for r in rows)),
        "columns": {c.name: _digest(sorted(dump(r[c.name]) for r in rows)) for c in cols},
    }


def warehouse_summary(url: str) -> dict[str, dict[str, Any]]:
    """``table_summary`` of every table of every sample month, keyed ``month/table``."""
    engine = warehouse.engine_for(url)
    with engine.connect() as conn:
        return {f"{m}/{t}": table_summary(conn, t, m) for m in MONTHS for t in TABLES}


def differences(golden: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """One line per table whose summary differs, naming its row counts and changed columns."""
    out = []
    for key in sorted(set(golden) | set(now)):
        g, n = golden.get(key), now.get(key)
        if g == n:
            continue
        if g is None or n is None:
            out.append(f"{key}: {'not in the golden file' if g is None else 'missing now'}")
            continue
        cols = sorted(
            c
            for c in set(g["columns"]) | set(n["columns"])
            if g["columns"].get(c) != n["columns"].get(c)
        )
        out.append(
            f"{key}: rows {g['rows']} golden, {n['rows']} now; "
            f"columns that differ: {', '.join(cols) or 'none (rows pair up differently)'}"
        )
    return out


def test_warehouse_matches_golden(sample_run, request):
    now = warehouse_summary(sample_run["url"])
    if request.config.getoption("--update-golden"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"wrote {GOLDEN}")
    assert GOLDEN.exists(), "no golden file: run pytest tests/test_golden.py --update-golden"
    diff = differences(json.loads(GOLDEN.read_text()), now)
    assert not diff, (
        "warehouse tables differ from tests/golden/warehouse.json (if the change is intended, "
        "regenerate with `pytest tests/test_golden.py --update-golden` and say why in the "
        "commit):\n  " + "\n  ".join(diff)
    )


def test_differences_name_the_table_and_columns():
    golden = {"2025-06/enterprise": {"rows": 2, "digest": "a", "columns": {"x": "1", "y": "2"}}}
    now = {"2025-06/enterprise": {"rows": 3, "digest": "b", "columns": {"x": "1", "y": "9"}}}
    assert differences(golden, now) == [
        "2025-06/enterprise: rows 2 golden, 3 now; columns that differ: y"
    ]
    assert differences(golden, {}) == ["2025-06/enterprise: missing now"]
    assert differences(golden, golden) == []
