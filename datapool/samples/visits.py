"""Filled visit sheets handed back (三查三记, ../shared/spec/visits.md), with the truth behind them.

For a month after the first, grid workers visit some of last month's targets (and a few small
employers) and write what they saw: a closed, moved or vanished enterprise, a headcount counted
on site, a union established on the visit, concerns and needs in free text (some holding a
phone number, an ID number or an e-mail address, which the pipeline must redact). A tenth of
the rows carry no 企业ID (only the name and address, matched like a registry row), and a few
are broken (a bad date, an unknown status, a count that is not a number, an enterprise that
exists nowhere, a row nobody filled in, a row typed twice): the truth names the reason each
must be quarantined with.

The files are what comes back: one workbook per grid worker (a title row above the header, one
tab per week, as the visit sheets are printed) and, for some grids, a CSV in GB18030 instead.
The 企业ID printed is the one the pipeline gives under the public test key
(:data:`datapool.privacy.TEST_KEY`: a keyed hash of the enterprise's USCC); under another key
those rows link by name and address. The generator has its own random stream, so the agency
exports of a seed are the same with or without visit records.
"""

from __future__ import annotations

import random
from datetime import date, datetime
from pathlib import Path
from typing import Any

import xlsxwriter

from datapool.matching.ids import new_id
from datapool.privacy import TEST_KEY
from datapool.samples.exports import write_csv
from datapool.samples.world import KIND_BRANCH, KIND_SOCIAL, Enterprise, World
from datapool.visits.sheets import RECORD_COLUMNS

HEADERS = RECORD_COLUMNS  # the visit sheet's record columns, as visits.md orders them
THRESHOLD = 25
SITES = ["厂区整洁", "车间嘈杂，通风一般", "办公区在二楼", "门店营业中", "仓库堆放较乱", ""]
CONCERNS = [
    "担心建会增加成本",
    "不了解建会程序",
    "老板出差，需再约",
    "负责人王经理电话 138-1234-5678，可再联系",
    "联系邮箱 hr@example.com，请发材料",
    "",
    "",
]
NEEDS = [
    "工资按时发放问题",
    "子女入学",
    "加班较多",
    "职工张某 身份证 360721198803051234 工伤待处理",
    "",
    "",
]
RESOURCES = ["社区党群服务中心", "园区职工之家", "街道法律服务站", "", ""]
CLOSED = {"closed": "停业", "deregistered": "注销", "moved": "迁出", "not_found": "查无此企业"}


def _address(e: Enterprise) -> str:
    return f"{e.grid.town}{e.grid.community}{e.road}{e.number}号"


def _day(rng: random.Random, month: str) -> date:
    y, m = map(int, month.split("-"))
    return date(y, m, rng.randint(1, 28))


def _sheet_id(e: Enterprise, key: str) -> str:
    """The 企业ID the pipeline printed (see the module docstring); "" without a valid USCC."""
    return "" if e.pilot_code or not e.uscc else new_id(e.uscc, key)


