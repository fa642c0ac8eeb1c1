"""三查三记 records back into the pool (../shared/spec/visits.md, issue #17 "Records back in").

Unit tests build small record files against the samples' resolution; the end-to-end tests read
the session's flow run of the samples, whose 2025-06 holds the generator's filled sheets
(data/samples/2025-06/visit_records/), and check every effect against the generator's truth
(data/samples/truth/2025-06/visits.csv).
"""

from __future__ import annotations

import html
import json
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from datapool.connectors import warehouse
from datapool.connectors.reader import read_export
from datapool.connectors.specs import VISIT_RECORDS
from datapool.errors import InputError
from datapool.privacy import TEST_KEY, keyed_hash
from datapool.visits import records as vr

HEADER = ",".join(c.header for c in VISIT_RECORDS.columns)
MONTH = "2025-06"


def _ents(resolved) -> list[dict]:
    res = resolved[MONTH][1]
    return res.enterprises.filter(pl.col("headcount") > 25).sort("enterprise_id").head(6).to_dicts()


def _write(folder: Path, name: str, lines: list[str], encoding: str = "utf-8") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(("\n".join([HEADER, *lines]) + "\n").encode(encoding))


def _loop(tmp_path: Path, resolved, lines: list[str], earlier=None) -> vr.VisitLoop:
    _write(tmp_path / vr.FOLDER, "a.csv", lines)
    files = vr.read_visit_files(tmp_path, TEST_KEY)
    return vr.link_visits(MONTH, files, resolved[MONTH][1], earlier)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ("{id},{name},{addr},2025-06-31,张三,正常,,,否,,,", "走访日期: not a valid date"),
        ("{id},{name},{addr},2025-07-01,张三,正常,,,否,,,", "走访日期: after the end of 2025-06"),
        ("{id},{name},{addr},,张三,正常,,,否,,,", "走访日期: required value is blank"),
        ("{id},{name},{addr},2025-06-03,张三,倒闭了,,,否,,,", "经营状态: not one of"),
        ("{id},{name},{addr},2025-06-03,张三,正常,约30人,,否,,,", "考勤人数: not a whole number"),
        ("{id},{name},{addr},2025-06-03,张三,正常,-3,,否,,,", "考勤人数: negative count"),
        ("{id},{name},{addr},2025-06-03,张三,正常,,,已建,,,", "是否已建会: not one of"),
        ("{id},{name},{addr},,,,,,,,,", "no visit recorded"),
        (",,,2025-06-03,张三,正常,,,否,,,", "the record names no enterprise"),
        (
            "E000000000000,月亮湾无此单位测试站,月球路999号,2025-06-03,张三,正常,,,否,,,",
            "企业ID E000000000000 is in no enterprise of this month",
        ),
        (
            ",月亮湾无此单位测试站,月球路999号,2025-06-03,张三,正常,,,否,,,",
            "match no enterprise of this month (no 企业ID)",
        ),
        ("{id},{name},{addr},2025-06-03,张三,正常,,,否", "ragged row"),
    ],
)
def test_a_broken_record_is_quarantined_with_its_reason(tmp_path, resolved, fields, reason):
    e = _ents(resolved)[0]
    line = fields.format(id=e["enterprise_id"], name=e["name"], addr=e["address"])
    loop = _loop(tmp_path, resolved, [line])
    assert loop.records.height == 0
    assert loop.quarantine.height == 1
    q = loop.quarantine.row(0, named=True)
    assert reason in q["reason"]
    label = vr.file_label("a.csv", TEST_KEY)  # the file's name is never stored
    assert label.startswith("F") and "a.csv" not in label
    assert (q["source"], q["file"], q["source_row"]) == ("visit_records", label, 1)
    assert loop.files[label] == {
        "rows_in": 1,
        "accepted": 0,
        "quarantined": 1,
        "physical_rows": 1,
        "duplicates": 0,
        "encoding": "utf-8",
    }


