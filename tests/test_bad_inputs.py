"""The bad-input corpus: every case ends in a run that accounts for every row, or one clear error
line.

Each case breaks a copy of a small generated snapshot and runs the real `datapool run`.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from cliutil import assert_one_clear_line, invoke

pytestmark = [pytest.mark.prefect, pytest.mark.slow]
MONTH = "2025-03"


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> Path:
    from datapool.samples import generate

    root = tmp_path_factory.mktemp("tiny")
    generate(root, 150, [MONTH], seed=3)
    shutil.rmtree(root / "truth")
    return root


def _csv(root: Path, name: str) -> Path:
    return root / MONTH / f"{name}.csv"


def _edit_text(path: Path, fn, encoding: str = "utf-8") -> None:
    text = path.read_bytes().decode("utf-8-sig" if encoding == "utf-8" else encoding)
    path.write_bytes(fn(text).encode(encoding))


def _append_line(path: Path, line: str, encoding: str = "utf-8") -> None:
    _edit_text(path, lambda t: t + line + "\r\n", encoding)


def _row_with(header: str, path: Path, **values: str) -> str:
    import csv
    import io

    text = (
        path.read_bytes().decode("utf-8-sig")
        if "social" not in path.name
        else path.read_bytes().decode("gb18030")
    )
    rows = list(csv.reader(io.StringIO(text)))
    row = dict(zip(rows[0], rows[1], strict=True))
    row.update(values)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow([row[h] for h in rows[0]])
    return buf.getvalue()


def _truncate(root):
    p = _csv(root, "market_supervision")
    p.write_bytes(p.read_bytes()[:-37])


def _gb_invalid(root):
    p = _csv(root, "social_insurance")
    data = p.read_bytes()
    p.write_bytes(data[:400] + b"\x81\x20" + data[400:])


def _utf8_invalid(root):
    p = _csv(root, "tax_registry")
    data = p.read_bytes()
    p.write_bytes(data[:500] + b"\xc3\x28" + data[500:])


def _ragged(root):
    p = _csv(root, "tax_registry")
    _append_line(p, _row_with("", p) + ",extra,fields")


def _quoted_newline(root):
    p = _csv(root, "market_supervision")
    _append_line(
        p,
        _row_with(
            "",
            p,
            住所="梅林镇红旗大道8号\n二楼, 东侧",
            统一社会信用代码="",
            企业名称="赣县新开业商行",
        ),
    )


def _crlf_bom(root):
    p = _csv(root, "tax_registry")
    p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes())


def _empty_file(root):
    _csv(root, "market_supervision").write_bytes(b"")


def _header_only(root):
    p = _csv(root, "tax_registry")
    p.write_bytes(p.read_bytes().split(b"\r\n")[0] + b"\r\n")


def _binary(root):
    _csv(root, "social_insurance").write_bytes(bytes(range(256)) * 20)


def _dup_header(root):
    _edit_text(_csv(root, "tax_registry"), lambda t: t.replace("主管税务所", "纳税人名称", 1))


def _missing_column(root):
    p = _csv(root, "social_insurance")
    _edit_text(p, lambda t: t.replace("参保人数", "人数", 1), "gb18030")


def _float_ids(root):
    p = _csv(root, "tax_registry")
    _append_line(p, _row_with("", p, 纳税人识别号="9.13607041234568E+17"))


def _bad_date(root):
    p = _csv(root, "tax_registry")
    _append_line(p, _row_with("", p, 登记日期="2021-13-45"))


def _text_headcount(root):
    p = _csv(root, "tax_registry")
    _append_line(p, _row_with("", p, 从业人数="二十"))


def _negative_headcount(root):
    p = _csv(root, "social_insurance")
    _append_line(p, _row_with("", p, 参保人数="-4", 单位编号="X999"), "gb18030")


def _long_field(root):
    p = _csv(root, "tax_registry")
    _append_line(p, _row_with("", p, 生产经营地址="很长" * 50_000))


def _no_members(root):
    (root / "members.sqlite").unlink()


def _members_no_table(root):
    con = sqlite3.connect(root / "members.sqlite")
    con.execute("DROP TABLE union_member")
    con.commit()
    con.close()


def _grids_not_geojson(root):
    (root / "grids.geojson").write_text("<kml>not json</kml>", encoding="utf-8")


def _grids_wrong_json(root):
    (root / "grids.geojson").write_text(
        '{"type": "Point", "coordinates": [1, 2]}', encoding="utf-8"
    )


def _grids_missing(root):
    (root / "grids.geojson").unlink()


def _xlsx_garbage(root):
    (root / MONTH / "civil_affairs.xlsx").write_bytes(b"PK\x03\x04 this is not a workbook")


def _civil_missing(root):
    (root / MONTH / "civil_affairs.xlsx").unlink()


def _all_missing(root):
    for f in (root / MONTH).iterdir():
        f.unlink()


def _utf16(root):
    p = _csv(root, "tax_registry")
    p.write_bytes(p.read_bytes().decode("utf-8").encode("utf-16"))


def _empty_rows(root):
    p = _csv(root, "tax_registry")
    _append_line(p, "," * 8)
    _append_line(p, " , , ,,,,,,")


def _extra_columns_with_phone(root):
    _edit_text(
        _csv(root, "tax_registry"),
        lambda t: t.replace("\r\n", ",备注\r\n", 1).replace(
            "梅林税务所\r\n", "梅林税务所,联系人13912345678\r\n"
        ),
    )


def _reordered(root):
    import csv
    import io

    p = _csv(root, "tax_registry")
    rows = list(csv.reader(io.StringIO(p.read_text(encoding="utf-8"))))
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([list(reversed(r)) for r in rows])
    p.write_text(buf.getvalue(), encoding="utf-8")


def _fullwidth_header(root):
    p = _csv(root, "market_supervision")
    _edit_text(p, lambda t: t.replace("注册资本(万元)", " 注册资本（万元） ", 1), "utf-8-sig")


def _nul_bytes(root):
    p = _csv(root, "tax_registry")
    data = p.read_bytes()
    p.write_bytes(data[:300] + b"\x00" + data[300:])


def _excel_numeric_id(root):
    from openpyxl import load_workbook

    path = root / MONTH / "civil_affairs.xlsx"
    wb = load_workbook(path)
    wb.worksheets[0]["A2"] = 513607211234567000
    wb.save(path)


CASES = {
    # name: (mutation, extra CLI args, expectation: "ok" + quarantine words | "error" + words)
    "truncated file": (_truncate, [], ("ok", "ragged row")),
    "invalid GB18030 bytes": (_gb_invalid, [], ("ok", "invalid bytes")),
    "invalid UTF-8 bytes": (_utf8_invalid, [], ("ok", "invalid bytes")),
    "ragged row": (_ragged, [], ("ok", "ragged row")),
    "quoted newline": (_quoted_newline, [], ("ok", None)),
    "CRLF with BOM": (_crlf_bom, [], ("ok", None)),
    "empty file": (
        _empty_file,
        [],
        ("error", "market_supervision.csv", "is empty", "--accept-source market_supervision"),
    ),
    "empty file, accepted": (_empty_file, ["--accept-source", "market_supervision"], ("ok", None)),
    "header-only file": (
        _header_only,
        [],
        ("error", "tax_registry.csv", "is empty", "--carry-forward tax_registry"),
    ),
    "header-only file, accepted": (_header_only, ["--accept-source", "all"], ("ok", None)),
    "binary garbage": (_binary, [], ("error", "social_insurance.csv")),
    "duplicate header": (_dup_header, [], ("error", "tax_registry.csv", "more than once")),
    "missing header": (_missing_column, [], ("error", "social_insurance.csv", "参保人数")),
    "identifier as float": (_float_ids, [], ("ok", "turned into a number")),
    "impossible date": (_bad_date, [], ("ok", "not a valid date")),
    "non-numeric headcount": (_text_headcount, [], ("ok", "not a whole number")),
    "negative headcount": (_negative_headcount, [], ("ok", "negative count")),
    "absurdly long field": (_long_field, [], ("ok", "longer than")),
    "member db missing": (_no_members, [], ("error", "members.sqlite", "does not exist")),
    "member db lacks a table": (_members_no_table, [], ("error", "union_member")),
    "grids not GeoJSON": (_grids_not_geojson, [], ("error", "grids.geojson", "not GeoJSON")),
    "grids not a FeatureCollection": (_grids_wrong_json, [], ("error", "FeatureCollection")),
    "grids missing": (_grids_missing, [], ("error", "grids.geojson", "does not exist")),
    "xlsx garbage": (_xlsx_garbage, [], ("error", "civil_affairs.xlsx", "not a readable")),
    "agency sent nothing": (
        _civil_missing,
        [],
        ("error", "civil_affairs (民政) sent no export", "--accept-source civil_affairs"),
    ),
    "agency sent nothing, accepted": (
        _civil_missing,
        ["--accept-source", "civil_affairs"],
        ("ok", None),
    ),
    "no export at all": (_all_missing, [], ("error", "no agency export")),
    "UTF-16 file": (_utf16, [], ("error", "tax_registry.csv")),
    "empty rows": (_empty_rows, [], ("ok", "empty row")),
    "extra columns with a phone": (_extra_columns_with_phone, [], ("ok", None)),
    "columns reordered": (_reordered, [], ("ok", None)),
    "full-width header": (_fullwidth_header, [], ("ok", None)),
    "NUL byte": (_nul_bytes, [], ("ok", "invalid bytes")),
    "xlsx numeric identifier": (_excel_numeric_id, [], ("ok", "precision lost")),
    "warehouse URL garbage": (
        lambda r: None,
        ["--warehouse-url", "nonsense://"],
        ("error", "warehouse"),
    ),
    "member URL garbage": (
        lambda r: None,
        ["--members-url", "::not a url::"],
        ("error", "member database"),
    ),
    "snapshot folder missing": (
        lambda r: None,
        ["--snapshot", "2024-01"],
        ("error", "2024-01", "does not exist"),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input(case, tiny, tmp_path, capsys, prefect_harness):
    mutate, extra, expect = CASES[case]
    root = tmp_path / "in"
    shutil.copytree(tiny, root)
    mutate(root)
    out = tmp_path / "out"
    args = ["run", "--input", str(root), "--out", str(out), "--quiet"]
    if "--snapshot" not in extra:
        args += ["--snapshot", MONTH]
    code, stdout, err = invoke(capsys, *args, *extra)
    if expect[0] == "error":
        assert_one_clear_line(code, err, *expect[1:])
        return
    assert code == 0, err
    assert "Traceback" not in err
    con = sqlite3.connect(out / "warehouse.sqlite")
    rows_in, acc, quar = con.execute(
        "SELECT rows_in, rows_accepted, rows_quarantined FROM pipeline_run WHERE status = 'success'"
    ).fetchone()
    assert rows_in == acc + quar
    assert con.execute("SELECT count(*) FROM source_record").fetchone()[0] == acc
    reasons = [r[0] for r in con.execute("SELECT reason FROM quarantine")]
    raws = " ".join(r[0] or "" for r in con.execute("SELECT raw FROM quarantine"))
    extras = " ".join(r[0] or "" for r in con.execute("SELECT extra FROM source_record"))
    con.close()
    if expect[1]:
        assert any(expect[1] in r for r in reasons), reasons
    assert "13912345678" not in extras + raws
