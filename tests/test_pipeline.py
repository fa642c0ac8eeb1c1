"""End to end on the samples through the real Prefect flow, checked against the truth."""

from __future__ import annotations

import re
import sqlite3
import subprocess
from html import unescape as html_unescape
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from datapool.connectors import warehouse
from datapool.schemas import warehouse as wh
from datapool.settings import month_end

pytestmark = [pytest.mark.prefect, pytest.mark.slow]
MONTHS = ["2025-05", "2025-06"]


def table(run, name, month) -> pl.DataFrame:
    return warehouse.read_table(warehouse.engine_for(run["url"]), name, month)


def id_to_key(run, month, truth_rows) -> pl.DataFrame:
    links = table(run, "enterprise_link", month)
    return (
        links.join(truth_rows[month], on=["source", "source_row"])
        .group_by("enterprise_id")
        .agg(pl.col("enterprise_key").mode().first())
    )


def truth_targets(samples: Path, month: str, ents: pl.DataFrame) -> set[str]:
    con = sqlite3.connect(samples / "members.sqlite")
    end = month_end(month).isoformat()
    live = {
        u
        for u, s, f in con.execute("SELECT union_id, status, founded_on FROM union_org")
        if s == "active" and f <= end
    }
    active_members = {
        m for m, s in con.execute("SELECT member_id, status FROM union_member") if s == "active"
    }
    member_union = dict(con.execute("SELECT member_id, union_id FROM union_member"))
    con.close()
    unions = pl.read_csv(
        samples / "truth" / "unions.csv", schema_overrides={"enterprise_key": pl.Utf8}
    )
    covered = {
        r["enterprise_key"]
        for r in unions.iter_rows(named=True)
        if r["kind"] == "single" and r["enterprise_key"] and r["union_id"] in live
    }
    members = pl.read_csv(
        samples / "truth" / "members.csv", schema_overrides={"enterprise_key": pl.Utf8}
    )
    covered |= {
        r["enterprise_key"]
        for r in members.iter_rows(named=True)
        if r["enterprise_key"]
        and r["member_id"] in active_members
        and member_union[r["member_id"]] in live
    }
    # the month's visit records (truth/<month>/visits.csv): a headcount counted on site replaces
    # the registries', a union established on the visit covers, closed/moved/not found is gone
    visits_csv = samples / "truth" / month / "visits.csv"
    if visits_csv.exists():
        visits = pl.read_csv(visits_csv, infer_schema_length=0).filter(pl.col("effect") != "broken")
        seen = visits.filter(pl.col("observed_headcount").fill_null("") != "").select(
            "enterprise_key", pl.col("observed_headcount").cast(pl.Int64).alias("_seen")
        )
        ents = ents.join(seen, on="enterprise_key", how="left").with_columns(
            pl.coalesce("_seen", "expected_headcount").alias("expected_headcount")
        )
        covered |= set(visits.filter(pl.col("union") == "是")["enterprise_key"].to_list())
        gone = ("closed", "deregistered", "moved", "not_found")
        covered |= set(visits.filter(pl.col("effect").is_in(gone))["enterprise_key"].to_list())
    t = ents.filter((pl.col("active") == 1) & (pl.col("expected_headcount").fill_null(0) > 25))
    return set(t["enterprise_key"].to_list()) - covered


def test_every_table_has_both_months(sample_run):
    engine = warehouse.engine_for(sample_run["url"])
    with engine.connect() as conn:
        for name in (
            "source_record",
            "quarantine",
            "enterprise_link",
            "enterprise",
            "union_coverage",
            "union_orphan",
            "visit_target",
            "validation_result",
            "member_link",
        ):
            t = wh.metadata.tables[name]
            snaps = {r[0] for r in conn.execute(sa.select(t.c.snapshot).distinct())}
            assert snaps == set(MONTHS), name
        runs = conn.execute(
            sa.select(
                wh.pipeline_run.c.snapshot,
                wh.pipeline_run.c.status,
                wh.pipeline_run.c.rows_in,
                wh.pipeline_run.c.rows_accepted,
                wh.pipeline_run.c.rows_quarantined,
            )
        ).all()
    assert {r[0] for r in runs if r[1] == "success"} == set(MONTHS)
    assert all(r[2] == r[3] + r[4] for r in runs if r[1] == "success")
    changes = table(sample_run, "union_change", MONTHS[1])
    assert changes.height and set(changes["change"]) >= {"new_target", "closed"}