def test_records_link_by_id_else_by_name_and_address(tmp_path, resolved):
    a, b = _ents(resolved)[:2]
    loop = _loop(
        tmp_path,
        resolved,
        [
            f"{a['enterprise_id'].lower()},改过的名字,,2025-06-03,张三,正常,,,否,,,",
            f",{b['name']},{b['address']},2025-06-04,张三,正常,,,否,,,",
        ],
    )
    got = loop.records.sort("source_row")
    assert got["enterprise_id"].to_list() == [a["enterprise_id"], b["enterprise_id"]]
    assert got["link_rule"][0] == "enterprise_id"
    assert got["link_rule"][1] not in ("enterprise_id", None)
    a_csv = vr.file_label("a.csv", TEST_KEY)
    assert got["record_id"].to_list() == [f"2025-06/{a_csv}#1", f"2025-06/{a_csv}#2"]
    assert loop.counts()["linked_by_id"] == 1 and loop.counts()["linked_by_match"] == 1


def test_personal_data_redacted_and_the_visitor_pseudonymous(tmp_path, resolved):
    e = _ents(resolved)[0]
    i = e["enterprise_id"]
    loop = _loop(
        tmp_path,
        resolved,
        [
            f"{i},x,y,2025-06-03,张三,正常,,电话 0797-4412345,否,"
            "王经理 138-1234-5678 a.b@example.com,身份证 360721198803051234 联系人刘芳，"
            "周三在,微信 13912345678",
            f"{i},x,y,2025-06-03,李四,倒闭了,,,否,找张三 138-1234-5678 负责人：陈红 电话,,",
        ],
    )
    rec = loop.records.row(0, named=True)
    assert rec["visitor_key"] == keyed_hash("张三", TEST_KEY)
    stored = json.dumps(loop.records.to_dicts(), ensure_ascii=False, default=str)
    quarantined = json.dumps(loop.quarantine.to_dicts(), ensure_ascii=False)
    for secret in ("4412345", "1234-5678", "example.com", "360721198803051234", "13912345678"):
        assert secret not in stored and secret not in quarantined
    assert "张三" not in stored and "李四" not in quarantined  # 网格员 only as its pseudonym
    assert "<phone>" in rec["concerns"] and "<email>" in rec["concerns"]
    # people named by title or role in the notes: the surname goes, the title stays
    for name in ("王经理", "刘芳", "陈红"):
        assert name not in stored and name not in quarantined, name
    assert rec["concerns"].startswith("<name>经理") and "联系人<name>，" in rec["needs"]


def test_a_title_row_and_weekly_tabs_are_read_as_the_sheet_is_printed(tmp_path, resolved):
    a, b = _ents(resolved)[:2]
    path = tmp_path / vr.FOLDER / "sheet.xlsx"
    path.parent.mkdir()
    wb = xlsxwriter.Workbook(str(path))
    header = HEADER.split(",")
    for week, e in ((1, a), (2, b)):
        ws = wb.add_worksheet(f"第{week}周")
        ws.write(0, 0, f"G001 网格员：张三  第{week}周")
        ws.write_row(1, 0, ["顺序", *header])  # the printed sheet's own columns are extra
        ws.write_row(2, 0, [1, e["enterprise_id"], e["name"], e["address"]])
        ws.write_datetime(
            2, 4, datetime(2025, 6, week * 7), wb.add_format({"num_format": "yyyy-mm-dd"})
        )
        ws.write_row(2, 5, ["张三", "正常", 30, "", "否"])
    wb.close()
    r = read_export(path, VISIT_RECORDS, TEST_KEY)
    assert (r.rows_in, r.physical_rows, r.quarantine.height) == (2, 2, 0)
    loop = vr.link_visits(MONTH, vr.read_visit_files(tmp_path, TEST_KEY), resolved[MONTH][1])
    assert loop.records["enterprise_id"].to_list() == [a["enterprise_id"], b["enterprise_id"]]
    assert loop.records["visited_on"].to_list() == [date(2025, 6, 7), date(2025, 6, 14)]


def test_one_visit_handed_in_twice_counts_once(tmp_path, resolved):
    e = _ents(resolved)[0]
    line = f"{e['enterprise_id']},x,y,2025-06-03,张三,停业,,,,,,"
    _write(tmp_path / vr.FOLDER, "a.csv", [line])
    _write(tmp_path / vr.FOLDER, "b.csv", [line], "gb18030")
    loop = vr.link_visits(MONTH, vr.read_visit_files(tmp_path, TEST_KEY), resolved[MONTH][1])
    assert loop.records.height == 1
    # the copy kept is the one first in (date, month, file label, row) order; the other names it
    kept = loop.records["file"][0]
    assert kept in {vr.file_label(f, TEST_KEY) for f in ("a.csv", "b.csv")}
    assert loop.quarantine["reason"].to_list() == [f"the same visit as {kept} row 1"]


