"""The heat map: targets per grid, with grid ids, town names, a legend with numbers, every target.

The HTML is self-contained (inline SVG, an inline script, no tiles, nothing from a CDN), so it
opens on a phone with no network. Targets placed by coordinates are drawn where they are; targets
placed by the community named in their address (no coordinates) are drawn as rings at their
grid's community. Clicking a grid lists its targets in route order (``#grid=<id>`` opens one).
The PNG is the same picture, with the same labels, for reports. Agency text is escaped in the
HTML and handed to the script as JSON it writes as text, never as markup.
"""

from __future__ import annotations

import html
import json
import logging
import math
from pathlib import Path
from typing import Any

import polars as pl

from datapool.connectors.grids import GridShape

log = logging.getLogger("datapool")

_COLOURS = ["#fff5eb", "#fdd0a2", "#fdae6b", "#fd8d3c", "#e6550d", "#a63603"]
POINT = "#08519c"  # targets placed by coordinates
RING = "#6a3d9a"  # targets placed by the address's community
# joint-union groups (visits/groups.py), one colour and shape per reason
GROUP_COLOURS = {"building": "#1b7837", "street": "#00838f", "industry": "#c51b7d"}
GROUP_WORDS = {"building": "同楼宇", "street": "同商圈", "industry": "同行业"}
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Droid Sans Fallback",
)
CJK_FILES = (
    "wqy",
    "notosanscjk",
    "notosanssc",
    "sourcehansans",
    "droidsansfallback",
    "msyh",
    "simhei",
)


def _bucket(count: int, top: int) -> int:
    if count <= 0 or top <= 0:
        return 0
    return min(len(_COLOURS) - 1, 1 + int((len(_COLOURS) - 2) * count / top))


def _colour(count: int, top: int) -> str:
    return _COLOURS[_bucket(count, top)]


def legend_bins(top: int) -> list[tuple[str, str]]:
    """(colour, label) of every colour in use: ``0``, ``1–2``, ... up to ``top`` targets."""
    bins: dict[int, list[int]] = {0: [0]}
    for n in range(1, top + 1):
        bins.setdefault(_bucket(n, top), []).append(n)
    return [
        (_COLOURS[b], f"{v[0]}" if v[0] == v[-1] else f"{v[0]}–{v[-1]}")
        for b, v in sorted(bins.items())
    ]


def _bounds(grids: list[GridShape]) -> tuple[float, float, float, float]:
    xs = [b for g in grids for b in (g.geometry.bounds[0], g.geometry.bounds[2])]
    ys = [b for g in grids for b in (g.geometry.bounds[1], g.geometry.bounds[3])]
    return min(xs), min(ys), max(xs), max(ys)


def _anchor(g: GridShape) -> tuple[float, float]:
    p = g.geometry.representative_point()
    return p.x, p.y


def _town_anchors(grids: list[GridShape]) -> dict[str, tuple[float, float]]:
    from shapely.ops import unary_union

    towns: dict[str, list[Any]] = {}
    for g in grids:
        towns.setdefault(g.street, []).append(g.geometry)
    out = {}
    for town, geoms in towns.items():
        p = unary_union(geoms).representative_point()
        out[town] = (p.x, p.y)
    return out


