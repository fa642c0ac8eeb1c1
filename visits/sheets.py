"""Visit sheets: one .xlsx per grid worker, in route order, with columns to fill in on the visit."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import xlsxwriter

from datapool.connectors.grids import GridShape
from datapool.connectors.specs import LABELS

SOURCE_NAMES = LABELS  # the agencies as people name them (connectors/specs.py)
COLUMNS = [
    "顺序",
    "企业名称",
    "地址",
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


FILE_STEM_CHARS = 60  # a sheet's file name keeps this much of the grid's name
# Agency text is written as text, never as a formula, a link or a number (a name starting with
# '=' would otherwise become a live formula, a URL a live link).
INERT = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}


def _safe(text: str) -> str:
    return re.sub(r"[\\/:*?\"<>|\s]+", "_", text)[:FILE_STEM_CHARS]


def write_sheets(
    plan: pl.DataFrame, grids: list[GridShape], snapshot: str, folder: Path
) -> list[Path]:
    """Write one workbook per grid worker holding targets; return the paths."""
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
        bold = wb.add_format({"bold": True, "bg_color": "#ddebf7", "border": 1})
        ws.write(0, 0, f"{g.grid_name}（{grid_id}）网格员：{g.grid_worker}  数据期：{snapshot}")
        for c, h in enumerate(COLUMNS):
            ws.write(1, c, h, bold)
        for i, r in enumerate(rows.iter_rows(named=True), start=2):
            sources = "、".join(
                SOURCE_NAMES.get(s, s) for s in (r.get("sources") or "").split(",") if s
            )
            values = [
                r["route_order"],
                r.get("name") or "",
                r.get("address") or "",
                r.get("headcount"),
                SOURCE_NAMES.get(r.get("headcount_source") or "", ""),
                sources,
                r["enterprise_id"],
            ]
            for c, v in enumerate(values):
                ws.write(i, c, v)
        ws.set_column(1, 2, 36)
        ws.set_column(7, 13, 12)
        wb.close()
        written.append(path)
    return written