def test_no_folder_no_records(tmp_path, resolved):
    files = vr.read_visit_files(tmp_path, TEST_KEY)
    loop = vr.link_visits(MONTH, files, resolved[MONTH][1])
    assert loop.records.height == loop.quarantine.height == 0
    assert loop.counts()["accepted"] == 0


def _merges(*rows: tuple[str, str, str]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=vr.MERGE_SCHEMA, orient="row")


@pytest.mark.parametrize(
    ("ids", "months", "merges", "want"),
    [
        (["A"], None, [("2025-06", "A", "B")], ["B"]),  # a sheet's id: every merge applies
        (["A", "C"], None, [("2025-04", "A", "B"), ("2025-06", "B", "D")], ["D", "C"]),  # chain
        (["A"], ["2025-05"], [("2025-06", "A", "B")], ["B"]),  # merged after the record
        (["A"], ["2025-06"], [("2025-06", "A", "B")], ["A"]),  # merged in the record's month
        (["A"], ["2025-07"], [("2025-06", "A", "B")], ["A"]),  # merged before the record
        (["A", "B"], ["2025-04", "2025-05"], [("2025-05", "A", "B")], ["B", "B"]),
        (["A"], None, [], ["A"]),
    ],
)
def test_follow_merges(ids, months, merges, want):
    frame = pl.DataFrame({"enterprise_id": ids, "snapshot": months or [""] * len(ids)})
    got = vr.follow_merges(frame, "enterprise_id", _merges(*merges), "snapshot" if months else None)
    assert got["enterprise_id"].to_list() == want
    assert got.columns == frame.columns


def test_ids_merged_since_are_followed(tmp_path, resolved):
    """An id printed on a sheet, or recorded in an earlier month, that a review or the registries
    merged into another enterprise since, still reaches that enterprise (enterprise_alias)."""
    res = resolved[MONTH][1]
    a, b = _ents(resolved)[:2]
    gone_a, gone_b = "E" + "0" * 14 + "A", "E" + "0" * 14 + "B"  # ids no enterprise holds now
    merges = _merges(("2025-05", gone_b, b["enterprise_id"]), (MONTH, gone_a, a["enterprise_id"]))
    _write(tmp_path / vr.FOLDER, "a.csv", [f"{gone_a},改过的名字,,2025-06-03,张三,停业,,,,,,"])
    # an April record of b under the id b had then (merged into b's in May)
    april = pl.DataFrame(
        [
            {
                **{n: None for n in vr.RECORD_SCHEMA.names()},
                "snapshot": "2025-04",
                "record_id": "2025-04/F000000000000#1",
                "file": "F000000000000",
                "source_row": 1,
                "enterprise_id": gone_b,
                "link_rule": "enterprise_id",
                "link_score": 1.0,
                "visited_on": date(2025, 4, 2),
                "observed_headcount": 77,
                "registry_status": b["status"],
                "registry_active": b["active"],
                "registry_headcount": b["headcount"],
            }
        ],
        schema=vr.RECORD_SCHEMA,
    )
    loop = vr.link_visits(MONTH, vr.read_visit_files(tmp_path, TEST_KEY), res, april, merges)
    got = loop.records.row(0, named=True)
    assert got["enterprise_id"] == a["enterprise_id"] and got["link_rule"] == "enterprise_alias"
    assert got["sheet_enterprise_id"] == gone_a  # as written
    assert loop.counts()["linked_by_id"] == 1
    assert loop.status.row(0, named=True)["enterprise_id"] == a["enterprise_id"]
    head = {r["enterprise_id"]: r["observed_headcount"] for r in loop.headcount.to_dicts()}
    assert head == {b["enterprise_id"]: 77}  # the April record reached the enterprise of today
    assert gone_b not in loop.history["enterprise_id"].to_list()


