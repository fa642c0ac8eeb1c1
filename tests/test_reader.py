from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datapool.connectors.reader import read_export
from datapool.connectors.specs import CIVIL, MARKET, SOCIAL_INSURANCE, SPECS, TAX
from datapool.errors import InputError, MissingColumnError
from datapool.settings import Settings
from datapool.stages import ingest

HEADER = [
    "统一社会信用代码",
    "注册号",
    "企业名称",
    "企业类型",
    "法定代表人",
    "注册资本(万元)",
    "成立日期",
    "登记状态",
    "住所",
    "行业代码",
    "经度",
    "纬度",
]
GOOD = [
    "91350100M000100Y43",
    "",
    "赣州市赣县区宏达建材有限公司",
    "有限责任公司",
    "张三",
    "100",
    "2019-03-05",
    "存续",
    "梅林镇广场社区红旗大道8号",
    "F51",
    "114.9",
    "25.8",
]


def write(
    path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8", eol: str = "\n"
) -> Path:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=eol)
    w.writerow(header)
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def market(tmp_path, rows, **kw) -> tuple:
    r = read_export(
        write(tmp_path / "market_supervision.csv", kw.pop("header", HEADER), rows, **kw),
        MARKET,
        "k",
    )
    return r.records, r.quarantine


@pytest.mark.parametrize(
    "encoding", ["utf-8", "utf-8-sig", "gb18030", "utf-16", "utf-16-le", "utf-16-be"]
)
def test_encodings_detected(tmp_path, encoding):
    recs, quar = market(tmp_path, [GOOD], encoding=encoding)
    assert quar.height == 0 and recs["name"].to_list() == ["赣州市赣县区宏达建材有限公司"]


def test_crlf_and_quoted_newline(tmp_path):
    row = GOOD.copy()
    row[8] = "梅林镇\n红旗大道8号"
    recs, quar = market(tmp_path, [row, GOOD], eol="\r\n", encoding="utf-8-sig")
    assert recs["source_row"].to_list() == [1, 2] and quar.height == 0


@pytest.mark.parametrize(
    "text,expected",
    [
        ("2019-03-05", date(2019, 3, 5)),
        ("2019/3/5", date(2019, 3, 5)),
        ("20190305", date(2019, 3, 5)),
        ("2019年3月5日", date(2019, 3, 5)),
        ("", None),
    ],
)
def test_date_formats(tmp_path, text, expected):
    row = GOOD.copy()
    row[6] = text
    recs, _ = market(tmp_path, [row])
    assert recs["founded_on"].to_list() == [expected]


def test_dates_of_mixed_spellings_in_one_column():
    from datapool.connectors.reader import _dates

    values = [
        "20190305",
        "2019.3.5日",
        " 2019/03/05 00:00:00",
        "2019-02-30",
        "20190230",
        "2019年3/5",
        "201903051",
        "2019-03-05T00:00",
        None,
        "2019年12月31日",
    ]
    assert _dates(pl.Series(values, dtype=pl.Utf8)).to_list() == [
        date(2019, 3, 5),
        date(2019, 3, 5),
        date(2019, 3, 5),
        None,
        None,
        date(2019, 3, 5),
        None,
        None,
        None,
        date(2019, 12, 31),
    ]


@pytest.mark.parametrize(
    "value,kind",
    [
        ("91350100M000100Y43", "uscc"),
        ("91350100m000100y43", "uscc lower"),
        ("M000100Y4", "org"),
        ("350100M000100Y4", "taxid15"),
        ("", "blank"),
        ("0012345678", "leading zeros"),
    ],
)
def test_identifiers_stay_text(tmp_path, value, kind):
    row = GOOD.copy()
    row[0] = value
    recs, _ = market(tmp_path, [row])
    assert recs["id"].to_list() == [value or None], kind


@pytest.mark.parametrize(
    "col,value,reason",
    [
        (0, "9.13607041234568E+17", "turned into a number"),
        (2, "", "required value is blank"),
        (6, "2019-02-30", "not a valid date"),
        (10, "east", "not a number"),
        (10, "400", "out of range"),
        (8, "路" * 1200, "longer than"),
    ],
)
def test_bad_values_quarantined_with_reason(tmp_path, col, value, reason):
    row = GOOD.copy()
    row[col] = value
    recs, quar = market(tmp_path, [GOOD, row])
    assert recs.height == 1 and quar.height == 1
    assert quar["source_row"].to_list() == [2] and reason in quar["reason"][0]
    assert quar["raw"][0]