def drawn_targets(grids: list[GridShape], targets: pl.DataFrame) -> pl.DataFrame:
    """Every target with the point it is drawn at (``x``, ``y``) and ``by_address``.

    A target without coordinates is drawn at its grid's community (the grid's representative
    point), the targets of one grid set around it on a small spiral so each can be seen.
    """
    if not targets.height:
        return targets.with_columns(
            pl.lit(None, pl.Float64).alias("x"),
            pl.lit(None, pl.Float64).alias("y"),
            pl.lit(None, pl.Boolean).alias("by_address"),
        )
    anchors = {g.grid_id: _anchor(g) for g in grids}
    x0, y0, x1, y1 = _bounds(grids)
    step = max(x1 - x0, y1 - y0) / 400
    xs: list[float | None] = []
    ys: list[float | None] = []
    flags: list[bool] = []
    seen: dict[str, int] = {}
    for r in targets.iter_rows(named=True):
        if r.get("lon") is not None and r.get("lat") is not None:
            xs.append(r["lon"])
            ys.append(r["lat"])
            flags.append(False)
            continue
        anchor = anchors.get(r["grid_id"])
        if anchor is None:
            xs.append(None)
            ys.append(None)
            flags.append(True)
            continue
        ax, ay = anchor
        k = seen[r["grid_id"]] = seen.get(r["grid_id"], -1) + 1
        angle, radius = k * 2.4, step * math.sqrt(k) * 1.5  # a sunflower spiral
        xs.append(ax + radius * math.cos(angle))
        ys.append(ay + radius * math.sin(angle))
        flags.append(True)
    return targets.with_columns(
        pl.Series("x", xs, dtype=pl.Float64),
        pl.Series("y", ys, dtype=pl.Float64),
        pl.Series("by_address", flags, dtype=pl.Boolean),
    )


def _json_for_script(data: object) -> str:
    """JSON safe inside a <script> element: no '<', '>' or '&' survives as itself."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_STYLE = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif;margin:12px}
#wrap{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
svg{max-width:100%;height:auto;border:1px solid #ccc;flex:1 1 700px}
polygon{stroke:#888;stroke-width:.5;cursor:pointer}
polygon:hover,polygon.sel{stroke:#000;stroke-width:2}
text.gid{font-size:7px;fill:#333;text-anchor:middle;pointer-events:none}
text.town{font-size:15px;font-weight:bold;fill:#111;text-anchor:middle;pointer-events:none;
paint-order:stroke;stroke:#fff;stroke-width:3px}
#panel{flex:0 1 340px;font-size:14px} .bin{margin-right:10px;white-space:nowrap}
.bin i{display:inline-block;width:18px;height:12px;border:1px solid #999;margin-right:3px;
vertical-align:middle}
.mk{display:inline-block;width:9px;height:9px;border-radius:50%;margin:0 3px 0 10px}
.joint-group{stroke:#fff;stroke-width:.8;cursor:pointer;fill-opacity:.85}
#group-legend .gk{display:inline-block;width:9px;height:9px;margin:0 3px 0 10px}
"""

_SCRIPT = """
const DATA = JSON.parse(document.getElementById('grid-data').textContent);
function show(id) {
  const g = DATA[id], panel = document.getElementById('panel');
  panel.replaceChildren();
  if (!g) return;
  const h = document.createElement('h2');
  h.textContent = g.title;
  panel.appendChild(h);
  const p = document.createElement('p');
  p.textContent = g.subtitle;
  panel.appendChild(p);
  const ol = document.createElement('ol');
  ol.id = 'grid-targets';
  for (const t of g.targets) {
    const li = document.createElement('li');
    li.textContent = t;
    ol.appendChild(li);
  }
  panel.appendChild(ol);
  document.querySelectorAll('polygon.sel').forEach(e => e.classList.remove('sel'));
  document.querySelectorAll('polygon[data-grid="' + CSS.escape(id) + '"]')
    .forEach(e => e.classList.add('sel'));
}
document.querySelectorAll('polygon[data-grid]').forEach(
  e => e.addEventListener('click', () => show(e.dataset.grid)));
const m = location.hash.match(/^#grid=(.+)$/);
if (m) show(decodeURIComponent(m[1]));
const GROUPS = JSON.parse(document.getElementById('group-data').textContent);
function showGroup(id) {
  const g = GROUPS[id], panel = document.getElementById('panel');
  if (!g) return;
  panel.replaceChildren();
  const h = document.createElement('h2');
  h.textContent = g.title;
  panel.appendChild(h);
  const ol = document.createElement('ol');
  ol.id = 'group-members';
  for (const t of g.members) {
    const li = document.createElement('li');
    li.textContent = t;
    ol.appendChild(li);
  }
  panel.appendChild(ol);
}
document.querySelectorAll('#joint-groups [data-group]').forEach(
  e => e.addEventListener('click', ev => { ev.stopPropagation(); showGroup(e.dataset.group); }));
const layer = document.getElementById('joint-groups'), box = document.getElementById('show-groups');
function toggleGroups() { layer.style.display = box.checked ? '' : 'none'; }
box.addEventListener('change', toggleGroups);
if (/(^#|&)groups=off(&|$)/.test(location.hash)) box.checked = false;
toggleGroups();
const gm = location.hash.match(/^#group=(.+)$/);
if (gm) showGroup(decodeURIComponent(gm[1]));
"""