def test_merges_so_far_take_the_published_and_this_months():
    published = pl.DataFrame(
        {
            "snapshot": ["2025-04", "2025-05", "2025-06"],
            "old_id": ["A", "B", "X"],
            "new_id": ["B", "C", "Y"],
            "why": ["merged", "merged", "merged"],
        }
    )
    now = pl.DataFrame({"old_id": ["C", "P"], "new_id": ["D", "Q"], "why": ["merged", "split"]})
    got = vr.merges_so_far(published, now, "2025-06")
    assert got.rows() == [("2025-04", "A", "B"), ("2025-05", "B", "C"), ("2025-06", "C", "D")]


def test_effects_until_a_newer_registry_fact(tmp_path, resolved):
    """The latest visit wins; a registry that changed since the visit wins over it."""
    res = resolved[MONTH][1]
    a, b, c = _ents(resolved)[:3]
    loop = _loop(
        tmp_path,
        resolved,
        [
            f"{a['enterprise_id']},x,y,2025-06-03,张三,停业,,,,,,",
            f"{b['enterprise_id']},x,y,2025-06-03,张三,正常,12,,是,,,",
            f"{b['enterprise_id']},x,y,2025-06-01,张三,注销,50,,否,,,",  # older: loses
            f"{c['enterprise_id']},x,y,2025-06-03,张三,迁出,7,,,,,",
        ],
    )
    ents = vr.apply_to_enterprises(res.enterprises, loop)
    row = {r["enterprise_id"]: r for r in ents.to_dicts()}
    assert row[a["enterprise_id"]]["observed_status"] == "停业"
    a_csv = vr.file_label("a.csv", TEST_KEY)
    assert row[a["enterprise_id"]]["observed_record"] == f"2025-06/{a_csv}#1"
    assert row[b["enterprise_id"]]["observed_status"] == "正常"
    assert row[b["enterprise_id"]]["headcount"] == 12
    assert row[b["enterprise_id"]]["headcount_source"] == "visit"
    assert row[b["enterprise_id"]]["registry_headcount"] == b["headcount"]

    # a month later the registries say something new of c (its headcount, its status): they win
    later = res.enterprises.with_columns(
        pl.when(pl.col("enterprise_id") == c["enterprise_id"])
        .then(pl.col("headcount") + 1)
        .otherwise(pl.col("headcount"))
        .alias("headcount"),
        pl.when(pl.col("enterprise_id") == c["enterprise_id"])
        .then(pl.lit("注销"))
        .otherwise(pl.col("status"))
        .alias("status"),
    )
    status, headcount, _ = vr.effects(loop.history, later)
    assert c["enterprise_id"] not in status["enterprise_id"].to_list()
    assert c["enterprise_id"] not in headcount["enterprise_id"].to_list()
    assert {a["enterprise_id"], b["enterprise_id"]} <= set(status["enterprise_id"].to_list())


def test_union_on_a_visit_covers_until_the_member_database_confirms(tmp_path, resolved):
    a, b = _ents(resolved)[:2]
    loop = _loop(
        tmp_path,
        resolved,
        [
            f"{a['enterprise_id']},x,y,2025-06-03,张三,正常,,,是,,,",
            f"{b['enterprise_id']},x,y,2025-06-03,张三,正常,,,是,,,",
        ],
    )
    cov = pl.DataFrame(
        {
            "enterprise_id": [a["enterprise_id"], b["enterprise_id"]],
            "covered": [False, True],  # the member database already holds b's union
            "target": [True, False],
            "headcount": [40, 40],
        }
    )
    got = vr.apply_to_coverage(cov, loop).sort("enterprise_id")
    by = dict(zip(got["enterprise_id"], got["covered_by"], strict=True))
    assert by == {a["enterprise_id"]: "visit", b["enterprise_id"]: "member_db"}
    assert got["covered"].all() and not got["target"].any()
    prev = got.with_columns(pl.lit(False).alias("covered"), pl.lit(None).alias("covered_by"))
    changes = vr.visit_changes(loop, got, prev)
    assert changes.filter(pl.col("change") == "covered_by_visit")["enterprise_id"].to_list() == [
        a["enterprise_id"]
    ]
    confirmed = vr.visit_changes(loop, got, got.with_columns(pl.lit("visit").alias("covered_by")))
    assert "union_confirmed" in confirmed["change"].to_list()


