"""Scratch folders of runs killed outright are swept by the next run (datapool/scratch.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from datapool import scratch
from datapool.connectors import staging

PREFIX = ".datapool-rows-"


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


HOST = scratch._host()


@pytest.mark.parametrize(
    ("name", "removed"),
    [
        (f"{PREFIX}{HOST}~{{dead}}~0123456789ab", True),  # this host, owner gone
        (f"{PREFIX}{HOST}~{os.getpid()}~0123456789ab", False),  # this very process
        (f"{PREFIX}{HOST}~{os.getppid()}~0123456789ab", False),  # a live run
        (f"{PREFIX}other-host~{{dead}}~0123456789ab", False),  # another host's (a shared disk)
        (f"{PREFIX}0123456789ab", False),  # named before owners were written
        (f"{PREFIX}{HOST}~notapid~0123456789ab", False),
        (f".2025-06.staging-{HOST}~{{dead}}~0123456789ab", False),  # another prefix
    ],
)
def test_sweep_removes_only_folders_of_dead_runs_of_this_host(tmp_path, name, removed):
    folder = tmp_path / name.format(dead=dead_pid())
    folder.mkdir()
    (folder / "rows.sqlite").write_bytes(b"x")
    assert scratch.sweep(tmp_path, PREFIX) == ([folder] if removed else [])
    assert folder.exists() is not removed


def test_a_file_of_that_name_is_left_alone(tmp_path):
    f = tmp_path / f"{PREFIX}{HOST}~{dead_pid()}~0123456789ab"
    f.write_text("not ours")
    assert scratch.sweep(tmp_path, PREFIX) == [] and f.exists()


def test_owned_names_parse_back_to_this_process():
    name = scratch.owned_name(PREFIX)
    host, pid, tag = name[len(PREFIX) :].split(scratch.SEP)
    assert (host, int(pid), len(tag)) == (HOST, os.getpid(), scratch.TAG_HEX)
    assert scratch.owned_name(PREFIX) != name


def test_writing_ahead_sweeps_a_killed_runs_rows_first(tmp_path):
    import polars as pl

    left = tmp_path / f"{PREFIX}{HOST}~{dead_pid()}~0123456789ab"
    left.mkdir()
    (left / "rows.sqlite").write_bytes(b"\0" * 1024)
    frame = pl.DataFrame({"source": ["tax_registry"], "source_row": [1]})
    staging.start(
        f"sqlite:///{tmp_path / 'w.sqlite'}", "2025-06", "sweep", {"source_record": frame}
    )
    try:
        assert not left.exists()
        (mine,) = tmp_path.glob(f"{PREFIX}*")
        assert f"{scratch.SEP}{os.getpid()}{scratch.SEP}" in mine.name
    finally:
        staging.drop("sweep")