def _group_marker(reason: str, x: float, y: float, size: float) -> tuple[str, str]:
    """The SVG element name and its geometry attributes for one group's marker: a square for a
    building, a diamond for a street, a triangle for an industry."""
    if reason == "building":
        return "rect", (
            f'x="{x - size:.1f}" y="{y - size:.1f}" width="{2 * size:.1f}" height="{2 * size:.1f}"'
        )
    if reason == "street":
        pts = f"M{x:.1f},{y - size * 1.3:.1f}L{x + size * 1.3:.1f},{y:.1f}"
        pts += f"L{x:.1f},{y + size * 1.3:.1f}L{x - size * 1.3:.1f},{y:.1f}Z"
        return "path", f'd="{pts}"'
    pts = f"M{x:.1f},{y - size * 1.3:.1f}L{x + size * 1.2:.1f},{y + size * 0.8:.1f}"
    pts += f"L{x - size * 1.2:.1f},{y + size * 0.8:.1f}Z"
    return "path", f'd="{pts}"'


def drawn_groups(grids: list[GridShape], groups: pl.DataFrame | None) -> pl.DataFrame:
    """Every joint-union group with the point it is drawn at (``x``, ``y``): the mean of its
    members' coordinates, else its grid's representative point; groups with neither are left
    out."""
    if groups is None or not groups.height:
        return pl.DataFrame(
            schema={
                "group_id": pl.Utf8,
                "reason": pl.Utf8,
                "reason_text": pl.Utf8,
                "members": pl.Int64,
                "workers": pl.Int64,
                "x": pl.Float64,
                "y": pl.Float64,
            }
        )
    anchors = {g.grid_id: _anchor(g) for g in grids}
    ax = {k: v[0] for k, v in anchors.items()}
    ay = {k: v[1] for k, v in anchors.items()}
    grid = pl.col("grid_id")
    return (
        groups.with_columns(
            pl.coalesce(
                "lon", grid.replace_strict(ax, default=None, return_dtype=pl.Float64)
            ).alias("x"),
            pl.coalesce(
                "lat", grid.replace_strict(ay, default=None, return_dtype=pl.Float64)
            ).alias("y"),
        )
        .filter(pl.col("x").is_not_null() & pl.col("y").is_not_null())
        .select("group_id", "reason", "reason_text", "members", "workers", "x", "y")
    )


def _group_data(groups: pl.DataFrame | None, members: pl.DataFrame | None) -> dict[str, Any]:
    """Each group's title and its members' lines (name · workers · address) for the panel."""
    if groups is None or not groups.height:
        return {}
    lines: dict[str, list[str]] = {}
    if members is not None and members.height:
        for r in members.sort("group_id", "name", "enterprise_id").iter_rows(named=True):
            lines.setdefault(r["group_id"], []).append(
                f"{r['name'] or ''} · {r['workers']}人 · {r['address'] or '无地址'}"
            )
    return {
        gid: {"title": text, "members": lines.get(gid, [])}
        for gid, text in groups.select("group_id", "reason_text").iter_rows()
    }