def test_follow_ups_are_the_latest_visits_with_a_concern_or_need(tmp_path, resolved):
    a, b, c, d = _ents(resolved)[:4]
    loop = _loop(
        tmp_path,
        resolved,
        [
            f"{a['enterprise_id']},x,y,2025-06-03,张三,正常,,,否,担心成本,,",
            f"{b['enterprise_id']},x,y,2025-06-03,张三,正常,,,否,,工资拖欠,",
            f"{c['enterprise_id']},x,y,2025-06-02,张三,正常,,,否,担心成本,,",
            f"{c['enterprise_id']},x,y,2025-06-09,张三,正常,,,否,,,社区活动室",  # settled
            f"{d['enterprise_id']},x,y,2025-06-03,张三,停业,,,,担心成本,,",  # closed
        ],
    )
    got = vr.follow_ups(loop.history)
    assert got["enterprise_id"].to_list() == sorted([a["enterprise_id"], b["enterprise_id"]])


# ---- end to end: the samples' 2025-06 hands back the generator's filled sheets ------------------


def _table(run, name, month) -> pl.DataFrame:
    return warehouse.read_table(warehouse.engine_for(run["url"]), name, month)


@pytest.fixture(scope="module")
def visit_truth(samples) -> pl.DataFrame:
    return pl.read_csv(
        samples / "truth" / MONTH / "visits.csv",
        schema_overrides={"observed_headcount": pl.Utf8, "source_row": pl.Int64},
        infer_schema_length=0,
    ).with_columns(
        pl.col("source_row").cast(pl.Int64),
        # the warehouse knows each file by its keyed label only (a name may hold a worker's name)
        pl.col("file").map_elements(lambda f: vr.file_label(f, TEST_KEY), return_dtype=pl.Utf8),
    )


@pytest.fixture(scope="module")
def visit_effects(sample_run, truth_rows, visit_truth) -> pl.DataFrame:
    """Each truth row with the enterprise its key became and that enterprise's outputs."""
    links = _table(sample_run, "enterprise_link", MONTH)
    key_to_id = (
        links.join(truth_rows[MONTH], on=["source", "source_row"])
        .group_by("enterprise_key", "enterprise_id")
        .len()
        .sort("len", "enterprise_id", descending=[True, False])
        .unique("enterprise_key", keep="first")
        .select("enterprise_key", "enterprise_id")
    )
    ents = _table(sample_run, "enterprise", MONTH).select(
        "enterprise_id", "headcount", "headcount_source", "observed_status", "observed_record"
    )
    cov = _table(sample_run, "union_coverage", MONTH).select(
        "enterprise_id", "target", "covered", "covered_by"
    )
    recs = _table(sample_run, "visit_record", MONTH).select(
        "file", "source_row", pl.col("enterprise_id").alias("linked"), "link_rule"
    )
    return (
        visit_truth.join(key_to_id, on="enterprise_key", how="left")
        .join(ents, on="enterprise_id", how="left")
        .join(cov, on="enterprise_id", how="left")
        .join(recs, on=["file", "source_row"], how="left")
    )


@pytest.mark.prefect
@pytest.mark.slow
def test_every_record_accounted_for_and_linked_to_its_enterprise(sample_run, visit_effects):
    kept = visit_effects.filter(pl.col("effect") != "broken")
    assert kept.height >= 40
    assert (kept["linked"] == kept["enterprise_id"]).all()
    assert set(kept["link_rule"]) - {"enterprise_id"}  # some rows linked by name + address
    counts = sample_run["results"][MONTH].counts["visit_records"]
    assert counts["accepted"] == kept.height
    assert counts["quarantined"] == visit_effects.height - kept.height
    for f in counts["files"].values():
        assert f["rows_in"] == f["accepted"] + f["quarantined"] == f["physical_rows"]


@pytest.mark.prefect
@pytest.mark.slow
def test_closed_moved_and_not_found_leave_the_targets(visit_effects):
    gone = visit_effects.filter(
        pl.col("effect").is_in(["closed", "deregistered", "moved", "not_found"])
    )
    assert gone.height >= 8 and set(gone["status"]) == set(vr.CLOSED)
    assert (gone["observed_status"] == gone["status"]).all()
    assert not gone["target"].any()


@pytest.mark.prefect
@pytest.mark.slow
def test_observed_headcount_is_used(visit_effects):
    seen = visit_effects.filter(pl.col("effect").is_in(["headcount_down", "headcount_up"]))
    assert seen.height >= 8
    assert (seen["headcount"] == seen["observed_headcount"].cast(pl.Int64)).all()
    assert (seen["headcount_source"] == "visit").all()
    down = seen.filter(pl.col("effect") == "headcount_down")
    assert not down["target"].any()  # counted at 25 or fewer on site: no longer a target