@pytest.mark.parametrize("month", MONTHS)
def test_targets_against_truth(sample_run, samples, truth_rows, truth_enterprises, month):
    cov = table(sample_run, "union_coverage", month)
    keys = id_to_key(sample_run, month, truth_rows)
    predicted = set(
        cov.filter(pl.col("target")).join(keys, on="enterprise_id")["enterprise_key"].to_list()
    )
    expected = truth_targets(samples, month, truth_enterprises[month])
    tp = len(predicted & expected)
    precision, recall = tp / len(predicted), tp / len(expected)
    # issue #15's bar; the month's visit records take true targets out (closed, counted under
    # 26, covered on a visit), so the matching errors left weigh a little more
    assert precision >= 0.98 and recall >= 0.98, (precision, recall, len(predicted), len(expected))


def test_orphans_and_joint_members(sample_run, samples):
    month = MONTHS[1]
    unions = pl.read_csv(
        samples / "truth" / "unions.csv", schema_overrides={"enterprise_key": pl.Utf8}
    )
    ghosts = set(
        unions.filter((pl.col("kind") == "single") & pl.col("enterprise_key").is_null())["union_id"]
    )
    orphans = table(sample_run, "union_orphan", month)
    reported = set(orphans.filter(pl.col("reason") == "not_found")["union_id"])
    assert len(ghosts & reported) / len(ghosts) >= 0.95
    assert set(orphans["reason"]) <= {"not_found", "deregistered"}


def test_joint_union_members_matched_precisely(sample_run, samples, truth_rows):
    from datapool.privacy import keyed_hashes
    from datapool.settings import Settings

    month = MONTHS[1]
    members = pl.read_csv(
        samples / "truth" / "members.csv", schema_overrides={"enterprise_key": pl.Utf8}
    )
    key = Settings().hmac_key.get_secret_value()
    members = members.with_columns(keyed_hashes(members["member_id"], key).alias("member_key"))
    links = table(sample_run, "member_link", month).filter(pl.col("enterprise_id").is_not_null())
    j = links.join(members, on="member_key").join(
        id_to_key(sample_run, month, truth_rows), on="enterprise_id", suffix="_pred"
    )
    precision = (j["enterprise_key"] == j["enterprise_key_pred"]).fill_null(False).mean()
    assert precision >= 0.95 and j.height > 50


@pytest.mark.parametrize("month", MONTHS)
def test_visit_plans(sample_run, month):
    out = sample_run["out"] / month
    visits = table(sample_run, "visit_target", month)
    cov = table(sample_run, "union_coverage", month)
    ents = table(sample_run, "enterprise", month)
    targets = cov.filter(pl.col("target")).join(
        ents.select("enterprise_id", "grid_id"), on="enterprise_id"
    )
    assert set(visits["enterprise_id"]) == set(
        targets.filter(pl.col("grid_id").is_not_null())["enterprise_id"]
    )
    for _, g in visits.group_by("grid_id"):
        assert sorted(g["route_order"].to_list()) == list(range(1, g.height + 1))
    stats = sample_run["results"][month].counts
    # Never longer than the list; how much shorter depends on how many targets a grid has (with one,
    # nothing can be saved), so the saving is reported, and optimality is tested in test_visits.
    assert stats["route_m"] <= stats["unordered_m"]
    assert stats["route_saving_grids_3plus"] is not None and stats["route_saving_grids_3plus"] > 0.2
    assert stats["route_saving_grids_4plus"] is not None
    sheets = [p for p in (out / "visit_sheets").glob("*.xlsx") if "未落格目标" not in p.name]
    planned = table(sample_run, "visit_plan", month)
    assert set(visits["grid_id"]) <= set(planned["grid_id"])
    assert len(sheets) == planned["grid_id"].n_unique()  # one workbook per grid worker
    _check_unplaced(out, month, targets, stats)
    assert (out / "heatmap.html").stat().st_size > 1000 and (
        out / "heatmap.png"
    ).stat().st_size > 1000
    assert (out / "data_docs" / "index.html").exists()
    unplaced = ents.filter(pl.col("grid_id").is_null())
    assert unplaced["grid_method"].str.starts_with("unplaced: ").all()