def test_ragged_and_empty_rows(tmp_path):
    recs, quar = market(tmp_path, [GOOD, GOOD[:5], GOOD + ["x"], [""] * len(HEADER)])
    assert recs.height == 1
    assert (
        quar["reason"].to_list()[0].startswith("ragged row")
        and "empty row" in quar["reason"].to_list()[2]
    )
    # white space of any width is empty too; a value in the last column alone is not
    spaces = [" ", "\u3000", "\t"] + [""] * (len(HEADER) - 3)
    recs, quar = market(tmp_path, [spaces, [""] * (len(HEADER) - 1) + ["25.8"], GOOD])
    assert quar["reason"].to_list()[0] == "empty row" and quar["source_row"].to_list()[:2] == [1, 2]
    assert quar["reason"][1] != "empty row" and recs.height == 1


def test_invalid_bytes_quarantined(tmp_path):
    path = write(tmp_path / "market_supervision.csv", HEADER, [GOOD, GOOD], encoding="gb18030")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 30] + b"\xff\xfe" + data[len(data) - 30 :])
    r = read_export(path, MARKET, "k")
    assert r.records.height + r.quarantine.height == 2
    assert "invalid bytes" in r.quarantine["reason"][0]


def test_header_spacing_fullwidth_order_and_extra_columns(tmp_path):
    header = [" 企业名称 ", "统一社会信用代码", "注册资本（万元）", "登记状态", "住所", "经营 范围"]
    rows = [["宏达建材有限公司", "91350100M000100Y43", "50", "存续", "梅林镇", "建材 13812345678"]]
    r = read_export(write(tmp_path / "market_supervision.csv", header, rows), MARKET, "k")
    assert r.records["capital"].to_list() == [50.0]
    assert json.loads(r.records["extra"][0]) == {"经营 范围": "建材 <number>"}


def test_missing_required_column_is_one_clear_error(tmp_path):
    header = [h for h in HEADER if h != "企业名称"]
    with pytest.raises(
        MissingColumnError, match="market_supervision.csv: required column '企业名称' is missing"
    ):
        market(tmp_path, [GOOD[:2] + GOOD[3:]], header=header)


def _garbled(text: str, wrongly: str) -> bytes:
    """UTF-8 text opened as ``wrongly`` and saved again as UTF-8, as re-saving in an editor does."""
    return text.encode("utf-8").decode(wrongly, errors="replace").encode("utf-8")


@pytest.mark.parametrize(
    ("wrongly", "words"),
    [
        ("latin-1", ["encoding problem", "opened as latin-1", "detected encoding utf-8"]),
        ("gb18030", ["encoding problem", "opened as gb18030", "headers found: 缁熶竴"]),
    ],
)
def test_garbled_utf8_is_an_encoding_problem(tmp_path, wrongly, words):
    import csv
    import io

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([HEADER, GOOD])
    path = tmp_path / "market_supervision.csv"
    path.write_bytes(_garbled(buf.getvalue(), wrongly))
    with pytest.raises(InputError) as err:
        read_export(path, MARKET, "k")
    msg = str(err.value)
    assert "required column" not in msg
    for w in words:
        assert w in msg, msg


def test_duplicate_header_is_an_error(tmp_path):
    with pytest.raises(InputError, match="appears more than once"):
        market(tmp_path, [GOOD + ["x"]], header=HEADER + ["企业名称"])


def test_empty_file_is_an_error(tmp_path):
    (tmp_path / "market_supervision.csv").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        read_export(tmp_path / "market_supervision.csv", MARKET, "k")