@pytest.mark.prefect
@pytest.mark.slow
def test_a_union_established_on_a_visit_is_covered(visit_effects):
    union = visit_effects.filter(pl.col("effect") == "union")
    assert union.height >= 3
    assert union["covered"].all() and not union["target"].any()
    assert set(union["covered_by"]) <= {"visit", "member_db"} and "visit" in set(
        union["covered_by"]
    )


@pytest.mark.prefect
@pytest.mark.slow
def test_broken_records_are_quarantined_with_their_reason(sample_run, visit_effects):
    broken = visit_effects.filter(pl.col("effect") == "broken")
    quar = _table(sample_run, "quarantine", MONTH).filter(pl.col("source") == "visit_records")
    got = broken.join(quar, on=["file", "source_row"], how="left")
    assert broken.height >= 6 and got["reason_right"].is_not_null().all()
    for expected, reason in got.select("reason", "reason_right").iter_rows():
        assert expected in reason
    assert got["linked"].is_null().all()


@pytest.mark.prefect
@pytest.mark.slow
def test_visit_records_kept_and_carried_to_the_next_month(sample_run, samples):
    engine = warehouse.engine_for(sample_run["url"])
    assert _table(sample_run, "visit_record", "2025-05").height == 0  # no folder: no records
    june = _table(sample_run, "visit_record", MONTH)
    earlier = vr.earlier_records(engine, "2025-07")  # what July's run reads
    assert earlier.height == june.height
    # July's registries say what June's did: every effect stays in force
    ents = _table(sample_run, "enterprise", MONTH).with_columns(
        pl.col("registry_headcount").alias("headcount")
    )
    status, headcount, union = vr.effects(earlier, ents)
    published = _table(sample_run, "enterprise", MONTH)
    assert set(status["enterprise_id"]) == set(
        published.filter(pl.col("observed_status").is_not_null())["enterprise_id"]
    )
    assert headcount.height == published.filter(pl.col("headcount_source") == "visit").height


@pytest.mark.prefect
@pytest.mark.slow
def test_grid_month_and_union_change_tell_the_visits(sample_run):
    grid = _table(sample_run, "grid_month", MONTH)
    recs = _table(sample_run, "visit_record", MONTH)
    ents = _table(sample_run, "enterprise", MONTH).select("enterprise_id", "grid_id")
    placed = recs.join(ents, on="enterprise_id").filter(pl.col("grid_id").is_not_null())
    assert grid["visits"].sum() == placed.height
    changes = _table(sample_run, "union_change", MONTH)
    closed = changes.filter(pl.col("change") == "closed_on_visit")
    assert closed.height >= 8
    assert (
        grid["closed_on_visit"].sum()
        == closed.join(ents, on="enterprise_id").filter(pl.col("grid_id").is_not_null()).height
    )
    assert grid["planned_visited"].sum() > 0 and grid["targets"].sum() > 0
    may = _table(sample_run, "grid_month", "2025-05")
    assert may["visits"].sum() == 0 and may["unvisited_2m"].sum() == 0


def test_loop_counts_without_records_are_zero(resolved):
    res = resolved[MONTH][1]
    empty = vr.VisitFiles(pl.DataFrame(), pl.DataFrame(schema=vr.QUARANTINE))
    loop = vr.link_visits(MONTH, empty, replace(res))
    assert loop.counts()["observed_closed"] == 0


@pytest.mark.prefect
@pytest.mark.slow
def test_follow_ups_are_planned_next(sample_run):
    recs = _table(sample_run, "visit_record", MONTH)
    plan = _table(sample_run, "visit_plan", MONTH)
    asked = set(vr.follow_ups(recs.with_columns(pl.lit(MONTH).alias("snapshot")))["enterprise_id"])
    assert asked
    planned = plan.filter(pl.col("reason") == "follow_up")
    placed = set(
        _table(sample_run, "enterprise", MONTH).filter(pl.col("grid_id").is_not_null())[
            "enterprise_id"
        ]
    )
    targets = set(plan.filter(pl.col("reason") == "target")["enterprise_id"])
    assert set(planned["enterprise_id"]) == (asked & placed) - targets


