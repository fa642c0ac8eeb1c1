"""The visit files written by their own process (visits/files.py) are those the run's process
would write; an error there is raised again in the run, as its kind with the child's frames and
without its text; a writer that is never used ends when it is stopped."""

from __future__ import annotations

import zipfile
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from shapely.geometry import box

from datapool.connectors.grids import GridShape
from datapool.errors import WITHHELD, withheld_traceback
from datapool.visits import files

SNAPSHOT = "2025-06"
GRIDS = [
    GridShape("G1", "东门网格", "广场社区", "梅林镇", "w1", box(115.0, 25.0, 115.01, 25.01)),
    GridShape(
        "G2", "A&B<svg onload=alert(1)>", "河背村", "梅林镇", "w2", box(115.01, 25.0, 115.02, 25.01)
    ),
]


def job(folder: Path) -> files.FileJob:
    """A small month: three stops in two grids (one without coordinates), one unplaced target,
    one joint group, one earlier visit."""
    stops = pl.DataFrame(
        {
            "grid_id": ["G1", "G1", "G2"],
            "week": [1, 2, 1],
            "outing": [1, 1, 1],
            "stop": [1, 1, 1],
            "enterprise_id": ["E1", "E2", "E3"],
            "reason": ["target", "watch", "follow_up"],
            "distance_to_next_m": [120.0, None, None],
            "name": ['=HYPERLINK("http://evil.example","x")', "宏达建材有限公司", "<b>店</b>"],
            "address": ["梅林镇广场社区1号", None, "河背村2组"],
            "headcount": [30, None, 40],
            "headcount_source": ["social_insurance", None, "tax_registry"],
            "sources": ["tax_registry,social_insurance", "civil_affairs", "tax_registry"],
            "status": ["存续", None, "在业"],
            "status_source": ["market_supervision", None, None],
            "industry": ["制造业", None, "零售业"],
            "founded_on": [date(2019, 3, 5), None, None],
            "lon": [115.003, None, 115.015],
            "lat": [25.004, None, 25.006],
            "covered": [False, False, True],
            "union_id": [None, None, "U1"],
            "members": [0, 0, 12],
        }
    )
    targets = stops.select(
        "enterprise_id",
        "grid_id",
        "name",
        "address",
        "headcount",
        "headcount_source",
        "sources",
        "lon",
        "lat",
    ).with_columns(pl.Series("route_order", [1, 2, 1]), pl.lit("point").alias("grid_method"))
    unplaced = pl.DataFrame(
        {
            "enterprise_id": ["E9"],
            "name": ["无落格公司"],
            "address": [None],
            "headcount": [60],
            "headcount_source": ["tax_registry"],
            "sources": ["tax_registry"],
            "grid_method": ["unplaced: no address"],
        }
    )
    groups = pl.DataFrame(
        {
            "group_id": ["J1"],
            "reason": ["building"],
            "reason_text": ["同楼宇：广场社区1号"],
            "members": [3],
            "workers": [20],
            "grid_id": ["G1"],
            "lon": [115.004],
            "lat": [25.005],
        }
    )
    members = pl.DataFrame(
        {
            "group_id": ["J1"] * 3,
            "enterprise_id": ["E4", "E5", "E6"],
            "workers": [5, 7, 8],
            "name": ["甲", "乙", None],
            "address": ["广场社区1号", None, "广场社区1号"],
        }
    )
    history = pl.DataFrame(
        {
            "enterprise_id": ["E3"],
            "visited_on": [date(2025, 5, 20)],
            "snapshot": ["2025-05"],
            "file": ["F000000000001"],
            "row": [2],
            "operating_status": ["正常"],
            "observed_headcount": [38],
            "union_status": ["否"],
            "concerns": ["担心费用，电话13800138000"],
            "needs": [None],
        }
    )
    return files.FileJob(
        GRIDS, SNAPSHOT, folder, targets, unplaced, stops, stops, members, groups, history
    )


def contents(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by its relative path; a workbook by its parts, without the
    creation time xlsxwriter stamps in docProps/core.xml."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = str(path.relative_to(folder))
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as z:
                for part in z.namelist():
                    if part != "docProps/core.xml":
                        out[f"{rel}:{part}"] = z.read(part)
        else:
            out[rel] = path.read_bytes()
    return out


def test_own_process_writes_what_this_process_writes(tmp_path):
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    written_here = files.write_files(job(here))
    files.start(there)  # as the flow does, well before the job
    written_there, figures = files.write_beside(job(there))
    assert [p.relative_to(there) for p in written_there] == [
        p.relative_to(here) for p in written_here
    ]
    mine, theirs = contents(here), contents(there)
    assert any(k.endswith(".html") for k in mine) and any(".xlsx:" in k for k in mine)
    assert mine == theirs
    assert figures.cpu_seconds > 0 and figures.peak_bytes > 0 and figures.seconds > 0
    assert there not in files._WRITERS.procs  # the writer ended with its job


def test_error_in_the_writer_is_raised_in_the_run_without_its_text(tmp_path):
    folder = tmp_path / "not-a-folder"
    folder.write_text("a file where the month's folder should be")
    with pytest.raises(OSError) as caught:
        files.write_beside(job(folder))
    report = withheld_traceback(caught.value)
    assert "in a child process" in report and "maps.py" in report
    assert report.rstrip().endswith(f"{type(caught.value).__name__}: {WITHHELD}")
    assert "not-a-folder" not in report  # the message (a path here, data elsewhere) is withheld
    assert folder not in files._WRITERS.procs


def test_unused_writer_ends_when_stopped(tmp_path):
    files.start(tmp_path)
    proc = files._WRITERS.procs[tmp_path]
    files.start(tmp_path)  # once per folder
    assert files._WRITERS.procs[tmp_path] is proc
    files.stop(tmp_path)
    assert proc.returncode is not None and tmp_path not in files._WRITERS.procs
    files.stop(tmp_path)  # stopping twice is harmless