def _check_unplaced(out, month, targets, stats) -> None:
    """Every target no grid holds is listed, with its reason, in 未落格目标 and the summary."""
    from openpyxl import load_workbook

    missing = targets.filter(pl.col("grid_id").is_null())
    assert stats["unplaced_targets"] == missing.height
    assert sum(stats["unplaced_target_reasons"].values()) == missing.height
    path = out / "visit_sheets" / f"{month}_未落格目标.xlsx"
    if not missing.height:
        assert not path.exists()
        return
    ws = load_workbook(path)["未落格目标"]
    rows = list(ws.iter_rows(min_row=3, values_only=True))
    assert sorted(r[5] for r in rows) == sorted(missing["enterprise_id"])
    assert all(r[6] for r in rows)  # a reason on every row
    assert ws.freeze_panes == "A3" and ws.page_setup.orientation == "landscape"


@pytest.mark.parametrize("month", MONTHS)
def test_visit_sheets_print_and_read(sample_run, month):
    """Opened with openpyxl: one workbook per grid worker, one tab per week, the week's stops in
    walking order as visit_plan has them, the record columns of visits.md blank to fill in (the
    header on the first row of every tab, so a filled sheet reads back as a visit record);
    frozen header, landscape, print titles, one page wide, whole metres."""
    from openpyxl import load_workbook

    from datapool.visits.sheets import RECORD_COLUMNS, WEEK_COLUMNS, week_tab
    from datapool.visits.weekly import week_starts

    plan = table(sample_run, "visit_plan", month)
    mondays = week_starts(month)
    folder = sample_run["out"] / month / "visit_sheets"
    sheets = sorted(p for p in folder.glob("*.xlsx") if "未落格目标" not in p.name)
    assert len(sheets) == plan["grid_id"].n_unique()
    legs = rows_read = 0
    for path in sheets:
        grid_id = path.name.split("_")[1]
        wb = load_workbook(path)
        g = plan.filter(pl.col("grid_id") == grid_id).sort("week", "outing", "stop")
        weeks = sorted(set(g["week"]))
        assert wb.sheetnames == [week_tab(w, mondays[w - 1]) for w in weeks]
        for w, ws in zip(weeks, wb.worksheets, strict=True):
            assert ws.freeze_panes == "A2"
            assert ws.page_setup.orientation == "landscape"
            assert ws.print_title_rows == "$1:$1"
            assert ws.sheet_properties.pageSetUpPr.fitToPage
            assert (ws.page_setup.fitToWidth or 1) == 1 and ws.page_setup.fitToHeight == 0
            header = [c.value for c in ws[1]]
            assert header == WEEK_COLUMNS and set(RECORD_COLUMNS) <= set(header)
            got = [
                dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)
            ]
            want = g.filter(pl.col("week") == w)
            assert [(r["出行"], r["站"], r["企业ID"]) for r in got] == list(
                want.select("outing", "stop", "enterprise_id").iter_rows()
            )
            for r in got:  # the worker fills these in
                assert all(r[h] is None for h in RECORD_COLUMNS[3:]), r
                assert r["企业名称"] and r["地址"] is not None
                if isinstance(r["距下一家(米)"], int | float):
                    assert r["距下一家(米)"] == int(r["距下一家(米)"])  # whole metres
                    legs += 1
            rows_read += len(got)
    assert legs > 0 and rows_read == plan.height