@pytest.mark.prefect
@pytest.mark.slow
def test_a_printed_sheet_filled_in_reads_back(sample_run, resolved, tmp_path):
    """The sheet the run printed, filled in on one stop of each tab, comes back as records."""
    from openpyxl import load_workbook

    sheet = next(p for p in sorted((sample_run["out"] / MONTH / "visit_sheets").glob("*.xlsx"))
                 if "未落格" not in p.name)  # fmt: skip
    wb = load_workbook(sheet)
    filled: list[str] = []
    stops = 0
    for ws in wb.worksheets:
        header = [c.value for c in ws[1]]
        col = {h: i + 1 for i, h in enumerate(header)}
        rows = [r for r in range(2, ws.max_row + 1) if ws.cell(r, col["企业ID"]).value]
        stops += len(rows)
        if rows:
            r = rows[0]
            ws.cell(r, col["走访日期"]).value = datetime(2025, 6, 20)
            ws.cell(r, col["网格员"]).value = "张三"
            ws.cell(r, col["经营状态"]).value = "停业"
            filled.append(ws.cell(r, col["企业ID"]).value)
    folder = tmp_path / vr.FOLDER
    folder.mkdir()
    wb.save(folder / sheet.name)
    loop = vr.link_visits(MONTH, vr.read_visit_files(tmp_path, TEST_KEY), resolved[MONTH][1])
    assert sorted(loop.records["enterprise_id"]) == sorted(filled)
    assert set(loop.records["link_rule"]) == {"enterprise_id"}
    assert loop.quarantine.height == stops - len(filled)  # the stops nobody filled in
    assert set(loop.quarantine["reason"]) == {
        "no visit recorded: only the printed columns are filled in"
    }


@pytest.mark.prefect
@pytest.mark.slow
def test_phone_pages_show_the_last_visit_and_its_open_concerns(sample_run):
    """The route page's file of a follow-up lists its visit and the concern it raised."""
    recs = _table(sample_run, "visit_record", MONTH)
    plan = _table(sample_run, "visit_plan", MONTH).filter(pl.col("reason") == "follow_up")
    row = recs.join(plan.select("enterprise_id", "grid_id"), on="enterprise_id").row(0, named=True)
    pages = list((sample_run["out"] / MONTH / "route_pages").glob(f"*{row['grid_id']}*.html"))
    text = pages[0].read_text(encoding="utf-8")
    assert row["visited_on"].isoformat() in text
    open_item = row["concerns"] or row["needs"]
    assert open_item.replace("<", "&lt;").replace(">", "&gt;") in text