def visit_records(
    before: World, now: World, seed: int, month: str, key: str = TEST_KEY
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The month's filled records (each with ``_grid``, ``_worker``, ``_key``) and their truth.

    ``before`` is last month's world (what the sheets were printed from), ``now`` this month's.
    Truth rows: ``enterprise_key``, ``effect`` (closed, deregistered, moved, not_found,
    headcount_down, headcount_up, union, visited, broken), ``status``, ``observed_headcount``,
    ``union``, ``linked_by`` (``id`` / ``name_address``), ``reason`` (for broken rows).
    """
    rng = random.Random(f"{seed}:visits:{month}")
    live = [
        e
        for e in before.enterprises
        if e.active
        and e.in_si
        and e.kind not in (KIND_BRANCH, KIND_SOCIAL)
        and e.key in now.by_key
        and now.by_key[e.key].active
    ]
    big = [e for e in live if e.headcount > THRESHOLD + 5]
    small = [e for e in live if 8 <= e.headcount <= THRESHOLD - 3]
    n = max(10, len(big) // 5)
    chosen = rng.sample(big, min(n, len(big)))
    effects = (
        ["closed"] * 3
        + ["deregistered"] * 2
        + ["moved"] * 2
        + ["not_found"] * 2
        + ["headcount_down"] * 4
        + ["union"] * 3
        + ["visited"] * 6
    )
    rows: list[dict[str, Any]] = []
    truth: list[dict[str, Any]] = []

    def add(e: Enterprise, effect: str, record: dict[str, Any], **t: Any) -> None:
        by_name = rng.random() < 0.1 or not _sheet_id(e, key)
        record = {
            **dict.fromkeys(HEADERS, ""),
            "企业ID": "" if by_name else _sheet_id(e, key),
            "企业名称": e.name(before),
            "地址": _address(e),
            "走访日期": _day(rng, month),
            "网格员": e.grid.worker,
            **record,
        }
        rows.append({**record, "_grid": e.grid.grid_id, "_worker": e.grid.worker, "_key": e.key})
        truth.append(
            {
                "enterprise_key": e.key,
                "effect": effect,
                "status": record.get("经营状态", ""),
                "observed_headcount": record.get("考勤人数", ""),
                "union": record.get("是否已建会", ""),
                "linked_by": "name_address" if by_name else "id",
                "reason": t.get("reason", ""),
            }
        )

    def notes() -> dict[str, Any]:
        return {
            "场所环境": rng.choice(SITES),
            "企业顾虑": rng.choice(CONCERNS),
            "职工急难愁盼": rng.choice(NEEDS),
            "可利用资源": rng.choice(RESOURCES),
        }

    for i, e in enumerate(chosen):
        effect = effects[i % len(effects)]
        if effect in CLOSED:
            add(e, effect, {"经营状态": CLOSED[effect], "考勤人数": "", "是否已建会": ""})
        elif effect == "headcount_down":
            seen = rng.randint(5, THRESHOLD)
            add(e, effect, {"经营状态": "正常", "考勤人数": seen, "是否已建会": "否", **notes()})
        elif effect == "union":
            add(e, effect, {"经营状态": "正常", "考勤人数": "", "是否已建会": "是", **notes()})
        else:
            answer = rng.choice(["否", "筹建中", ""])
            add(e, effect, {"经营状态": "正常", "考勤人数": "", "是否已建会": answer, **notes()})
    for e in rng.sample(small, min(max(3, n // 5), len(small))):
        seen = rng.randint(THRESHOLD + 5, THRESHOLD + 40)
        add(
            e, "headcount_up", {"经营状态": "正常", "考勤人数": seen, "是否已建会": "否", **notes()}
        )
    rng.shuffle(rows_and := list(zip(rows, truth, strict=True)))
    rows, truth = [r for r, _ in rows_and], [t for _, t in rows_and]
    if chosen:  # the broken rows, each with the reason it must be quarantined with
        e = chosen[0]
        base = {"经营状态": "正常", "考勤人数": "", "是否已建会": "否"}
        for record, reason in (
            ({**base, "走访日期": f"{month}-31" if month[-2:] in ("02", "04", "06", "09", "11")
              else f"{month}-32"}, "走访日期: not a valid date"),
            ({**base, "经营状态": "倒闭了"}, "经营状态: not one of"),
            ({**base, "考勤人数": "约30人"}, "考勤人数: not a whole number"),
            ({"经营状态": "", "考勤人数": "", "是否已建会": "", "走访日期": "", "网格员": ""},
             "no visit recorded"),
        ):  # fmt: skip
            add(e, "broken", record, reason=reason)
        add(e, "broken", base, reason="match none")
        rows[-1].update({"企业ID": "E000000000000", "企业名称": "月亮湾无此单位测试站"})
        rows[-1]["地址"] = "月球路999号"
        first = next(i for i, t in enumerate(truth) if t["effect"] != "broken")
        rows.append(dict(rows[first]))  # the same row typed twice in one file
        truth.append({**truth[first], "effect": "broken", "reason": "exact duplicate of row"})
    return rows, truth


def write_visit_records(
    folder: Path, rows: list[dict[str, Any]], truth: list[dict[str, Any]], seed: int, month: str
) -> list[dict[str, Any]]:
    """Write the records as handed back; returns the truth with ``file`` and ``source_row``.

    One workbook per grid worker, its rows over tabs by week, a title row above each header;
    every fifth grid hands back a GB18030 CSV instead. The sheets a previous generation left in
    ``folder`` are removed first: the pipeline would read them as this month's records.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for old in sorted([*folder.glob("*.xlsx"), *folder.glob("*.csv")]):
        old.unlink()
    by_grid: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by_grid.setdefault(r["_grid"], []).append(i)
    out: list[dict[str, Any]] = []
    for n, (grid, idx) in enumerate(sorted(by_grid.items())):
        worker = rows[idx[0]]["_worker"]
        idx = sorted(idx, key=lambda i: (_when(rows[i]["走访日期"]), i))
        if n % 5 == 4:
            name = f"{month}_{grid}.csv"
            dicts = [{h: _text(rows[i][h]) for h in HEADERS} for i in idx]
            write_csv(folder / name, HEADERS, dicts, "gb18030")
            out += [{**truth[i], "file": name, "source_row": k} for k, i in enumerate(idx, 1)]
            continue
        name = f"{month}_{grid}_{worker}.xlsx"
        wb = xlsxwriter.Workbook(
            str(folder / name),
            {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False},
        )
        wb.set_properties({"created": datetime(2025, 1, 1)})  # same seed, same bytes
        datefmt = wb.add_format({"num_format": "yyyy-mm-dd"})
        weeks: dict[int, list[int]] = {}
        for i in idx:
            d = rows[i]["走访日期"]
            weeks.setdefault(min(4, (d.day - 1) // 7 + 1) if isinstance(d, date) else 4, []).append(
                i
            )
        k = 0
        for week, members in sorted(weeks.items()):
            ws = wb.add_worksheet(f"第{week}周")
            ws.write_string(0, 0, f"{grid} 网格员：{worker}  数据期：{month}  第{week}周")
            for c, h in enumerate(HEADERS):
                ws.write_string(1, c, h)
            for line, i in enumerate(members, start=2):
                for c, h in enumerate(HEADERS):
                    v = rows[i][h]
                    if isinstance(v, date):
                        ws.write_datetime(line, c, datetime(v.year, v.month, v.day), datefmt)
                    elif isinstance(v, int):
                        ws.write_number(line, c, v)
                    elif v != "":
                        ws.write_string(line, c, str(v))
                k += 1
                out.append({**truth[i], "file": name, "source_row": k})
        wb.close()
    return out


def _when(v: object) -> date:
    return v if isinstance(v, date) else date.max


def _text(v: object) -> str:
    return v.isoformat() if isinstance(v, date) else str(v)