def test_personal_columns_never_kept(tmp_path):
    recs, _ = market(tmp_path, [GOOD])
    assert "legal_rep" not in recs.columns and "张三" not in str(recs.to_dicts())
    header = [
        "单位编号",
        "单位名称",
        "统一社会信用代码",
        "参保人数",
        "单位地址",
        "联系电话",
        "参保状态",
        "数据期",
    ]
    row = ["3607001", "宏达建材", "", "-3", "梅林镇", "13812345678", "正常参保", "202505"]
    r = read_export(
        write(tmp_path / "social_insurance.csv", header, [row, row[:3] + ["12"] + row[4:]]),
        SOCIAL_INSURANCE,
        "k",
    )
    assert r.quarantine["reason"][0].endswith("negative count")
    assert "13812345678" not in r.quarantine["raw"][0] and "13812345678" not in str(
        r.records.to_dicts()
    )
    assert r.records["phone_hash"][0] and len(r.records["phone_hash"][0]) == 16


def test_only_allow_listed_extra_columns_are_kept(tmp_path):
    # unknown columns are dropped unless allow-listed; kept ones have contact numbers blanked
    header = HEADER + ["联系人", "办税人", "Tel", "备注", "经营范围"]
    good = GOOD + ["张三丰", "王二", "0797-4441234", "老厂区", "建材 +86 138 1234 5678"]
    bad = [*GOOD[:6], "2019-02-30", *GOOD[7:], "李四光", "赵六", "", "新厂区", "五金"]
    recs, quar = market(tmp_path, [good, bad], header=header)
    assert json.loads(recs["extra"][0]) == {"经营范围": "建材 <phone>"}
    raw = json.loads(quar["raw"][0])
    assert raw["经营范围"] == "五金" and raw["统一社会信用代码"] == GOOD[0]
    assert not {"联系人", "办税人", "Tel", "备注", "法定代表人"} & set(raw)
    assert "李四光" not in quar["raw"][0] and "张三丰" not in str(recs.to_dicts())


def test_unsplit_rows_keep_only_field_count_and_keyed_hash(tmp_path):
    # a ragged row's columns cannot be told apart: none of its text is kept
    ragged = [*GOOD[:4], "张三", "李四", *GOOD[5:]]
    r = read_export(write(tmp_path / "market_supervision.csv", HEADER, [ragged]), MARKET, "k" * 16)
    raw = json.loads(r.quarantine["raw"][0])
    assert set(raw) == {"fields", "row_hash"} and raw["fields"] == len(HEADER) + 1
    assert r.quarantine["reason"][0].startswith("ragged row")


def test_xlsx_with_excel_dates_and_numeric_identifier(tmp_path):
    path = tmp_path / "civil_affairs.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet()
    header = [
        "统一社会信用代码",
        "社会组织名称",
        "社会组织类型",
        "法定代表人",
        "业务主管单位",
        "成立登记日期",
        "登记状态",
        "住所",
        "从业人员数",
    ]
    ws.write_row(0, 0, header)
    ws.write_string(1, 0, "51360721MA35X0XX0B")
    ws.write_row(1, 1, ["赣县青年志愿者协会", "社会团体", "李四", ""])
    ws.write_datetime(1, 5, datetime(2019, 3, 5), wb.add_format({"num_format": "yyyy-mm-dd"}))
    ws.write_row(1, 6, ["正常", "梅林镇"])
    ws.write_number(1, 8, 12)
    ws.write_number(2, 0, 913607041234567000)
    ws.write_row(
        2, 1, ["赣县书画协会", "社会团体", "王五", "", "2019年3月5日", "正常", "梅林镇", ""]
    )
    wb.close()
    r = read_export(path, CIVIL, "k")
    assert r.records["founded_on"].to_list() == [date(2019, 3, 5)]
    assert r.records["headcount"].to_list() == [12] and r.records["id"].to_list() == [
        "51360721MA35X0XX0B"
    ]
    assert "number" in r.quarantine["reason"][0]


def test_missing_file_is_reported_and_run_goes_on(sample_copy, caplog):
    (sample_copy / "2025-05" / "tax_registry.csv").unlink()
    ing = ingest(Settings(input_root=sample_copy, hmac_key="k"), "2025-05")
    assert ing.missing == ["tax_registry"] and "tax_registry" not in ing.files
    assert any("no tax_registry export" in m for m in caplog.messages)


