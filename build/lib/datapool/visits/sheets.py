"""Visit sheets: one .xlsx per grid worker, in route order, with columns to fill in on the visit."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import polars as pl
import xlsxwriter

from datapool.connectors.grids import GridShape
from datapool.connectors.specs import LABELS

SOURCE_NAMES = LABELS  # the agencies as people name them (connectors/specs.py)
COLUMNS = [
    "顺序",
    "企业名称",
    "地址",
    "距下一家(米)",
    "职工人数",
    "人数来源",
    "登记来源",
    "企业ID",
    "经营状态",
    "考勤人数",
    "场所环境",
    "企业顾虑",
    "职工急难愁盼",
    "可利用资源",
    "走访日期",
]
WIDTHS = {1: 34, 2: 40, 3: 10, 7: 16}  # column index -> width in characters
FILL_IN_WIDTH = 12  # the columns the grid worker fills in on the visit
UNPLACED_COLUMNS = ["企业名称", "地址", "职工人数", "人数来源", "登记来源", "企业ID", "未落格原因"]
UNPLACED_SHEET = "未落格目标"
REASONS = {
    "coordinates outside every grid": "坐标不在任何网格内",
    "no address": "无地址",
    "address names no known community": "地址未写明可识别的社区/村",
}


FILE_STEM_CHARS = 60  # a sheet's file name keeps this much of the grid's name
# Agency text is written as text, never as a formula, a link or a number (a name starting with
# '=' would otherwise become a live formula, a URL a live link).
INERT = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}


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


def write_sheets(
    plan: pl.DataFrame,
    grids: list[GridShape],
    snapshot: str,
    folder: Path,
    unplaced: pl.DataFrame | None = None,
) -> list[Path]:
    """Write one workbook per grid worker holding targets, and one listing the targets no grid
    holds (未落格目标) when there are any; return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    by_grid = {g.grid_id: g for g in grids}
    written = []
    for (grid_id,), rows in plan.sort("grid_id", "route_order").group_by(
        ["grid_id"], maintain_order=True
    ):
        g = by_grid.get(grid_id)
        if g is None:
            continue
        path = folder / f"{snapshot}_{grid_id}_{_safe(g.grid_worker or 'worker')}.xlsx"
        wb = xlsxwriter.Workbook(str(path), INERT)
        ws = wb.add_worksheet("走访清单")
        bold = wb.add_format({"bold": True, "bg_color": "#ddebf7", "border": 1, "text_wrap": True})
        wrap = wb.add_format({"text_wrap": True, "valign": "top"})
        ws.write(0, 0, f"{g.grid_name}（{grid_id}）网格员：{g.grid_worker}  数据期：{snapshot}")
        for c, h in enumerate(COLUMNS):
            ws.write(1, c, h, bold)
        for i, r in enumerate(rows.iter_rows(named=True), start=2):
            leg = r.get("distance_to_next_m")
            values = [
                r["route_order"],
                r.get("name") or "",
                r.get("address") or "",
                round(leg) if leg is not None else "",
                r.get("headcount"),
                SOURCE_NAMES.get(r.get("headcount_source") or "", ""),
                _sources(r),
                r["enterprise_id"],
            ]
            for c, v in enumerate(values):
                ws.write(i, c, v, wrap if c in (1, 2) else None)
        for c in range(len(COLUMNS)):
            ws.set_column(c, c, WIDTHS.get(c, FILL_IN_WIDTH if c >= 8 else 8))
        _printable(ws, len(COLUMNS), 1)
        wb.close()
        written.append(path)
    if unplaced is not None and unplaced.height:
        written.append(write_unplaced(unplaced, snapshot, folder))
    return written


def write_unplaced(unplaced: pl.DataFrame, snapshot: str, folder: Path) -> Path:
    """The district's list of targets no grid holds, with the reason, for the district office."""
    path = folder / f"{snapshot}_{UNPLACED_SHEET}.xlsx"
    wb = xlsxwriter.Workbook(str(path), INERT)
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
