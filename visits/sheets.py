"""Visit sheets: one .xlsx per grid worker, one tab per week of the month's plan (visit_plan),
stops in walking order, with the record columns of visits.md (三查三记) left blank to fill in.

A filled sheet comes straight back as a visit record (visits.md, "Back"): its header is the
first row of every tab, the same on each, and holds the record headers 企业ID, 企业名称, 地址,
走访日期, 网格员, 经营状态, 考勤人数, 场所环境, 是否已建会, 企业顾虑, 职工急难愁盼, 可利用资源;
the plan's own columns (周, 出行, 站, 原因, ...) ride along.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import xlsxwriter

from datapool.connectors.grids import GridShape
from datapool.connectors.specs import LABELS, VISIT_RECORDS

SOURCE_NAMES = LABELS  # the agencies as people name them (connectors/specs.py)
FILL_IN_WIDTH = 12  # the columns the grid worker fills in on the visit
UNPLACED_COLUMNS = ["企业名称", "地址", "职工人数", "人数来源", "登记来源", "企业ID", "未落格原因"]
UNPLACED_SHEET = "未落格目标"
REASONS = {
    "coordinates outside every grid": "坐标不在任何网格内",
    "no address": "无地址",
    "address names no known community": "地址未写明可识别的社区/村",
}


# The record columns of visits.md, in its order: what a filled sheet brings back.
RECORD_COLUMNS = [c.header for c in VISIT_RECORDS.columns]
FILL_IN = RECORD_COLUMNS[3:]  # left blank for the grid worker
STATUS_CHOICES = ["正常", "停业", "注销", "迁出", "查无此企业"]  # 经营状态
UNION_CHOICES = ["是", "否", "筹建中"]  # 是否已建会
PLAN_COLUMNS = ["周", "出行", "站", "原因", "距下一家(米)", "职工人数", "人数来源", "登记来源"]
WEEK_COLUMNS = [*PLAN_COLUMNS[:3], *RECORD_COLUMNS[:3], *PLAN_COLUMNS[3:], *FILL_IN]
WEEK_WIDTHS = {"企业ID": 16, "企业名称": 30, "地址": 34, "登记来源": 14, "走访日期": 11}
REASON_ZH = {"target": "目标", "follow_up": "回访", "watch": "关注"}
HEADER_CHARS = 200  # a printed page header's text is cut to this (Excel allows 255)
FILE_STEM_CHARS = 60  # a sheet's file name keeps this much of the grid's name
# Agency text is written as text, never as a formula, a link or a number (a name starting with
# '=' would otherwise become a live formula, a URL a live link).
INERT = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
# the workbook is put together in memory: no temporary file per sheet (a month's sheets made
# two thousand of them); the same parts, the zip's dates aside
WORKBOOK = {**INERT, "in_memory": True}


def runs(df: pl.DataFrame, key: str) -> Iterator[tuple[Any, pl.DataFrame]]:
    """Each run of equal ``key`` values of ``df`` (sorted by it, or grouped) and its rows, in
    order: zero-copy slices, where iterating a ``group_by`` gathers every group's rows anew."""
    offset = 0
    for length, value in df.get_column(key).rle().struct.unnest().iter_rows():
        yield value, df.slice(offset, length)
        offset += length


def _safe(text: str) -> str:
    return re.sub(r"[\\/:*?\"<>|\s]+", "_", text)[:FILE_STEM_CHARS]


def _sources(r: dict[str, Any]) -> str:
    return "、".join(SOURCE_NAMES.get(s, s) for s in (r.get("sources") or "").split(",") if s)


def reason_zh(method: str | None) -> str:
    """A placement's reason (``unplaced: ...``) in Chinese, for the people who read the sheet."""
    reason = (method or "").removeprefix("unplaced: ")
    if reason.startswith("community ") and reason.endswith(" is in no grid"):
        return f"社区/村“{reason[10:-14]}”不在任何网格内"
    return REASONS.get(reason, reason)


def _printable(ws: Any, n_cols: int, header_row: int) -> None:
    """Frozen header, landscape A4, header rows repeated on every page, one page wide."""
    ws.freeze_panes(header_row + 1, 0)
    ws.set_landscape()
    ws.set_paper(9)
    ws.repeat_rows(0, header_row)
    ws.fit_to_pages(1, 0)
    ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.5)
    ws.autofilter(header_row, 0, header_row, n_cols - 1)


def write_unplaced(unplaced: pl.DataFrame, snapshot: str, folder: Path) -> Path:
    """The district's list of targets no grid holds, with the reason, for the district office."""
    path = folder / f"{snapshot}_{UNPLACED_SHEET}.xlsx"
    wb = xlsxwriter.Workbook(str(path), WORKBOOK)
    ws = wb.add_worksheet(UNPLACED_SHEET)
    bold = wb.add_format({"bold": True, "bg_color": "#fce4d6", "border": 1})
    wrap = wb.add_format({"text_wrap": True, "valign": "top"})
    ws.write(
        0,
        0,
        f"未落格目标（{unplaced.height}家）：职工超阈值且未建会，但无法落到网格，"
        f"请区里核实地址后分派  数据期：{snapshot}",
    )
    for c, h in enumerate(UNPLACED_COLUMNS):
        ws.write(1, c, h, bold)
    ordered = unplaced.sort(
        ["headcount", "enterprise_id"], descending=[True, False], nulls_last=True
    )
    for i, r in enumerate(ordered.iter_rows(named=True), start=2):
        values = [
            r.get("name") or "",
            r.get("address") or "",
            r.get("headcount"),
            SOURCE_NAMES.get(r.get("headcount_source") or "", ""),
            _sources(r),
            r["enterprise_id"],
            reason_zh(r.get("grid_method")),
        ]
        for c, v in enumerate(values):
            ws.write(i, c, v, wrap if c in (0, 1, 6) else None)
    for c, w in enumerate([34, 40, 8, 8, 16, 16, 30]):
        ws.set_column(c, c, w)
    _printable(ws, len(UNPLACED_COLUMNS), 1)
    wb.close()
    return path