def test_row_accounting_on_samples(samples, truth_rows):
    for month, truth in truth_rows.items():
        ing = ingest(Settings(input_root=samples, hmac_key="k"), month)
        for spec in SPECS:
            f = ing.files[spec.source]
            assert f["rows_in"] == f["accepted"] + f["quarantined"]
            assert f["rows_in"] == truth.filter(pl.col("source") == spec.source).height
        expected_bad = truth.filter(pl.col("enterprise_key") == "QUARANTINE").select(
            "source", "source_row"
        )
        assert (
            ing.quarantine.select("source", "source_row")
            .sort("source", "source_row")
            .equals(expected_bad.sort("source", "source_row"))
        )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=600))
def test_reader_never_raises_anything_but_input_error_on_random_bytes(tmp_path, data):
    path = tmp_path / "tax_registry.csv"
    path.write_bytes("纳税人识别号,纳税人名称,生产经营地址,纳税人状态\n".encode() + data)
    try:
        r = read_export(path, TAX, "k")
    except InputError:
        return
    assert r.rows_in == r.records.height + r.quarantine.height


def test_phone_without_digits_gets_no_hash(tmp_path):
    header = [
        "单位编号",
        "单位名称",
        "统一社会信用代码",
        "参保人数",
        "单位地址",
        "联系电话",
        "参保状态",
        "数据期",
    ]
    rows = [
        ["1", "甲商行", "", "3", "梅林镇", "无", "正常参保", "202505"],
        ["2", "乙商行", "", "3", "梅林镇", "-", "正常参保", "202505"],
        ["3", "丙商行", "", "3", "梅林镇", "0797-5551234", "正常参保", "202505"],
    ]
    r = read_export(write(tmp_path / "social_insurance.csv", header, rows), SOCIAL_INSURANCE, "k")
    assert r.records["phone_hash"].to_list()[:2] == [None, None] and r.records["phone_hash"][2]


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (
            "电话13812345678,13912345678/13712345678 证件110101199003071234,11010119900307123X",
            "电话<number>,<number>/<number> 证件<number>,<number>",
        ),
        ("Tel: +86 138 1234 5678", "Tel: <phone>"),
        ("0797-4441234 或 (0797) 4441234", "<phone> 或 <phone>"),
        ("座机4441234", "座机<number>"),
        ("身份证360721800101123", "身份证<number>"),
        ("a.b@example.com 联系", "<email> 联系"),
        ("2019-03-05 红旗大道8号", "2019-03-05 红旗大道8号"),
    ],
)
def test_personal_values_are_blanked(text, want):
    from datapool.privacy import redact, redact_series

    assert redact(text) == want
    assert redact_series(pl.Series([text, "plain"]))[0] == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("负责人王经理电话 138-1234-5678，可再联系", "负责人<name>经理电话 <phone>，可再联系"),
        ("职工张某 身份证 360721198803051234 工伤", "职工<name> 身份证 <number> 工伤"),
        ("联系人：李娟 电话", "联系人：<name> 电话"),
        ("联系人刘芳，周三在厂", "联系人<name>，周三在厂"),
        ("员工王小明", "员工<name>"),
        ("陈女士称职工30人", "<name>女士称职工30人"),
        ("找欧阳先生", "找<name>先生"),
        ("李总说下月再谈", "<name>总说下月再谈"),
        ("王总", "<name>总"),
        # words, not people: left as written
        ("公司总经理不在", "公司总经理不在"),
        ("完成总产值", "完成总产值"),
        ("党总支书记", "党总支书记"),
        ("保安队长", "保安队长"),
        ("职工何时发工资不清楚", "职工何时发工资不清楚"),
        ("老板出差，需再约", "老板出差，需再约"),
        ("县总工会", "县总工会"),
        ("担心建会增加成本", "担心建会增加成本"),
    ],
)
def test_people_named_by_title_or_role_are_masked_in_notes(text, want):
    from datapool.privacy import redact, redact_series

    assert redact(text, persons=True) == want
    assert redact_series(pl.Series([text, "plain"]), persons=True)[0] == want
    if "<phone>" not in want and "<number>" not in want:
        assert redact(text) == text  # agency columns (经营范围, …) keep their words


@given(st.text(alphabet=st.sampled_from(list("0123456789138X, -电a@.")), max_size=60))
def test_redaction_leaves_no_long_digit_run(text):
    import re

    from datapool.privacy import redact

    assert not re.search(r"\d{7}", redact(text))
