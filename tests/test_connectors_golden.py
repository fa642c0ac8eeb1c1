"""Golden files for the connectors: small real-looking exports in, exact records and quarantine out.

``tests/golden/connectors/exports/`` holds one export per agency, written the way agencies write
them (UTF-8 with BOM and CRLF, GB18030, UTF-8 without BOM, an .xlsx with Excel dates) with the
problems real exports have: lower-case check letters, a USCC failing its check, 注册号 and old
15-character tax ids, dates in every spelling, an unquoted thousands separator, an empty row, a
number in an identifier cell, negative and non-numeric counts, coordinates out of range, personal
columns and a contact column. Each is read with a fixed key and compared, row for row and field
for field, with ``tests/golden/connectors/expected/<source>.json``.

A change that means to alter what the reader gives regenerates the expected files and says why:

    .venv/bin/python -m pytest tests/test_connectors_golden.py --update-golden
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from datapool.connectors.reader import find_export, read_export
from datapool.connectors.specs import SPECS, ExportSpec

HERE = Path(__file__).parent / "golden" / "connectors"
KEY = "golden-file-key"  # the keyed hashes (phones, unsplit rows) depend on it


def _plain(v: Any) -> Any:
    return v.isoformat() if isinstance(v, dt.date | dt.datetime) else v


def read_as_data(spec: ExportSpec) -> dict[str, Any]:
    """What the reader gives for the golden export of ``spec``, as plain JSON data."""
    path = find_export(HERE / "exports", spec)
    assert path is not None, f"no golden export for {spec.source}"
    r = read_export(path, spec, KEY)
    return {
        "file": path.name,
        "encoding": r.encoding,
        "rows_in": r.rows_in,
        "physical_rows": r.physical_rows,
        "dropped_columns": r.dropped_columns,
        "records": [
            {k: _plain(v) for k, v in row.items()}
            for row in r.records.sort("source_row").to_dicts()
        ],
        "quarantine": r.quarantine.sort("source_row").to_dicts(),
    }


@pytest.mark.parametrize("spec", SPECS, ids=[s.source for s in SPECS])
def test_export_reads_exactly_as_the_golden_file(spec, request):
    got = read_as_data(spec)
    expected = HERE / "expected" / f"{spec.source}.json"
    if request.config.getoption("--update-golden"):
        expected.parent.mkdir(exist_ok=True)
        expected.write_text(json.dumps(got, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        pytest.skip(f"wrote {expected}")
    want = json.loads(expected.read_text(encoding="utf-8"))
    for part in ("file", "encoding", "rows_in", "physical_rows", "dropped_columns"):
        assert got[part] == want[part], (spec.source, part)
    for part in ("records", "quarantine"):
        rows_got = {r["source_row"]: r for r in got[part]}
        rows_want = {r["source_row"]: r for r in want[part]}
        assert sorted(rows_got) == sorted(rows_want), (spec.source, part, "rows")
        for row, r in rows_want.items():
            assert rows_got[row] == r, (spec.source, part, f"row {row}")
    assert got["rows_in"] == len(got["records"]) + len(got["quarantine"])