def test_heatmap_labels_every_target_and_clicks_in_chromium(sample_run, tmp_path):
    """Opened in headless Chromium: every target drawn (by address at its community), grid ids
    and town names on the map, a legend with numbers, and a grid's targets listed on a click
    (the ``#grid=`` link runs the click handler)."""
    import shutil
    import subprocess

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium not installed (.ci/run installs it)")
    month = MONTHS[1]
    html = sample_run["out"] / month / "heatmap.html"
    text = html.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["']https?://""", text), (
        "the map must not load anything from the network"
    )
    visits = table(sample_run, "visit_target", month)
    busiest = visits.group_by("grid_id").len().sort(["len", "grid_id"], descending=[True, False])
    grid_id, n_targets = busiest.row(0)
    args = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chrome'}",
        "--window-size=1600,1400",
    ]
    url = f"{html.as_uri()}#grid={grid_id}"
    shot = sample_run["out"] / "heatmap-screenshot.png"
    subprocess.run(
        [*args, f"--screenshot={shot}", url], check=True, timeout=120, capture_output=True
    )
    assert shot.stat().st_size > 5000
    dom = subprocess.run(
        [*args, "--virtual-time-budget=5000", "--dump-dom", url],
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    ).stdout
    drawn = re.findall(r'<circle class="target (by-address|by-coordinates)"', dom)
    assert len(drawn) == visits.height  # every target, those placed by address too
    assert drawn.count("by-address") == visits.filter(pl.col("placed_by") == "address").height > 0
    ids = re.findall(r'<text class="gid"[^>]*>([^<]+)</text>', dom)
    assert set(visits["grid_id"]) <= set(ids)
    towns = re.findall(r'<text class="town"[^>]*>([^<]+)</text>', dom)
    assert "梅林镇" in towns and len(towns) >= 10
    legend = re.search(r'<p id="legend">(.*?)</p>', dom, re.S).group(1)
    assert re.search(r"</i>0<", legend) and re.search(r"</i>\d+–\d+<", legend)
    assert "走访热力图" in dom and "按地址" in dom
    panel = re.search(r'<ol id="grid-targets">(.*?)</ol>', dom, re.S)
    assert panel, "clicking a grid lists its targets"
    assert panel.group(1).count("<li>") == n_targets
    assert (sample_run["out"] / month / "heatmap.png").stat().st_size > 20_000


