"""一企一档: one enterprise's file, read from the warehouse without changing it.

The file holds the golden record (each field with the registry it came from, and the spelling as
fused beside the display form), every registry row linked to the enterprise and why it was linked,
its union coverage and visit status, the grid workers' visits (三查三记, ``visit_record``) and the
concerns and needs its latest visit left open, and its history across the published months. It is
written
as HTML (self-contained, opens offline) and as .xlsx, with Chinese labels. Agency text is written
inert: escaped in HTML, never a formula or link in the workbook.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
import xlsxwriter

from datapool.connectors import warehouse
from datapool.errors import InputError
from datapool.privacy import redact
from datapool.schemas import warehouse as wh
from datapool.visits.sheets import INERT, SOURCE_NAMES, reason_zh

GOLDEN_FIELDS = [  # (column, label, column naming its source)
    ("enterprise_id", "企业ID", None),
    ("name", "企业名称", "name_source"),
    ("name_raw", "名称原始写法", None),
    ("uscc", "统一社会信用代码", None),
    ("uscc_valid", "信用代码校验通过", None),
    ("org_code", "组织机构代码", None),
    ("address", "地址", "address_source"),
    ("address_raw", "地址原始写法", None),
    ("status", "登记状态", "status_source"),
    ("active", "存续/在业", None),
    ("headcount", "职工人数", "headcount_source"),
    ("registry_headcount", "登记职工人数", "registry_headcount_source"),
    ("observed_status", "走访所见经营状态", None),
    ("observed_on", "走访所见日期", None),
    ("industry", "行业", None),
    ("founded_on", "成立日期", None),
    ("is_branch", "分支机构", None),
    ("grid_id", "网格", None),
    ("grid_method", "落格方式", None),
    ("sources", "登记来源", None),
    ("n_records", "关联记录数", None),
]
COVERAGE_FIELDS = [
    ("covered", "已建会"),
    ("union_id", "工会编号"),
    ("members", "关联会员数"),
    ("members_ratio", "会员/职工"),
    ("match_rule", "工会匹配方式"),
    ("covered_by", "建会依据"),
    ("visit_union", "走访所见建会"),
    ("target", "走访目标（超阈值未建会）"),
]
RECORD_FIELDS = [
    ("source", "来源"),
    ("source_row", "文件行号"),
    ("id_clean", "标识"),
    ("name", "名称"),
    ("address", "地址"),
    ("status", "状态"),
    ("headcount", "人数"),
    ("rule", "关联规则"),
    ("why", "关联原因"),
    ("score", "得分"),
    ("agreed", "一致字段"),
    ("carried_from", "沿用自"),
]
VISIT_FIELDS = [
    ("visited_on", "走访日期"),
    ("snapshot", "交回月份"),
    ("operating_status", "经营状态"),
    ("observed_headcount", "考勤人数"),
    ("union_status", "是否已建会"),
    ("site_condition", "场所环境"),
    ("concerns", "企业顾虑"),
    ("needs", "职工急难愁盼"),
    ("resources", "可利用资源"),
    ("link_rule", "关联方式"),
    ("record_id", "记录"),
]
OPEN_FIELDS = [("concerns", "企业顾虑"), ("needs", "职工急难愁盼")]
COVERED_BY_ZH = {"member_db": "工会会员库", "visit": "走访所见（会员库未确认）"}
HISTORY_FIELDS = [
    ("snapshot", "数据期"),
    ("name", "企业名称"),
    ("status", "登记状态"),
    ("headcount", "职工人数"),
    ("grid_id", "网格"),
    ("covered", "已建会"),
    ("target", "走访目标"),
    ("n_records", "关联记录数"),
]
RULE_WHY = {
    "uscc": "统一社会信用代码相同",
    "org_code": "组织机构代码相同",
    "regno": "注册号相同",
    "uscc_typo": "信用代码仅差一位（录入错误），名称佐证",
    "name": "名称（去除地区、括号等）相同，地址或电话佐证",
    "name_fuzzy": "名称相近，地址或电话佐证",
    "review": "人工审核判定为同一企业",
    "singleton": "仅此一条记录",
}
METHOD_ZH = {"coordinates": "按坐标", "address": "按地址中的社区/村"}


@dataclass
class Profile:
    """What the file shows."""

    warehouse: str
    snapshot: str
    golden: dict[str, Any]
    coverage: dict[str, Any] | None
    visit: dict[str, Any] | None
    records: pl.DataFrame
    history: pl.DataFrame
    visits: pl.DataFrame = field(default_factory=pl.DataFrame)  # newest first

    @property
    def open_concerns(self) -> list[tuple[str, str]]:
        """The concerns and needs the latest visit recorded: (label, text), redacted text."""
        if not self.visits.height:
            return []
        latest = self.visits.row(0, named=True)
        return [
            (label, redact(str(latest[k]), persons=True))
            for k, label in OPEN_FIELDS
            if latest.get(k)
        ]


def _value(key: str, v: object) -> str:
    if v is None or v == "":
        return "—"
    if isinstance(v, bool):
        return "是" if v else "否"
    if key in ("sources",):
        return "、".join(SOURCE_NAMES.get(s, s) for s in str(v).split(",") if s)
    if key == "covered_by":
        return COVERED_BY_ZH.get(str(v), str(v))
    if key == "link_rule":
        return "按企业ID" if v == "enterprise_id" else f"按名称+地址（{v}）"
    if key.endswith("_source") or key == "source":
        if v == "visit":
            return "走访"
        return SOURCE_NAMES.get(str(v), str(v))
    if key == "grid_method":
        return METHOD_ZH.get(str(v), reason_zh(str(v)))
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def _rows(
    conn: sa.Connection, table: sa.Table, enterprise_id: str, snapshot: str | None
) -> list[dict[str, Any]]:
    q = sa.select(table).where(table.c.enterprise_id == enterprise_id)
    if snapshot:
        q = q.where(table.c.snapshot == snapshot)
    return [dict(r._mapping) for r in conn.execute(q.order_by(table.c.snapshot))]


def load_profile(url: str, enterprise_id: str, snapshot: str | None = None) -> Profile:
    """Read ``enterprise_id`` (in ``snapshot``, default the latest month that has it); read-only."""
    engine = warehouse.open_existing(url)
    where = warehouse.describe_url(url)
    with engine.connect() as conn:
        history = _rows(conn, wh.enterprise, enterprise_id, None)
        if not history:
            raise InputError(f"enterprise {enterprise_id} is not in the warehouse {where}")
        months = [h["snapshot"] for h in history]
        if snapshot and snapshot not in months:
            raise InputError(
                f"enterprise {enterprise_id} is not in {snapshot} in the warehouse {where} "
                f"(it is in {', '.join(months)})"
            )
        snap = snapshot or months[-1]
        golden = next(h for h in history if h["snapshot"] == snap)
        covs = {c["snapshot"]: c for c in _rows(conn, wh.union_coverage, enterprise_id, None)}
        visits = _rows(conn, wh.visit_target, enterprise_id, snap)
        vr = wh.visit_record
        seen = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(*(vr.c[k] for k, _ in VISIT_FIELDS))
                .where(vr.c.enterprise_id == enterprise_id, vr.c.snapshot <= snap)
                .order_by(
                    vr.c.visited_on.desc(),
                    vr.c.snapshot.desc(),
                    vr.c.file.desc(),
                    vr.c.source_row.desc(),
                )
            )
        ]
        link, rec = wh.enterprise_link, wh.source_record
        joined = conn.execute(
            sa.select(
                rec,
                link.c.rule,
                link.c.score,
                link.c.agreed,
            )
            .select_from(
                link.join(
                    rec,
                    sa.and_(
                        rec.c.snapshot == link.c.snapshot,
                        rec.c.source == link.c.source,
                        rec.c.source_row == link.c.source_row,
                    ),
                )
            )
            .where(link.c.snapshot == snap, link.c.enterprise_id == enterprise_id)
            .order_by(rec.c.source, rec.c.source_row)
        ).all()
    records = (
        pl.DataFrame([dict(r._mapping) for r in joined], infer_schema_length=None)
        if joined
        else pl.DataFrame()
    )
    if records.height:
        records = records.with_columns(
            pl.col("rule").replace_strict(RULE_WHY, default=pl.col("rule")).alias("why")
        )
    hist = pl.DataFrame(
        [
            {
                **{k: h.get(k) for k, _ in HISTORY_FIELDS if k in h},
                "covered": (covs.get(h["snapshot"]) or {}).get("covered"),
                "target": (covs.get(h["snapshot"]) or {}).get("target"),
            }
            for h in history
        ],
        infer_schema_length=None,
    )
    return Profile(
        where,
        snap,
        golden,
        covs.get(snap),
        visits[0] if visits else None,
        records,
        hist,
        pl.DataFrame(seen, infer_schema_length=None) if seen else pl.DataFrame(),
    )


def _table_html(headers: list[tuple[str, str]], rows: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in headers)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(_value(k, r.get(k)))}</td>" for k, _ in headers)
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _golden_rows(p: Profile) -> list[tuple[str, str, str]]:
    out = []
    for key, label, src in GOLDEN_FIELDS:
        if key not in p.golden:
            continue
        out.append(
            (label, _value(key, p.golden.get(key)), _value(src, p.golden.get(src)) if src else "")
        )
    return out


def _coverage_rows(p: Profile) -> list[tuple[str, str]]:
    rows = [(label, _value(k, (p.coverage or {}).get(k))) for k, label in COVERAGE_FIELDS]
    if p.visit:
        rows.append(("走访顺序", f"网格 {p.visit['grid_id']} 第 {p.visit['route_order']} 家"))
    return rows


def _open_html(p: Profile) -> str:
    items = p.open_concerns
    if not items:
        return "<p>无。</p>"
    e = html.escape
    return "<dl>" + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in items) + "</dl>"


def write_html(p: Profile, path: Path) -> Path:
    """The file as one self-contained HTML page."""
    e = html.escape
    golden = "".join(
        f"<tr><th>{e(label)}</th><td>{e(v)}</td><td class=src>{e(src)}</td></tr>"
        for label, v, src in _golden_rows(p)
    )
    cover = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in _coverage_rows(p))
    records = p.records.to_dicts() if p.records.height else []
    doc = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>一企一档 {e(str(p.golden.get("name") or ""))} · {e(p.snapshot)}</title>
<style>body{{font-family:sans-serif;margin:16px}}
table{{border-collapse:collapse;margin:8px 0 20px}}
th,td{{border:1px solid #bbb;padding:3px 8px;text-align:left;vertical-align:top}}
th{{background:#eef3fa}} .src{{color:#666}}</style></head><body>
<h1>一企一档：{e(str(p.golden.get("name") or ""))}</h1>
<p>数据期 {e(p.snapshot)} · 数据仓库 {e(p.warehouse)}</p>
<h2>基本信息（融合结果及来源）</h2>
<table><thead><tr><th>字段</th><th>值</th><th>来源</th></tr></thead><tbody>{golden}</tbody></table>
<h2>工会覆盖与走访</h2><table><tbody>{cover}</tbody></table>
<h2>来源记录及关联原因（{len(records)} 条）</h2>
{_table_html(RECORD_FIELDS, records)}
<h2>走访记录（{p.visits.height} 次，最近的在前）</h2>
{_table_html(VISIT_FIELDS, p.visits.to_dicts()) if p.visits.height else "<p>暂无走访记录。</p>"}
<h2>待解决（上次走访记下的顾虑与急难愁盼）</h2>
{_open_html(p)}
<h2>历史（各数据期）</h2>
{_table_html(HISTORY_FIELDS, p.history.to_dicts())}
</body></html>"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc, encoding="utf-8")
    return path


def write_xlsx(p: Profile, path: Path) -> Path:
    """The file as a workbook: 基本信息, 来源记录, 历史."""
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(path), INERT)
    bold = wb.add_format({"bold": True, "bg_color": "#ddebf7", "border": 1})
    ws = wb.add_worksheet("基本信息")
    ws.write(0, 0, f"一企一档  数据期 {p.snapshot}  数据仓库 {p.warehouse}")
    for c, h in enumerate(["字段", "值", "来源"]):
        ws.write(1, c, h, bold)
    row = 2
    for label, v, src in _golden_rows(p):
        ws.write_row(row, 0, [label, v, src])
        row += 1
    row += 1
    ws.write(row, 0, "工会覆盖与走访", bold)
    for label, v in _coverage_rows(p):
        row += 1
        ws.write_row(row, 0, [label, v])
    row += 2
    ws.write(row, 0, "待解决（上次走访）", bold)
    for label, v in p.open_concerns or [("—", "无")]:
        row += 1
        ws.write_row(row, 0, [label, v])
    ws.set_column(0, 0, 22)
    ws.set_column(1, 1, 48)
    ws.set_column(2, 2, 12)
    for name, fields, rows in (
        ("来源记录", RECORD_FIELDS, p.records.to_dicts() if p.records.height else []),
        ("走访记录", VISIT_FIELDS, p.visits.to_dicts() if p.visits.height else []),
        ("历史", HISTORY_FIELDS, p.history.to_dicts()),
    ):
        ws = wb.add_worksheet(name)
        for c, (_, label) in enumerate(fields):
            ws.write(0, c, label, bold)
        for r, rec in enumerate(rows, start=1):
            ws.write_row(r, 0, [_value(k, rec.get(k)) for k, _ in fields])
        ws.freeze_panes(1, 0)
        ws.set_column(0, len(fields) - 1, 14)
    wb.close()
    return path


def render_profile(url: str, enterprise_id: str, snapshot: str | None = None) -> str:
    """A short text summary of the file (what the command prints besides the file's paths)."""
    p = load_profile(url, enterprise_id, snapshot)
    return summary(p)


def summary(p: Profile) -> str:
    """A few lines for the terminal."""
    lines = [f"一企一档 {p.golden['enterprise_id']} · 数据期 {p.snapshot} · 数据仓库 {p.warehouse}"]
    lines += [
        f"  {label}: {v}" + (f"  [{src}]" if src else "") for label, v, src in _golden_rows(p)[1:8]
    ]
    lines += [f"  {k}: {v}" for k, v in _coverage_rows(p)]
    lines.append(
        f"  {p.records.height} source rows; linked by "
        + (
            ", ".join(
                f"{r} {n}" for r, n in p.records.group_by("rule").len().sort("rule").iter_rows()
            )
            if p.records.height
            else "-"
        )
    )
    if p.visits.height:  # counts only: free text stays in the files
        latest = p.visits.row(0, named=True)
        lines.append(
            f"  visits: {p.visits.height} (latest {latest['visited_on']}: "
            f"{latest['operating_status'] or '-'}); open concerns: {len(p.open_concerns)}"
        )
    else:
        lines.append("  visits: none recorded")
    lines.append(f"  history: {', '.join(p.history['snapshot'].to_list())}")
    return "\n".join(lines)
