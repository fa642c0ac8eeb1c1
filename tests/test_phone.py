"""The phone route pages: inert and offline by construction, and in headless Chromium at 360 px
wide: rendered, every stop opens its file, no network request, a screenshot kept."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import struct
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from shapely.geometry import box

from datapool.connectors.grids import GridShape
from datapool.visits.phone import CSP, route_page, write_route_pages
from datapool.visits.weekly import week_starts

MONTHS = ["2025-05", "2025-06"]
HOSTILE = "<script>alert(1)</script>"


def _grid() -> GridShape:
    return GridShape(
        "G1",
        "广场社区网格</title><img src=x>",
        "广场社区",
        "梅林镇",
        "w1",
        box(114.9, 25.8, 114.95, 25.85),
    )


def _plan() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "grid_id": ["G1"] * 4,
            "week": [1, 1, 1, 2],
            "outing": [1, 1, 2, 1],
            "stop": [1, 2, 1, 1],
            "enterprise_id": ["E1", "E2", "E3", "E4"],
            "reason": ["target", "watch", "follow_up", "target"],
            "distance_to_next_m": [300.0, None, None, None],
            "name": [
                HOSTILE + "公司",
                "http://evil.example/x.png",
                '"><svg onload=alert(2)>',
                "四",
            ],
            "address": ["</script><script>alert(3)</script>", None, "路1号", "路2号"],
            "headcount": [30, None, 12, 40],
            "headcount_source": ["social_insurance", None, "tax_registry", None],
            "status": ["存续", None, "开业", "在业"],
            "status_source": ["market_supervision", None, None, None],
            "industry": ["C13", None, None, None],
            "founded_on": [date(2010, 1, 1), None, None, None],
            "sources": ["market_supervision,social_insurance", "", "tax_registry", ""],
            "lon": [114.91, 114.92, None, 114.93],
            "lat": [25.81, 25.82, None, 25.83],
            "covered": [False, False, False, True],
            "union_id": [None, None, None, "U9"],
            "members": [0, 0, 0, 12],
        }
    )


def _scripts(page: str) -> list[str]:
    return re.findall(r"<script>(.*?)</script>", page, re.S)


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_page_is_inert_and_self_contained():
    page = route_page(_grid(), _plan(), "2025-06", week_starts("2025-06"))
    # only the page's own two scripts and one style, each allowed by its hash, nothing else
    assert re.findall(r"<script[^>]*>", page) == ["<script>", "<script>"]
    assert len(re.findall(r"<style[^>]*>", page)) == 1
    style = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    assert CSP.startswith("default-src 'none'; ")
    for text in [*_scripts(page), style]:
        assert _hash(text) in CSP
    assert f'content="{CSP}"' in page
    # no address to fetch: the one URL is the SVG namespace, which is a name, not a request
    assert re.findall(r"https?://[^\s\"'<]+", page.replace("http://evil.example/x.png", "")) == [
        "http://www.w3.org/2000/svg"
    ]
    assert not re.search(r"<[a-z][^>]*\s(src|href|srcset|action|style|on\w+)=", page)
    assert "<img" not in page and "<svg onload" not in page
    assert "alert(1)" not in _scripts(page)[0] + _scripts(page)[1]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;公司" in page
    assert "&lt;/title&gt;&lt;img src=x&gt;" in page
    # every stop opens a file, addressed by index
    assert sorted(set(re.findall(r'data-file="(\d+)"', page))) == ["0", "1", "2", "3"]
    assert len(re.findall(r'<section id="f\d+" hidden>', page)) == 4
    assert "暂无走访记录" in page  # the visit hook is not fed


def test_files_show_last_visits_and_open_concerns_redacted(tmp_path):
    history = pl.DataFrame(
        {
            "enterprise_id": ["E1", "E1", "E1", "E1", "E3"],
            "visited_on": [date(2025, m, 3) for m in (2, 3, 4, 5)] + [date(2025, 5, 9)],
            "operating_status": ["正常"] * 5,
            "observed_headcount": [20, 22, 25, 28, None],
            "union_status": ["否", "否", "筹建中", "筹建中", "否"],
            "concerns": ["old", None, None, "担心费用，联系 13912345678 <b>", None],
            "needs": [None, None, None, "欠薪", None],
            "visitor_key": ["k1"] * 5,
        }
    )
    (path,) = write_route_pages(
        _plan(), [_grid()], "2025-06", tmp_path, week_starts("2025-06"), history
    )
    page = path.read_text(encoding="utf-8")
    e1 = re.search(r'<section id="f0" hidden>(.*?)</section>', page, re.S).group(1)
    assert e1.count("<li>") == 3 and "2025-05-03" in e1 and "2025-02-03" not in e1  # last 3
    assert "担心费用" in e1 and "欠薪" in e1 and "old" not in e1  # the latest visit's, open
    assert "13912345678" not in page and re.search("&lt;(phone|number)&gt;", e1)
    assert "<b>" not in page
    assert "k1" not in page  # who visited is not shown
    e3 = re.search(r'<section id="f2" hidden>(.*?)</section>', page, re.S).group(1)
    assert "2025-05-09" in e3 and "上次走访无未决事项" in e3
    e4 = re.search(r'<section id="f3" hidden>(.*?)</section>', page, re.S).group(1)
    assert "已建会" in e4 and "暂无走访记录" in e4


def _png_size(path: Path) -> tuple[int, int]:
    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    return width, height


@pytest.mark.prefect
@pytest.mark.slow
def test_route_page_on_a_phone_in_headless_chromium(sample_run, tmp_path):
    """Chromium over the DevTools pipe, as a 360 px phone: the page lays out without sideways
    scrolling, each stop of a week (in the list and on the map) opens its enterprise's file, the
    week selector switches the routes, the page makes no request but its own file (and the
    monitor does see a request when a page makes one), no CSP violation; a screenshot is written
    next to the page."""
    from cdp import Browser

    from datapool.connectors import warehouse

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium not installed (.ci/run installs it)")
    month = MONTHS[1]
    engine = warehouse.engine_for(sample_run["url"])
    plan = warehouse.read_table(engine, "visit_plan", month)
    names = warehouse.read_table(engine, "enterprise", month).select("enterprise_id", "name")
    folder = sample_run["out"] / month / "route_pages"
    pages = sorted(folder.glob("*.html"))
    assert len(pages) == plan["grid_id"].n_unique()
    # the grid with the most stops in a week, with coordinates on the map
    busiest = (
        plan.group_by("grid_id", "week").len().sort(["len", "grid_id"], descending=[True, False])
    )
    grid_id, week = busiest.row(0)[:2]
    (page,) = [p for p in pages if p.name.startswith(f"{month}_{grid_id}_")]
    stops = (
        plan.filter(pl.col("grid_id") == grid_id)
        .sort("week", "outing", "stop")
        .with_row_index("k")
        .join(names, on="enterprise_id", how="left", maintain_order="left")
    )
    b = Browser(exe, tmp_path / "chrome")
    try:
        b.page("Network.enable")
        b.page("Page.enable")
        b.page(
            "Emulation.setDeviceMetricsOverride",
            {"width": 360, "height": 740, "deviceScaleFactor": 2, "mobile": True},
        )
        b.page("Page.navigate", {"url": page.as_uri()})
        b.wait_for("Page.loadEventFired")
        assert b.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scrolling
        assert b.evaluate("document.querySelectorAll('svg#map polygon').length") >= 1
        shot = page.with_suffix(".png")  # kept next to the page, in the run's output folder
        b.screenshot(shot)
        assert _png_size(shot) == (720, 1480) and shot.stat().st_size > 5000

        b.click(f'button[data-pick-week="{week}"]')
        visible = b.evaluate(
            "[...document.querySelectorAll('g[data-week]')].filter(g => !g.hasAttribute('hidden'))"
            ".map(g => g.dataset.week)"
        )
        assert visible == [str(week)]
        in_week = stops.filter(pl.col("week") == week)
        for k, name in in_week.select("k", "name").iter_rows():
            for where in ("#lists button", "svg#map g.stop"):  # the list, then the map
                b.click(f'{where}[data-file="{k}"]')
                shown = b.evaluate(
                    "[...document.querySelectorAll('#file section')]"
                    ".filter(s => !s.hidden).map(s => s.querySelector('h2').textContent)"
                )
                assert shown == [name or "（无名称）"], (where, k)
                assert b.evaluate("document.getElementById('file').hidden") is False
                b.click("#close")
                assert b.evaluate("document.getElementById('file').hidden") is True
        assert b.evaluate("document.documentElement.dataset.cspViolations") == "0"
        assert b.requests() == [page.as_uri()], "the page asked the network for something"

        # the monitor is real: a page that loads an image from the web shows up
        bad = tmp_path / "bad.html"
        bad.write_text('<img src="http://example.invalid/x.png">', encoding="utf-8")
        b.page("Page.navigate", {"url": bad.as_uri()})
        b.wait_for("Page.loadEventFired")
        assert "http://example.invalid/x.png" in b.requests()
    finally:
        b.close()