class _Drawn(HTMLParser):
    """The SVG shapes of a page: each polygon's and circle's title text, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[str, str]] = []
        self._open: str | None = None
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("polygon", "circle"):
            self._open = tag
            self.shapes.append((tag, ""))
        self._in_title = tag == "title" and self._open is not None

    def handle_endtag(self, tag: str) -> None:
        if tag in ("polygon", "circle"):
            self._open = None
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            kind, text = self.shapes[-1]
            self.shapes[-1] = (kind, text + data)


def _chromium(exe: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            *args,
        ],
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    )


def test_heatmap_renders_offline_in_headless_chromium(sample_run, samples, tmp_path):
    # what Chromium draws: one polygon per grid part titled with the grid's target count, one
    # circle per target with coordinates titled with its name, and both visible in a screenshot
    import shutil

    from matplotlib.image import imread

    from datapool.connectors.grids import read_grids
    from datapool.visits.maps import _COLOURS

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium not installed (.ci/run installs it)")
    month = MONTHS[1]
    html = sample_run["out"] / month / "heatmap.html"
    text = html.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["']https?://""", text), (
        "the map must not load anything from the network"
    )
    dom = _chromium(exe, tmp_path / "chrome", "--dump-dom", html.as_uri()).stdout
    drawn = _Drawn()
    drawn.feed(dom)
    polygons = [t for kind, t in drawn.shapes if kind == "polygon"]
    circles = [t for kind, t in drawn.shapes if kind == "circle"]

    targets = table(sample_run, "visit_target", month)
    per_grid = dict(targets.group_by("grid_id").len().iter_rows())
    want_polygons = [
        f"{g.grid_id} {g.grid_name}（{g.street}）：{per_grid.get(g.grid_id, 0)} 家目标"
        for g in read_grids(samples / "grids.geojson")
        for _ in getattr(g.geometry, "geoms", [g.geometry])
    ]
    assert polygons == want_polygons
    # every target is drawn: by its coordinates, or at its community when placed by address
    assert sorted(t.rsplit(" · ", 1)[0] for t in circles) == sorted(
        n or "" for n in targets["name"].to_list()
    )

    shot = tmp_path / "heatmap.png"
    _chromium(
        exe, tmp_path / "chrome", "--window-size=1000,1600", f"--screenshot={shot}", html.as_uri()
    )
    pixels = {
        "#" + "".join(f"{c:02x}" for c in p)
        for p in (imread(shot)[..., :3] * 255).round().astype(int).reshape(-1, 3).tolist()
    }
    assert "#08519c" in pixels, "no target drawn in the screenshot"
    assert _COLOURS[-1] in pixels, (
        "the grid with the most targets is not drawn in the darkest colour"
    )

    # the joint-union groups' layer (visits/groups.py): one marker per group, titled with its
    # reason in words, shown until switched off (the checkbox, or #groups=off); a click (#group=)
    # lists the group's members
    from datapool.visits.maps import GROUP_COLOURS

    groups = table(sample_run, "joint_group", month)
    drawable = groups.filter(pl.col("lon").is_not_null() | pl.col("grid_id").is_not_null())
    layer = re.search(r'<g id="joint-groups"( style="[^"]*")?>(.*?)</g>', dom, re.S)
    assert layer and "none" not in (layer.group(1) or ""), "the group layer is shown by default"
    markers = re.findall(
        r'<(?:rect|path) class="joint-group (building|street|industry)"[^>]*'
        r'data-group="([^"]+)"[^>]*><title>([^<]*)</title>',
        layer.group(2),
    )
    assert len(markers) == drawable.height > 0
    want = {
        gid: (reason, text)
        for gid, reason, text in drawable.select("group_id", "reason", "reason_text").iter_rows()
    }
    assert {gid: (reason, html_unescape(text)) for reason, gid, text in markers} == want
    assert {reason for reason, _, _ in markers} == {"building", "street", "industry"}
    assert re.search(r'<input type="checkbox" id="show-groups" checked', dom)
    assert set(GROUP_COLOURS.values()) & pixels, "no joint-union group drawn in the screenshot"
    off = _chromium(exe, tmp_path / "chrome", "--dump-dom", f"{html.as_uri()}#groups=off").stdout
    assert re.search(r'<g id="joint-groups" style="display: none;">', off)
    members = table(sample_run, "joint_group_member", month)
    gid, n = (
        members.group_by("group_id")
        .len()
        .join(drawable.select("group_id"), on="group_id")
        .sort(["len", "group_id"], descending=[True, False])
        .row(0)
    )
    click = _chromium(
        exe,
        tmp_path / "chrome",
        "--virtual-time-budget=5000",
        "--dump-dom",
        f"{html.as_uri()}#group={gid}",
    ).stdout
    listed = re.search(r'<ol id="group-members">(.*?)</ol>', click, re.S)
    assert listed and listed.group(1).count("<li>") == n