@pytest.mark.prefect
@pytest.mark.slow
def test_effects_carry_to_the_next_month_until_a_registry_says_otherwise(
    sample_run, samples, truth_rows, tmp_path
):
    """July (no records of its own) reads June's from the warehouse: its effects stay, except
    where a registry now says something new (here: one visited enterprise's insured count)."""
    import csv
    import shutil

    from datapool.flows.snapshot import snapshot_flow
    from datapool.settings import Settings

    inp = tmp_path / "input"
    shutil.copytree(samples, inp, ignore=shutil.ignore_patterns("truth", vr.FOLDER))
    shutil.copytree(inp / MONTH, inp / "2025-07")  # the registries send what they sent in June
    june = _table(sample_run, "enterprise", MONTH)
    links = _table(sample_run, "enterprise_link", MONTH)
    seen = june.filter(
        (pl.col("headcount_source") == "visit")
        & (pl.col("registry_headcount_source") == "social_insurance")
    ).sort("enterprise_id")
    changed = seen["enterprise_id"][0]
    si_rows = set(
        links.filter(
            (pl.col("enterprise_id") == changed) & (pl.col("source") == "social_insurance")
        )["source_row"]
    )
    path = inp / "2025-07" / "social_insurance.csv"
    with path.open(encoding="gb18030", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for n, r in enumerate(rows, start=1):
        if n in si_rows and r["参保状态"] == "正常参保":
            r["参保人数"] = str(int(r["参保人数"]) + 3)  # a newer registry fact
    with path.open("w", encoding="gb18030", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\r\n")
        w.writeheader()
        w.writerows(rows)
    shutil.copy(sample_run["out"] / "warehouse.sqlite", tmp_path / "warehouse.sqlite")
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    snapshot_flow.fn(
        snapshot="2025-07", settings=Settings(input_root=inp, warehouse_url=url, out_dir=tmp_path)
    )
    run = {"url": url}
    july = _table(run, "enterprise", "2025-07").join(
        _table(run, "union_coverage", "2025-07").select("enterprise_id", "target", "covered_by"),
        on="enterprise_id",
    )
    assert _table(run, "visit_record", "2025-07").height == 0
    closed = june.filter(pl.col("observed_status").is_in(vr.CLOSED))["enterprise_id"]
    still = july.filter(pl.col("enterprise_id").is_in(closed.implode()))
    assert still.height == closed.len() and still["observed_status"].is_in(vr.CLOSED).all()
    assert not still["target"].any()
    by_visit = set(july.filter(pl.col("headcount_source") == "visit")["enterprise_id"])
    assert by_visit == set(seen["enterprise_id"]) - {changed} | (
        set(june.filter(pl.col("headcount_source") == "visit")["enterprise_id"])
        - set(seen["enterprise_id"])
    )
    row = july.filter(pl.col("enterprise_id") == changed).row(0, named=True)
    assert row["headcount_source"] == "social_insurance" and row["headcount_record"] is None
    june_cov = _table(sample_run, "union_coverage", MONTH)
    assert set(july.filter(pl.col("covered_by") == "visit")["enterprise_id"]) == set(
        june_cov.filter(pl.col("covered_by") == "visit")["enterprise_id"]
    )
    changes = _table(run, "union_change", "2025-07")
    assert "closed_on_visit" not in set(changes["change"])  # said once, in the month it came
    grid = _table(run, "grid_month", "2025-07")
    assert grid["visits"].sum() == 0 and grid["unvisited_2m"].sum() > 0


@pytest.mark.prefect
@pytest.mark.slow
def test_profile_shows_the_visits_and_open_concerns(sample_run, tmp_path):
    """一企一档: the enterprise's visits (newest first) and what its latest visit left open."""
    from openpyxl import load_workbook

    from datapool.visits.profile import load_profile, summary, write_html, write_xlsx

    recs = _table(sample_run, "visit_record", MONTH)
    r = recs.filter(pl.col("concerns").is_not_null()).sort("record_id").row(0, named=True)
    p = load_profile(sample_run["url"], r["enterprise_id"], MONTH)
    assert p.visits.height == recs.filter(pl.col("enterprise_id") == r["enterprise_id"]).height
    assert ("企业顾虑", r["concerns"]) in p.open_concerns
    page = write_html(p, tmp_path / "p.html").read_text(encoding="utf-8")
    assert "走访记录" in page and r["visited_on"].isoformat() in page
    assert html.escape(r["concerns"]) in page  # redacted text, escaped
    assert r["visitor_key"] not in page  # the pseudonym means nothing to a reader: not shown
    wb = load_workbook(write_xlsx(p, tmp_path / "p.xlsx"))
    cells = {str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row}
    assert r["concerns"] in cells and "走访记录" in wb.sheetnames
    text = summary(p)
    assert "open concerns: " in text and r["concerns"] not in text  # counts only on the terminal
    closed = _table(sample_run, "enterprise", MONTH).filter(pl.col("observed_status") == "停业")
    q = load_profile(sample_run["url"], closed["enterprise_id"][0], MONTH)
    assert q.golden["observed_status"] == "停业" and "走访所见经营状态" in write_html(
        q, tmp_path / "q.html"
    ).read_text(encoding="utf-8")


def test_a_file_the_reader_cannot_take_stops_the_month_with_one_line(tmp_path):
    """An .xls (or any other file) in visit_records/ would lose its records: one line names it."""
    folder = tmp_path / vr.FOLDER
    folder.mkdir()
    (folder / "2025-06_G001_某网格员.xls").write_bytes(b"\xd0\xcf\x11\xe0 old excel")
    (folder / "~$lock.xlsx").write_bytes(b"")  # Excel's lock file: not a record file, left alone
    with pytest.raises(InputError, match=r"2025-06_G001_某网格员\.xls: not a \.xlsx or \.csv"):
        vr.read_visit_files(tmp_path, TEST_KEY)