def _header_text(text: str) -> str:
    """Text for a printed page header: '&' doubled (Excel's control character), cut short."""
    return text.replace("&", "&&")[:HEADER_CHARS]


def week_tab(week: int, monday: date | None) -> str:
    """A week's tab name: 第1周 07.07-07.13 (no character Excel refuses in a sheet name)."""
    if monday is None:
        return f"第{week}周"
    sunday = monday + timedelta(days=6)
    return f"第{week}周 {monday:%m.%d}-{sunday:%m.%d}"


def write_week_sheets(
    plan: pl.DataFrame,
    grids: list[GridShape],
    snapshot: str,
    folder: Path,
    mondays: list[date],
    unplaced: pl.DataFrame | None = None,
) -> list[Path]:
    """One workbook per grid worker: a tab per week of ``plan`` (visit_plan's rows with the
    enterprise's name, address, headcount, headcount_source and sources), stops in walking order,
    the record columns blank to fill in; and 未落格目标 when targets are in no grid.

    ``mondays`` are the plan's weeks (:func:`datapool.visits.weekly.week_starts`).
    """
    folder.mkdir(parents=True, exist_ok=True)
    by_grid = {g.grid_id: g for g in grids}
    written = []
    for grid_id, rows in runs(plan.sort("grid_id", "week", "outing", "stop"), "grid_id"):
        g = by_grid.get(str(grid_id))
        if g is None:
            continue
        path = folder / f"{snapshot}_{grid_id}_{_safe(g.grid_worker or 'worker')}.xlsx"
        wb = xlsxwriter.Workbook(str(path), WORKBOOK)
        bold = wb.add_format({"bold": True, "bg_color": "#ddebf7", "border": 1, "text_wrap": True})
        fill = wb.add_format({"bold": True, "bg_color": "#fff2cc", "border": 1, "text_wrap": True})
        wrap = wb.add_format({"text_wrap": True, "valign": "top"})
        first = wb.add_format({"text_wrap": True, "valign": "top", "top": 2})  # an outing starts
        date_fmt = wb.add_format({"num_format": "yyyy-mm-dd", "valign": "top"})
        for week, w in runs(rows, "week"):
            monday = mondays[int(week) - 1] if 0 < int(week) <= len(mondays) else None
            ws = wb.add_worksheet(week_tab(int(week), monday))
            for c, h in enumerate(WEEK_COLUMNS):
                ws.write(0, c, h, fill if h in FILL_IN else bold)
            last_outing = None
            for i, r in enumerate(w.iter_rows(named=True), start=1):
                leg = r.get("distance_to_next_m")
                values: list[Any] = [
                    r["week"],
                    r["outing"],
                    r["stop"],
                    r["enterprise_id"],
                    r.get("name") or "",
                    r.get("address") or "",
                    REASON_ZH.get(r["reason"], r["reason"]),
                    round(leg) if leg is not None else "",
                    r.get("headcount"),
                    SOURCE_NAMES.get(r.get("headcount_source") or "", ""),
                    _sources(r),
                ]
                fmt = first if r["outing"] != last_outing and i > 1 else wrap
                last_outing = r["outing"]
                for c, v in enumerate(values):
                    ws.write(i, c, v, fmt)
                for c in range(len(values), len(WEEK_COLUMNS)):
                    ws.write_blank(i, c, None, fmt)
            n = w.height
            col = {h: c for c, h in enumerate(WEEK_COLUMNS)}
            ws.data_validation(
                1,
                col["经营状态"],
                n,
                col["经营状态"],
                {"validate": "list", "source": STATUS_CHOICES},
            )
            ws.data_validation(
                1,
                col["是否已建会"],
                n,
                col["是否已建会"],
                {"validate": "list", "source": UNION_CHOICES},
            )
            ws.data_validation(
                1,
                col["考勤人数"],
                n,
                col["考勤人数"],
                {"validate": "integer", "criteria": ">=", "value": 0},
            )
            ws.set_column(col["走访日期"], col["走访日期"], WEEK_WIDTHS["走访日期"], date_fmt)
            for h, c in col.items():
                if h != "走访日期":
                    ws.set_column(c, c, WEEK_WIDTHS.get(h, FILL_IN_WIDTH if h in FILL_IN else 6))
            span = f"{monday:%Y-%m-%d} 起" if monday else ""
            ws.set_header(
                "&L"
                + _header_text(f"{g.grid_name}（{grid_id}）网格员：{g.grid_worker}")
                + "&C"
                + _header_text(f"第{week}周 {span}")
                + "&R"
                + _header_text(f"数据期：{snapshot}")
            )
            _printable(ws, len(WEEK_COLUMNS), 0)
        wb.close()
        written.append(path)
    if unplaced is not None and unplaced.height:
        written.append(write_unplaced(unplaced, snapshot, folder))
    return written
