"""Route pages for the phone: one self-contained offline HTML page per grid worker.

Each page shows the grid, and for the chosen week its outings drawn as numbered routes from the
grid's centre (visit_plan's order), with a week and an outing selector; each stop, on the map or
in the list, opens the enterprise's file (一企一档): what the registries say (name, address,
headcount and its source, status, union, the registries it is in) and, when visit records are
handed in (``visit_history``), its last visits and the concerns still open.

Offline and inert: everything is inline (CSS, two scripts, SVG), and a Content-Security-Policy
allows nothing else: no request leaves the page (``default-src 'none'``; the style and scripts
are allowed by their SHA-256 hashes, so no injected script could run). Every text is
HTML-escaped; elements are addressed by index, never by agency text. The page holds no personal
data: no legal representative, phone or member; visit free text is redacted again
(:func:`datapool.privacy.redact`). Laid out for a 360 px wide screen.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from datapool.connectors.grids import GridShape
from datapool.connectors.specs import LABELS
from datapool.privacy import redact
from datapool.visits.records import ORDER
from datapool.visits.sheets import runs

OUTING_COLOURS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"]
REASON_ZH = {"target": "目标", "follow_up": "回访", "watch": "关注"}
REASON_WHY = {
    "target": "职工超过阈值且未建会",
    "follow_up": "上次走访记录了企业顾虑或职工诉求",
    "watch": "接近阈值且人数增长，或近6个月新登记",
}
VIEW_W = 1000  # the map's viewBox width; its height follows the grid's shape
PAD = 0.08  # of the map's extent, around the stops
MIN_EXTENT_M = 600.0  # the map shows at least this much across, however close the stops
ASPECT = (0.8, 1.3)  # the map's height / width, at least and at most
LEGEND = (
    "黑点为出发点（网格中心）；数字为出行内的站序，颜色区分出行；"
    "无坐标的企业画在所在社区附近（示意）。点站点或下方名单打开一企一档。"
)
LAST_VISITS = 3  # visits shown in a file
FILE_STEM_CHARS = 60
# the columns of visit_record the page reads (visitrec's table: every month's records so far)
VISIT_HISTORY_COLUMNS = (
    "enterprise_id",
    "visited_on",
    "operating_status",
    "observed_headcount",
    "union_status",
    "concerns",
    "needs",
)

_STYLE = """
*{box-sizing:border-box}
body{font-family:"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;margin:0;
font-size:15px;color:#222;max-width:720px}
header{padding:8px 10px;background:#1f4e79;color:#fff}
header h1{font-size:17px;margin:0} header p{margin:2px 0 0;font-size:13px}
nav{display:flex;flex-wrap:wrap;gap:6px;padding:6px 10px}
nav button{font:inherit;font-size:14px;padding:6px 10px;border:1px solid #1f4e79;
border-radius:14px;background:#fff;color:#1f4e79;min-height:34px}
nav button[aria-pressed=true]{background:#1f4e79;color:#fff}
#map{display:block;width:100%;height:auto;max-height:75vh;background:#f7f7f2;
border-top:1px solid #ddd;border-bottom:1px solid #ddd}
.grid{fill:#eef3e2;stroke:#6b8e23;stroke-width:2px}
.home{fill:#000}
.leg{fill:none;stroke-width:3px;stroke-linecap:round;stroke-linejoin:round;opacity:.85}
.stop circle{stroke:#fff;stroke-width:1.5px;cursor:pointer}
.stop text{fill:#fff;font-weight:bold;text-anchor:middle;
dominant-baseline:central;pointer-events:none}
.dim{opacity:.15}
[hidden]{display:none!important}
.outing{margin:8px 10px;border-left:6px solid #999;padding-left:8px}
.outing h2{font-size:15px;margin:4px 0}
.outing ol{margin:0;padding:0;list-style:none}
.outing li button{display:flex;gap:8px;width:100%;text-align:left;font:inherit;padding:8px 4px;
border:0;border-bottom:1px solid #eee;background:none;align-items:flex-start}
.no{flex:0 0 26px;height:26px;border-radius:13px;color:#fff;text-align:center;line-height:26px;
font-weight:bold}
.nm{flex:1;overflow-wrap:anywhere}
.tag{font-size:12px;border:1px solid #999;border-radius:8px;padding:0 5px;white-space:nowrap}
.tag.target{border-color:#d62728;color:#d62728}
#file{position:fixed;inset:0;background:#fff;overflow:auto;padding:10px 12px 30px}
#file h2{font-size:17px;margin:4px 0 8px;overflow-wrap:anywhere}
#file dl{display:grid;grid-template-columns:6.5em 1fr;gap:4px 8px;margin:0}
#file dt{color:#666} #file dd{margin:0;overflow-wrap:anywhere}
#file h3{font-size:15px;margin:14px 0 4px}
#close{font:inherit;padding:8px 14px;border:1px solid #1f4e79;background:#1f4e79;color:#fff;
border-radius:6px}
.note{color:#666;font-size:13px;margin:4px 10px}
"""

# outing colours for HTML elements (no style attribute: the CSP allows the one hashed style only)
_STYLE += "".join(
    f'.outing[data-colour="{c}"]{{border-color:{c}}}.no[data-colour="{c}"]{{background:{c}}}'
    for c in OUTING_COLOURS
)

_WATCH = """
document.documentElement.dataset.cspViolations = '0';
document.addEventListener('securitypolicyviolation', () => {
  const d = document.documentElement.dataset;
  d.cspViolations = String(Number(d.cspViolations) + 1);
});
"""

_SCRIPT = """
const state = {week: '1', outing: ''};
function show() {
  const layer = document.querySelector('g[data-week="' + state.week + '"]');
  if (layer) document.getElementById('map').setAttribute('viewBox', layer.dataset.view);
  document.querySelectorAll('[data-week]').forEach(e => {
    e.toggleAttribute('hidden', e.dataset.week !== state.week);  // SVG has no .hidden
  });
  document.querySelectorAll('[data-outing]').forEach(e => {
    e.classList.toggle('dim', state.outing !== '' && e.dataset.outing !== state.outing);
  });
  document.querySelectorAll('button[data-pick-week]').forEach(b => {
    b.setAttribute('aria-pressed', String(b.dataset.pickWeek === state.week));
  });
  document.querySelectorAll('button[data-pick-outing]').forEach(b => {
    b.hidden = b.dataset.pickOuting !== '' && !document.querySelector(
      '.outing[data-week="' + state.week + '"][data-outing="' + b.dataset.pickOuting + '"]');
    b.setAttribute('aria-pressed', String(b.dataset.pickOuting === state.outing));
  });
}
function openFile(k) {
  document.querySelectorAll('#file section').forEach(s => { s.hidden = s.id !== 'f' + k; });
  document.getElementById('file').hidden = false;
  document.getElementById('file').scrollTop = 0;
}
document.querySelectorAll('button[data-pick-week]').forEach(b => b.addEventListener('click',
  () => { state.week = b.dataset.pickWeek; state.outing = ''; show(); }));
document.querySelectorAll('button[data-pick-outing]').forEach(b => b.addEventListener('click',
  () => { state.outing = b.dataset.pickOuting; show(); }));
document.querySelectorAll('[data-file]').forEach(e => e.addEventListener('click',
  () => openFile(e.dataset.file)));
document.getElementById('close').addEventListener('click',
  () => { document.getElementById('file').hidden = true; });
show();
"""


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


CSP = (
    "default-src 'none'; "
    f"style-src {_sha256(_STYLE)}; "
    f"script-src {_sha256(_WATCH)} {_sha256(_SCRIPT)}; "
    "base-uri 'none'; form-action 'none'"
)


@dataclass(frozen=True)
class _Frame:
    """Lon/lat to the map's viewBox (equirectangular, metres-true within a grid)."""

    x0: float
    y1: float
    k: float  # viewBox units per degree of latitude
    kx: float  # per degree of longitude
    height: int
    per_m: float  # viewBox units per metre

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        return (lon - self.x0) * self.kx, (self.y1 - lat) * self.k


def _frame(lons: list[float], lats: list[float]) -> _Frame:
    """The map's frame around these points: at least :data:`MIN_EXTENT_M` across, no narrower
    or taller than a phone shows well (:data:`ASPECT`), padded; the grid is drawn around it."""
    lat_c = (min(lats) + max(lats)) / 2
    m_lat = math.pi / 180 * 6_371_000.0  # metres per degree of latitude
    m_lon = m_lat * math.cos(math.radians(lat_c))
    w = max((max(lons) - min(lons)) * m_lon, MIN_EXTENT_M)
    h = max((max(lats) - min(lats)) * m_lat, MIN_EXTENT_M)
    w, h = max(w, h / ASPECT[1]), max(h, w * ASPECT[0])
    w, h = w * (1 + 2 * PAD), h * (1 + 2 * PAD)
    cx, cy = (min(lons) + max(lons)) / 2, (min(lats) + max(lats)) / 2
    x0, y1 = cx - w / 2 / m_lon, cy + h / 2 / m_lat
    kx = VIEW_W / (w / m_lon)
    return _Frame(x0, y1, VIEW_W / w * m_lat, kx, int(VIEW_W * h / w), VIEW_W / w)


def _view(points: list[tuple[float, float]], per_m: float) -> tuple[float, float, float, float]:
    """A week's viewBox (x, y, width, height) around its points, as :func:`_frame` sizes it."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    w = max(max(xs) - min(xs), MIN_EXTENT_M * per_m)
    h = max(max(ys) - min(ys), MIN_EXTENT_M * per_m)
    w, h = max(w, h / ASPECT[1]), max(h, w * ASPECT[0])
    w, h = w * (1 + 2 * PAD), h * (1 + 2 * PAD)
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    return cx - w / 2, cy - h / 2, w, h


def _page_name(snapshot: str, g: GridShape) -> str:
    worker = re.sub(r"[\\/:*?\"<>|\s]+", "_", g.grid_worker or "worker")[:FILE_STEM_CHARS]
    return f"{snapshot}_{g.grid_id}_{worker}.html"


def _text(value: Any, empty: str = "—") -> str:
    """Escaped text of a value (``empty`` when there is none)."""
    if value is None or value == "":
        return empty
    return html.escape(str(value))


def _sources(value: str | None) -> str:
    return "、".join(LABELS.get(s, s) for s in (value or "").split(",") if s)


def _visits_by_enterprise(history: pl.DataFrame | None) -> dict[str, list[dict[str, Any]]]:
    """Each enterprise's visits, newest first (at most :data:`LAST_VISITS`)."""
    if history is None or history.height == 0:
        return {}
    cols = [c for c in VISIT_HISTORY_COLUMNS if c in history.columns]
    out: dict[str, list[dict[str, Any]]] = {}
    # newest first in the order the follow-ups read (records.ORDER), so ties on a day agree
    order = [c for c in ORDER if c in history.columns]
    newest = history.sort(order, descending=True, nulls_last=True).select(cols)
    for r in newest.iter_rows(named=True):
        seen = out.setdefault(r["enterprise_id"], [])
        if len(seen) < LAST_VISITS:
            seen.append(r)
    return out


def _visits_html(visits: list[dict[str, Any]] | None) -> str:
    """The file's visit part: last visits and the open concerns (the latest visit's)."""
    if visits is None:
        return '<h3>走访记录</h3><p class="note">暂无走访记录。</p>'
    rows = "".join(
        f"<li>{_text(v.get('visited_on'))} · {_text(v.get('operating_status'))}"
        f" · 考勤 {_text(v.get('observed_headcount'), '?')} 人"
        f" · 建会：{_text(v.get('union_status'))}</li>"
        for v in visits
    )
    latest = visits[0]
    open_items = [
        (label, redact(str(latest[key]), persons=True))
        for key, label in (("concerns", "企业顾虑"), ("needs", "职工急难愁盼"))
        if latest.get(key)
    ]
    concerns = (
        "".join(f"<dt>{label}</dt><dd>{html.escape(text)}</dd>" for label, text in open_items)
        if open_items
        else ""
    )
    return f"<h3>最近走访</h3><ol>{rows}</ol><h3>待解决</h3>" + (
        f"<dl>{concerns}</dl>" if concerns else '<p class="note">上次走访无未决事项。</p>'
    )


def _file_html(k: int, r: dict[str, Any], visits: list[dict[str, Any]] | None) -> str:
    """One enterprise's file (一企一档) as a hidden section."""
    headcount = (
        f"{r['headcount']} 人（来源：{_text(LABELS.get(r.get('headcount_source') or '', ''))}）"
        if r.get("headcount") is not None
        else "未知"
    )
    if r.get("covered"):
        union = "已建会" + (
            f"（工会 {_text(r.get('union_id'))}，会员 {_text(r.get('members'), '?')} 人）"
            if r.get("union_id")
            else ""
        )
    else:
        union = "未建会"
    status = _text(r.get("status"))
    if r.get("status_source"):
        status += f"（{_text(LABELS.get(r['status_source'], r['status_source']))}）"
    placed = "按坐标" if r.get("lon") is not None else "按地址所在社区"
    items = [
        ("企业ID", _text(r["enterprise_id"])),
        ("地址", _text(r.get("address"), "无地址")),
        ("走访原因", f"{REASON_ZH.get(r['reason'], '')}：{REASON_WHY.get(r['reason'], '')}"),
        ("本月安排", f"第{r['week']}周 · 出行{r['outing']} · 第{r['stop']}站"),
        ("职工人数", headcount),
        ("工会", union),
        ("经营状态", status),
        ("行业", _text(r.get("industry"))),
        ("成立日期", _text(r.get("founded_on"))),
        ("登记来源", _text(_sources(r.get("sources")))),
        ("落格", placed),
    ]
    facts = "".join(f"<dt>{a}</dt><dd>{b}</dd>" for a, b in items)
    return (
        f'<section id="f{k}" hidden><h2>{_text(r.get("name"), "（无名称）")}</h2>'
        f"<dl>{facts}</dl>{_visits_html(visits)}</section>"
    )


def route_page(
    g: GridShape,
    stops: pl.DataFrame,
    snapshot: str,
    mondays: list[date],
    visits: dict[str, list[dict[str, Any]]] | None = None,
) -> str:
    """The page of one grid: ``stops`` are its visit_plan rows with the enterprise's facts."""
    stops = stops.sort("week", "outing", "stop")
    rows = list(stops.iter_rows(named=True))
    c = g.geometry.centroid
    has = [r for r in rows if r.get("lon") is not None and r.get("lat") is not None]
    anchor = g.geometry.representative_point()
    fr = _frame(
        [c.x, anchor.x, *(r["lon"] for r in has)], [c.y, anchor.y, *(r["lat"] for r in has)]
    )
    e = html.escape
    polys = "".join(
        '<polygon class="grid" points="'
        + " ".join("{:.1f},{:.1f}".format(*fr.xy(x, y)) for x, y in poly.exterior.coords)
        + '" vector-effect="non-scaling-stroke"/>'
        for poly in getattr(g.geometry, "geoms", [g.geometry])
    )
    hx, hy = fr.xy(c.x, c.y)
    layers, lists, week_buttons = [], [], []
    weeks = sorted({int(r["week"]) for r in rows})
    n_outings = 0
    for week in weeks:
        in_week = [(k, r) for k, r in enumerate(rows) if r["week"] == week]
        outings = sorted({int(r["outing"]) for _, r in in_week})
        n_outings = max(n_outings, len(outings))
        monday = mondays[week - 1] if 0 < week <= len(mondays) else None
        label = f"第{week}周" + (
            f" {monday:%m.%d}-{monday + timedelta(days=6):%m.%d}" if monday else ""
        )
        week_buttons.append(
            f'<button type="button" data-pick-week="{week}" aria-pressed="false">'
            f"{e(label)}</button>"
        )
        svg_parts, list_parts = [], []
        # where each stop is drawn: at its coordinates, else around the grid's community
        drawn = {
            k: fr.xy(r["lon"], r["lat"])
            for k, r in in_week
            if r.get("lon") is not None and r.get("lat") is not None
        }
        no_xy = [k for k, _ in in_week if k not in drawn]
        ax, ay = fr.xy(anchor.x, anchor.y)
        spread = 30 * math.sqrt(len(no_xy) + 1) * fr.per_m  # the spiral's radius, about
        around = [(ax - spread, ay - spread), (ax + spread, ay + spread)] if no_xy else []
        vx, vy, vw, vh = _view([(hx, hy), *drawn.values(), *around], fr.per_m)
        scale = vw / VIEW_W  # marker sizes follow the week's zoom
        for i, k in enumerate(no_xy):
            angle, radius = i * 2.4, 28 * scale * math.sqrt(i + 1)
            drawn[k] = (ax + radius * math.cos(angle), ay + radius * math.sin(angle))
        svg_parts.append(
            f'<circle class="home" cx="{hx:.1f}" cy="{hy:.1f}" r="{14 * scale:.1f}">'
            "<title>出发点（网格中心）</title></circle>"
        )
        for o in outings:
            colour = OUTING_COLOURS[(o - 1) % len(OUTING_COLOURS)]
            members = [(k, r) for k, r in in_week if r["outing"] == o]
            points = [(hx, hy)]
            marks = []
            metres = 0.0
            prev: tuple[float, float] | None = (c.x, c.y)
            for k, r in members:
                x, y = drawn[k]
                if r.get("lon") is not None and r.get("lat") is not None:
                    points.append((x, y))
                    if prev is not None:
                        metres += _metres_between(prev, (r["lon"], r["lat"]))
                    prev = (r["lon"], r["lat"])
                else:
                    prev = None
                marks.append(
                    f'<g class="stop" data-file="{k}" role="button">'
                    f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{26 * scale:.1f}" fill="{colour}"'
                    ' vector-effect="non-scaling-stroke"/>'
                    f'<text x="{x:.1f}" y="{y:.1f}" font-size="{30 * scale:.1f}">{r["stop"]}</text>'
                    f"<title>{_text(r.get('name'), '')}</title></g>"
                )
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            svg_parts.append(
                f'<g data-outing="{o}">'
                + (
                    f'<polyline class="leg" stroke="{colour}" points="{path}"'
                    ' vector-effect="non-scaling-stroke"/>'
                    if len(points) > 1
                    else ""
                )
                + "".join(marks)
                + "</g>"
            )
            items = "".join(
                f'<li><button type="button" data-file="{k}">'
                f'<span class="no" data-colour="{colour}">{r["stop"]}</span>'
                f'<span class="nm">{_text(r.get("name"), "（无名称）")}<br>'
                f"<small>{_text(r.get('address'), '无地址')}</small></span>"
                f'<span class="tag {e(r["reason"])}">{REASON_ZH.get(r["reason"], "")}</span>'
                "</button></li>"
                for k, r in members
            )
            walk = f" · 步行约 {metres / 1000:.1f} 公里" if metres else ""
            list_parts.append(
                f'<div class="outing" data-week="{week}" data-outing="{o}" data-colour="{colour}">'
                f"<h2>出行{o} · {len(members)} 站{walk}</h2><ol>{items}</ol></div>"
            )
        layers.append(
            f'<g data-week="{week}" data-view="{vx:.1f} {vy:.1f} {vw:.1f} {vh:.1f}">'
            f"{''.join(svg_parts)}</g>"
        )
        lists.append("".join(list_parts))
    outing_buttons = (
        '<button type="button" data-pick-outing="" aria-pressed="true">全部出行</button>'
        + "".join(
            f'<button type="button" data-pick-outing="{o}" aria-pressed="false">出行{o}</button>'
            for o in range(1, n_outings + 1)
        )
    )
    files = "".join(
        _file_html(k, r, (visits or {}).get(r["enterprise_id"]) if visits is not None else None)
        for k, r in enumerate(rows)
    )
    title = f"{g.grid_name}（{g.grid_id}）走访路线"
    counts = dict(stops["reason"].value_counts().iter_rows()) if stops.height else {}
    summary = (
        f"数据期 {snapshot} · 共 {len(rows)} 站：目标 {counts.get('target', 0)}、"
        f"回访 {counts.get('follow_up', 0)}、关注 {counts.get('watch', 0)}"
    )
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{e(title)}</title>
<script>{_WATCH}</script>
<style>{_STYLE}</style></head>
<body><header><h1>{e(title)}</h1><p>{e(g.street)} {e(g.community)} · {e(summary)}</p></header>
<nav id="weeks">{"".join(week_buttons)}</nav>
<nav id="outings">{outing_buttons}</nav>
<svg id="map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {VIEW_W} {fr.height}"
 overflow="hidden"
 role="img" aria-label="网格与走访路线">
<g>{polys}</g>
{"".join(layers)}
</svg>
<p class="note">{LEGEND}</p>
<main id="lists">{"".join(lists)}</main>
<div id="file" hidden><button type="button" id="close">返回路线</button>{files}</div>
<script>{_SCRIPT}</script>
</body></html>"""


def _metres_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Metres between two (lon, lat) points (equirectangular, fine within a grid)."""
    k = math.pi / 180 * 6_371_000.0
    dx = (b[0] - a[0]) * k * math.cos(math.radians((a[1] + b[1]) / 2))
    return math.hypot(dx, (b[1] - a[1]) * k)


def write_route_pages(
    plan: pl.DataFrame,
    grids: list[GridShape],
    snapshot: str,
    folder: Path,
    mondays: list[date],
    visit_history: pl.DataFrame | None = None,
) -> list[Path]:
    """One page per grid worker with something planned; returns the paths.

    Args:
        plan: visit_plan's rows joined with each enterprise's facts (``name, address,
            headcount, headcount_source, status, status_source, industry, founded_on, sources,
            lon, lat``) and its union coverage (``covered, union_id, members``).
        grids: the grids (shapes, names).
        snapshot: the snapshot.
        folder: where the pages go (``route_pages/`` of the month's folder).
        mondays: the plan's weeks (:func:`datapool.visits.weekly.week_starts`).
        visit_history: **the hook for visit records**: visit_record rows of every month so far
            (:data:`VISIT_HISTORY_COLUMNS`); each file then lists the enterprise's last visits
            and the concerns and needs its latest visit recorded. None: the files say there is
            no visit record yet.
    """
    folder.mkdir(parents=True, exist_ok=True)
    by_grid = {g.grid_id: g for g in grids}
    visits = _visits_by_enterprise(visit_history) if visit_history is not None else None
    written = []
    # each grid's rows in the plan's order (a stable sort keeps it), the grids in any order
    for grid_id, rows in runs(plan.sort("grid_id", maintain_order=True), "grid_id"):
        g = by_grid.get(str(grid_id))
        if g is None:
            continue
        path = folder / _page_name(snapshot, g)
        path.write_text(route_page(g, rows, snapshot, mondays, visits), encoding="utf-8")
        written.append(path)
    return sorted(written)
