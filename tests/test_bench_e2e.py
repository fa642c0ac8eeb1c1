"""``datapool bench --end-to-end`` on a small month: the per-stage table is printed and the month
is published (figures are printed, never asserted)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from cliutil import invoke

from datapool.stageclock import count_rows, mark, measuring, stage

STAGES = (
    "reading",
    "matching",
    "validation (beside member diff and visit planning, own process)",
    "member diff",
    "visit planning",
    "publishing",
)


@pytest.mark.slow
def test_bench_end_to_end_prints_the_stage_table(capsys, tmp_path):
    code, out, err = invoke(
        capsys,
        "bench",
        "--end-to-end",
        "--enterprises",
        "2000",
        "--no-splink",
        "--out",
        str(tmp_path),
    )
    assert code == 0, err
    assert "| stage | wall s | CPU s | CPU (cores busy) | peak RSS MB | rows | rows/s |" in out
    for name in STAGES:
        assert f"| {name} |" in out, name
    assert "| **whole run** |" in out and "load average" in out
    assert "| **all the run's processes together** (" in out  # the helpers counted too
    assert "splink: not asked (--no-splink)" in out
    # the month went through the real run: published into the bench's SQLite warehouse
    db = tmp_path / "e2e-2000-out" / "warehouse.sqlite"
    with sa.create_engine(f"sqlite:///{db}").connect() as conn:
        status = conn.execute(sa.text("SELECT status FROM pipeline_run")).scalars().all()
        rows = conn.execute(sa.text("SELECT count(*) FROM source_record")).scalar()
    assert status == ["success"] and rows and rows > 4000


def test_stage_clock_measures_only_when_installed():
    mark("nothing")  # no clock: nothing happens
    with stage("nothing either") as s:
        assert s is None
    with measuring() as clock:
        mark("one", 10)
        data = bytearray(64 * 1024 * 1024)  # resident once written
        data[::4096] = b"x" * len(data[::4096])
        mark("two")
        count_rows(5)
        with stage("beside") as b:
            assert b is not None
        mark(None)
        del data
    names = [s.name for s in clock.stages]
    assert names == ["one", "two", "beside"]
    one, two, _ = clock.stages
    assert (one.rows, two.rows) == (10, 5)
    assert one.peak_bytes >= 64 * 1024 * 1024 and not any(s.open for s in clock.stages)
    assert one.seconds >= 0 and one.cpu_seconds >= 0


def test_stage_peaks_are_each_stages_own():
    # a stage that holds 96 MB, then one that holds far less: the second's peak is its own, not
    # the first's (the kernel's peak is read and reset at each boundary, or sampled elsewhere)
    mb = 1024 * 1024
    with measuring() as clock:
        mark("big")
        data = bytearray(96 * mb)
        data[::4096] = b"x" * len(data[::4096])
        del data
        mark("small")
        with stage("beside"):
            small = bytearray(8 * mb)
            small[::4096] = b"x" * len(small[::4096])
        mark(None)
    big, small_stage, beside = clock.stages
    assert big.peak_bytes >= small_stage.peak_bytes + 80 * mb
    assert small_stage.peak_bytes >= beside.peak_bytes  # the stage within counts in its host
    assert clock.peak_bytes >= big.peak_bytes
