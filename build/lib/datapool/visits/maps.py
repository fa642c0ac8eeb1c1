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
"""


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
    grids: list[GridShape], targets: pl.DataFrame, snapshot: str, path: Path, width: int = 1200
) -> None:
    """Write the offline heat map."""
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
    legend = "".join(
        f'<span class="bin"><i style="background:{c}"></i>{label}</span>'
        for c, label in legend_bins(top)
    )
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
<div id="wrap">
<svg id="map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}"
 width="{width}" height="{height}">
<g id="grids">{"".join(polys)}</g>
<g id="grid-ids">{"".join(labels)}</g>
<g id="targets">{"".join(points)}</g>
<g id="towns">{towns}</g>
</svg>
<div id="panel"><p>点击地图上的网格，列出该网格的目标企业（按走访顺序）。</p></div>
</div>
<script type="application/json" id="grid-data">{_json_for_script(_grid_data(grids, drawn))}</script>
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


def heatmap_png(grids: list[GridShape], targets: pl.DataFrame, snapshot: str, path: Path) -> None:
    """Write the same map as a static PNG (matplotlib, Agg backend), with the same labels.

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
}


def _pinyin(text: str) -> str:
    from pypinyin import lazy_pinyin

    if text in _ENGLISH:
        return _ENGLISH[text]
    return "".join(lazy_pinyin(text)).capitalize()