def _grid_data(grids: list[GridShape], drawn: pl.DataFrame) -> dict[str, Any]:
    by_grid: dict[str, list[dict[str, Any]]] = {}
    for r in drawn.sort("grid_id", "route_order").iter_rows(named=True):
        by_grid.setdefault(r["grid_id"], []).append(r)
    data = {}
    for g in grids:
        rows = by_grid.get(g.grid_id, [])
        data[g.grid_id] = {
            "title": f"{g.grid_id} {g.grid_name}",
            "subtitle": f"{g.street} {g.community} · 网格员 {g.grid_worker} · 目标 {len(rows)} 家",
            "targets": [
                f"{r['name'] or ''} · {r['headcount'] if r['headcount'] is not None else '?'}人"
                f" · {r['address'] or '无地址'}" + (" · 按地址落格" if r["by_address"] else "")
                for r in rows
            ],
        }
    return data


def heatmap_html(
    grids: list[GridShape],
    targets: pl.DataFrame,
    snapshot: str,
    path: Path,
    width: int = 1200,
    groups: pl.DataFrame | None = None,
    group_members: pl.DataFrame | None = None,
) -> None:
    """Write the offline heat map.

    ``groups`` (``joint_group`` rows) are drawn as a layer the reader can switch off (the
    checkbox, or ``#groups=off``); clicking one lists ``group_members`` (``group_id,
    enterprise_id, name, workers, address``); ``#group=<id>`` opens one.
    """
    x0, y0, x1, y1 = _bounds(grids)
    height = int(width * (y1 - y0) / (x1 - x0)) if x1 > x0 else width

    def sx(x: float) -> float:
        return (x - x0) / (x1 - x0) * width

    def sy(y: float) -> float:
        return height - (y - y0) / (y1 - y0) * height

    drawn = drawn_targets(grids, targets)
    counts = dict(drawn.group_by("grid_id").len().iter_rows()) if drawn.height else {}
    top = max(counts.values(), default=0)
    e = html.escape
    polys, labels, points = [], [], []
    for g in grids:
        n = counts.get(g.grid_id, 0)
        for poly in getattr(g.geometry, "geoms", [g.geometry]):
            pts = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in poly.exterior.coords)
            polys.append(
                f'<polygon points="{pts}" fill="{_colour(n, top)}" data-grid="{e(g.grid_id)}">'
                f"<title>{e(g.grid_id)} {e(g.grid_name)}（{e(g.street)}）：{n} 家目标</title>"
                "</polygon>"
            )
        ax, ay = _anchor(g)
        labels.append(f'<text class="gid" x="{sx(ax):.1f}" y="{sy(ay):.1f}">{e(g.grid_id)}</text>')
    towns = "".join(
        f'<text class="town" x="{sx(x):.1f}" y="{sy(y):.1f}">{e(t)}</text>'
        for t, (x, y) in sorted(_town_anchors(grids).items())
    )
    for r in drawn.filter(pl.col("x").is_not_null()).iter_rows(named=True):
        tip = f"<title>{e(str(r.get('name') or ''))} · {r.get('headcount')}人</title>"
        if r["by_address"]:
            points.append(
                f'<circle class="target by-address" cx="{sx(r["x"]):.1f}" cy="{sy(r["y"]):.1f}"'
                f' r="3" fill="none" stroke="{RING}" stroke-width="1.5"'
                f' data-enterprise="{e(r["enterprise_id"])}">{tip}</circle>'
            )
        else:
            points.append(
                f'<circle class="target by-coordinates" cx="{sx(r["x"]):.1f}"'
                f' cy="{sy(r["y"]):.1f}" r="2.5" fill="{POINT}"'
                f' data-enterprise="{e(r["enterprise_id"])}">{tip}</circle>'
            )
    by_address = int(drawn["by_address"].sum()) if drawn.height else 0
    markers = []
    g_drawn = drawn_groups(grids, groups)
    for r in g_drawn.iter_rows(named=True):
        size = 3 + min(5.0, math.sqrt(r["members"]))
        tag, geometry = _group_marker(r["reason"], sx(r["x"]), sy(r["y"]), size)
        markers.append(
            f'<{tag} class="joint-group {e(r["reason"])}" {geometry}'
            f' fill="{GROUP_COLOURS.get(r["reason"], "#555")}" data-group="{e(r["group_id"])}">'
            f"<title>{e(r['reason_text'] or '')}</title></{tag}>"
        )
    n_groups = {k: 0 for k in GROUP_COLOURS} | (
        dict(groups.group_by("reason").len().iter_rows())
        if groups is not None and groups.height
        else {}
    )
    group_legend = "".join(
        f'<span class="gk" style="background:{colour}"></span>{GROUP_WORDS[k]} {n_groups[k]} 组'
        for k, colour in GROUP_COLOURS.items()
    )
    legend = "".join(
        f'<span class="bin"><i style="background:{c}"></i>{label}</span>'
        for c, label in legend_bins(top)
    )
    group_json = _json_for_script(_group_data(groups, group_members))
    doc = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>走访热力图 · {e(snapshot)}</title>
