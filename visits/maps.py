"""The heat map: target density per grid with targets as points.

The HTML is self-contained (inline SVG, no tiles, no scripts from a CDN), so
it opens on a phone with no network. The PNG is the same picture for reports.
"""

from __future__ import annotations

import html
from pathlib import Path

import polars as pl

from datapool.connectors.grids import GridShape

_COLOURS = ["#fff5eb", "#fdd0a2", "#fdae6b", "#fd8d3c", "#e6550d", "#a63603"]


def _colour(count: int, top: int) -> str:
    if count <= 0 or top <= 0:
        return _COLOURS[0]
    return _COLOURS[min(len(_COLOURS) - 1, 1 + int((len(_COLOURS) - 2) * count / top))]


def _bounds(grids: list[GridShape]) -> tuple[float, float, float, float]:
    xs = [b for g in grids for b in (g.geometry.bounds[0], g.geometry.bounds[2])]
    ys = [b for g in grids for b in (g.geometry.bounds[1], g.geometry.bounds[3])]
    return min(xs), min(ys), max(xs), max(ys)


def heatmap_html(
    grids: list[GridShape], targets: pl.DataFrame, snapshot: str, path: Path, width: int = 900
) -> None:
    """Write the offline heat map."""
    x0, y0, x1, y1 = _bounds(grids)
    height = int(width * (y1 - y0) / (x1 - x0)) if x1 > x0 else width

    def sx(x: float) -> float:
        return (x - x0) / (x1 - x0) * width

    def sy(y: float) -> float:
        return height - (y - y0) / (y1 - y0) * height

    counts = dict(targets.group_by("grid_id").len().iter_rows()) if targets.height else {}
    top = max(counts.values(), default=0)
    parts = []
    for g in grids:
        n = counts.get(g.grid_id, 0)
        polys = getattr(g.geometry, "geoms", [g.geometry])
        for poly in polys:
            pts = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in poly.exterior.coords)
            parts.append(
                f'<polygon points="{pts}" fill="{_colour(n, top)}" '
                'stroke="#888" stroke-width="0.5">'
                f"<title>{html.escape(g.grid_name)} ({g.grid_id}): {n} targets</title></polygon>"
            )
    for r in targets.filter(pl.col("lon").is_not_null()).iter_rows(named=True):
        parts.append(
            f'<circle cx="{sx(r["lon"]):.1f}" cy="{sy(r["lat"]):.1f}" r="2.5" fill="#08519c">'
            f"<title>{html.escape(str(r.get('name') or ''))} · "
            f"{r.get('headcount')}人</title></circle>"
        )
    legend = "".join(
        f'<span style="background:{c};padding:0 12px;margin-right:4px;'
        'border:1px solid #999"></span>'
        for c in _COLOURS
    )
    doc = f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">\
<title>走访热力图 {snapshot}</title>
<style>body{{font-family:sans-serif;margin:12px}} \
svg{{max-width:100%;height:auto;border:1px solid #ccc}}</style></head>
<body><h1>走访热力图 · {snapshot}</h1>
<p>{targets.height} 家目标企业（职工超阈值且未建会），{len(counts)} 个网格有目标。\
颜色越深目标越多。</p>
<p>{legend} 0 → {top}</p>
<svg id="map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" \
width="{width}" height="{height}">
{chr(10).join(parts)}
</svg></body></html>"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc, encoding="utf-8")


def heatmap_png(grids: list[GridShape], targets: pl.DataFrame, snapshot: str, path: Path) -> None:
    """Write the same map as a static PNG (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon

    counts = dict(targets.group_by("grid_id").len().iter_rows()) if targets.height else {}
    top = max(counts.values(), default=0)
    fig, ax = plt.subplots(figsize=(8, 9), dpi=100)
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
    pts = targets.filter(pl.col("lon").is_not_null())
    if pts.height:
        ax.scatter(pts["lon"].to_list(), pts["lat"].to_list(), s=6, c="#08519c")
    x0, y0, x1, y1 = _bounds(grids)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_title(f"targets per grid {snapshot} (n={targets.height})")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