def test_no_personal_data_in_any_output(sample_run, samples):
    con = sqlite3.connect(samples / "members.sqlite")
    secrets = {
        v
        for row in con.execute("SELECT name, id_number, phone FROM union_member")
        for v in row
        if v
    }
    con.close()
    for month in MONTHS:
        for f in ("market_supervision.csv", "tax_registry.csv"):
            frame = pl.read_csv(samples / month / f, infer_schema=False, encoding="utf8-lossy")
            secrets |= set(frame["法定代表人"].drop_nulls())
        si = pl.read_csv(
            (samples / month / "social_insurance.csv").read_bytes().decode("gb18030").encode(),
            infer_schema=False,
        )
        secrets |= {p for p in si["联系电话"].drop_nulls() if re.fullmatch(r"1[3-9]\d{9}", p)}
    long_secrets = {s for s in secrets if len(s) >= 3}
    engine = sa.create_engine(sample_run["url"])
    blobs = []
    with engine.connect() as conn:
        for t in wh.metadata.sorted_tables:
            for row in conn.execute(sa.select(t)):
                blobs.append(" ".join(str(v) for v in row))
    for path in sample_run["out"].rglob("*"):
        if path.is_file() and path.suffix in {".html", ".json", ".csv", ".txt", ".md"}:
            blobs.append(path.read_text(encoding="utf-8", errors="ignore"))
        if path.suffix == ".xlsx":
            from openpyxl import load_workbook

            wb = load_workbook(path, read_only=True)
            blobs.extend(
                " ".join(str(c) for c in r if c is not None)
                for ws in wb
                for r in ws.iter_rows(values_only=True)
            )
    # Aho-Corasick, one pass
    hits = pl.Series(blobs, dtype=pl.Utf8).str.contains_any(sorted(long_secrets))
    leaked = [
        s for b in pl.Series(blobs).filter(hits).to_list()[:3] for s in long_secrets if s in b
    ]
    assert not hits.any(), leaked[:5]
    assert len(long_secrets) > 1000


def test_rerun_replaces_snapshot_identically(sample_run, samples):
    from datapool.flows.snapshot import snapshot_flow

    month = MONTHS[1]
    tables = [t for t in wh.SNAPSHOT_TABLES if t != "validation_result"]
    before = {t: table(sample_run, t, month) for t in tables}
    other = {t: table(sample_run, t, MONTHS[0]) for t in tables}
    snapshot_flow(snapshot=month, settings=sample_run["settings"])
    for t in tables:
        assert table(sample_run, t, month).equals(before[t]), t
        assert table(sample_run, t, MONTHS[0]).equals(other[t]), t


def test_run_artifacts(sample_run):
    from prefect.artifacts import Artifact

    summary = Artifact.get(f"datapool-{MONTHS[1]}")
    assert (
        summary is not None
        and "rows in" in str(summary.data)
        and "| street | targets |" in str(summary.data)
    )
    top = Artifact.get(f"datapool-{MONTHS[1]}-top-targets")
    assert top is not None and "enterprise_id" in str(top.data)


def test_data_docs_render_offline(sample_run, tmp_path):
    """Data Docs load nothing from the network, and render in Chromium with name resolution off:
    jQuery and bootstrap-table (shipped beside the pages) run and build the index's table."""
    import shutil
    import subprocess

    docs = sample_run["out"] / MONTHS[1] / "data_docs"
    pages = list(docs.rglob("*.html"))
    assert len(pages) > 5
    loads = re.compile(
        r"""<(script|img|iframe)\b[^>]*\bsrc=["'](https?:)?//|<link\b[^>]*\bhref=["'](https?:)?//"""
    )
    for page in pages:
        assert not loads.search(page.read_text(encoding="utf-8")), page
    assert (docs / "static" / "vendor" / "js" / "jquery.min.js").stat().st_size > 50_000
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium not installed (.ci/run installs it)")
    dom = subprocess.run(
        [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--host-resolver-rules=MAP * ~NOTFOUND",  # the network is off
            f"--user-data-dir={tmp_path / 'chrome'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            (docs / "index.html").as_uri(),
        ],
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    ).stdout
    assert 'class="bootstrap-table bootstrap4"' in dom  # the scripts ran, offline


def test_flow_run_parameters_hold_no_secret(sample_run):
    """Prefect records the flow's parameters in its API: the settings' URLs and key only masked."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[f"snapshot-{MONTHS[1]}"]))
        )
    assert runs
    for run in runs:
        recorded = run.parameters["settings"]
        assert recorded["warehouse_url"] == recorded["hmac_key"] == "**********"
        assert "warehouse.sqlite" not in str(run.parameters)
        assert recorded["input_root"]  # the rest is kept, for whoever reads the run