<style>{_STYLE}</style></head>
<body><h1>走访热力图 · {e(snapshot)}</h1>
<p>{drawn.height} 家目标企业（职工超阈值且未建会），分布在 {len(counts)} 个网格；
其中 {drawn.height - by_address} 家按坐标标注，
{by_address} 家按地址中的社区/村落格（画在所在社区）。
点击网格查看其目标企业。</p>
<p id="legend"><b>每个网格的目标企业数：</b>{legend}
<span class="mk" style="background:{POINT}"></span>按坐标
<span class="mk" style="border:2px solid {RING}"></span>按地址（所在社区）</p>
<p id="group-legend"><label><input type="checkbox" id="show-groups" checked>
<b>联合建会候选组</b></label>（未建会的小微企业，可组建楼宇、商圈、行业工会；点击图标查看成员）：
{group_legend}</p>
<div id="wrap">
<svg id="map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}"
 width="{width}" height="{height}">
<g id="grids">{"".join(polys)}</g>
<g id="grid-ids">{"".join(labels)}</g>
<g id="targets">{"".join(points)}</g>
<g id="joint-groups">{"".join(markers)}</g>
<g id="towns">{towns}</g>
</svg>
<div id="panel"><p>点击地图上的网格，列出该网格的目标企业（按走访顺序）。</p></div>
</div>
<script type="application/json" id="grid-data">{_json_for_script(_grid_data(grids, drawn))}</script>
<script type="application/json" id="group-data">{group_json}</script>
<script>{_SCRIPT}</script>
</body></html>"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc, encoding="utf-8")


def cjk_font() -> str | None:
    """The name of an installed font that draws Chinese, for the PNG; None when there is none."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    found = next((n for n in CJK_FONTS if n in names), None)
    if found is None:  # installed after matplotlib cached its font list: look at the files
        for path in font_manager.findSystemFonts():
            if any(k in Path(path).name.lower() for k in CJK_FILES):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        names = {f.name for f in font_manager.fontManager.ttflist}
        found = next((n for n in CJK_FONTS if n in names), None)
    return found


def heatmap_png(
    grids: list[GridShape],
    targets: pl.DataFrame,
    snapshot: str,
    path: Path,
    groups: pl.DataFrame | None = None,
) -> None:
    """Write the same map as a static PNG (matplotlib, Agg backend), with the same labels.

    ``groups`` (``joint_group`` rows) are drawn as in the HTML: a square per building, a diamond
    per street, a triangle per industry group.

    Chinese labels need a CJK font (Noto Sans CJK, WenQuanYi, Microsoft YaHei, SimHei, ...); on a
    machine without one, town names are written in pinyin and the title in English, and a
    warning says so.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Polygon

    font = cjk_font()
    if font is None:
        log.warning("no CJK font installed: the heat map PNG's town names are in pinyin")
    text = _chinese if font else _pinyin
    drawn = drawn_targets(grids, targets)
    counts = dict(drawn.group_by("grid_id").len().iter_rows()) if drawn.height else {}
    top = max(counts.values(), default=0)
    with matplotlib.rc_context({"font.family": [font, "DejaVu Sans"] if font else ["DejaVu Sans"]}):
        fig, ax = plt.subplots(figsize=(11, 12), dpi=110)
        for g in grids:
            for poly in getattr(g.geometry, "geoms", [g.geometry]):
                ax.add_patch(
                    Polygon(
                        list(poly.exterior.coords),
                        facecolor=_colour(counts.get(g.grid_id, 0), top),
                        edgecolor="#888",
                        linewidth=0.4,
                    )
                )
            x, y = _anchor(g)
            ax.text(x, y, g.grid_id, fontsize=4, ha="center", va="center", color="#333")
        pts = drawn.filter(pl.col("x").is_not_null())
        by_coord = pts.filter(~pl.col("by_address"))
        by_addr = pts.filter(pl.col("by_address"))
        if by_coord.height:
            ax.scatter(by_coord["x"].to_list(), by_coord["y"].to_list(), s=8, c=POINT, zorder=3)
        if by_addr.height:
            ax.scatter(
                by_addr["x"].to_list(),
                by_addr["y"].to_list(),
                s=14,
                facecolors="none",
                edgecolors=RING,
                linewidths=1,
                zorder=3,
            )
        g_drawn = drawn_groups(grids, groups)
        for reason, marker in (("building", "s"), ("street", "D"), ("industry", "^")):
            part = g_drawn.filter(pl.col("reason") == reason)
            if part.height:
                ax.scatter(
                    part["x"].to_list(),
                    part["y"].to_list(),
                    s=18,
                    marker=marker,
                    c=GROUP_COLOURS[reason],
                    edgecolors="white",
                    linewidths=0.4,
                    zorder=3,
                )
        import matplotlib.patheffects as pe

        for town, (x, y) in sorted(_town_anchors(grids).items()):
            ax.text(
                x,
                y,
                text(town),
                fontsize=9,
                ha="center",
                va="center",
                zorder=4,
                path_effects=[pe.withStroke(linewidth=2.5, foreground="white")],
            )
        x0, y0, x1, y1 = _bounds(grids)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        handles: list[Any] = [
            Patch(facecolor=c, edgecolor="#999", label=label) for c, label in legend_bins(top)
        ]
        handles += [
            Line2D([], [], marker="o", ls="", color=POINT, label=text("按坐标")),
            Line2D(
                [], [], marker="o", ls="", mfc="none", color=RING, label=text("按地址（所在社区）")
            ),
        ]
        handles += [
            Line2D(
                [],
                [],
                marker=marker,
                ls="",
                color=GROUP_COLOURS[reason],
                label=text(f"联合建会候选组·{GROUP_WORDS[reason]}"),
            )
            for reason, marker in (("building", "s"), ("street", "D"), ("industry", "^"))
        ]
        ax.legend(handles=handles, title=text("每网格目标企业数"), loc="lower right", fontsize=8)
        ax.set_title(
            text(f"走访热力图 · {snapshot}（目标企业 {drawn.height} 家）")
            if font
            else f"Visit targets per grid · {snapshot} (n={drawn.height})"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, bbox_inches="tight")
        plt.close(fig)


def _chinese(text: str) -> str:
    return text


_ENGLISH = {
    "按坐标": "by coordinates",
    "按地址（所在社区）": "by address (at its community)",
    "每网格目标企业数": "targets per grid",
    "联合建会候选组·同楼宇": "joint-union group: building",
    "联合建会候选组·同商圈": "joint-union group: street",
    "联合建会候选组·同行业": "joint-union group: industry",
}


def _pinyin(text: str) -> str:
    from pypinyin import lazy_pinyin

    if text in _ENGLISH:
        return _ENGLISH[text]
    return "".join(lazy_pinyin(text)).capitalize()
