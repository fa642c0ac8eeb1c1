"""The benchmarks' peak of a process tree: a child's memory counts in its parent's tree."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from datapool.treepeak import TreePeak, descendants, memory_bytes, resident_bytes, tree_bytes

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

HOLD = (
    "import sys, time; b = bytearray({mb} * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); "
    "sys.stdout.write('ready\\n'); sys.stdout.flush(); time.sleep(30)"
)


def test_a_grandchild_counts_in_the_tree():
    # a child holding 40 MB that starts a grandchild holding 80 MB
    inner = HOLD.format(mb=80)
    outer = (
        "import subprocess, sys; "
        f"g = subprocess.Popen([sys.executable, '-c', {inner!r}], stdout=subprocess.PIPE); "
        "g.stdout.readline(); " + HOLD.format(mb=40)
    )
    child = subprocess.Popen([sys.executable, "-c", outer], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline() == b"ready\n"
        pids = descendants(child.pid)
        assert len(pids) == 2 and pids[0] == child.pid
        total, n = tree_bytes(child.pid)
        assert n == 2 and total >= 120 * 1024 * 1024
        assert total >= memory_bytes(child.pid) + 80 * 1024 * 1024
        with TreePeak(child.pid, interval=0.05) as t:
            pass  # one sample at least: the thread samples as it starts
        assert t.peak_bytes is not None and t.peak_bytes >= 120 * 1024 * 1024
        assert t.processes == 2
        # below a bound the resident sets' sum stands in (no proportional set read); above it the
        # proportional sets are read, and they are never above the resident sets
        rss = sum(resident_bytes(p) or 0 for p in descendants(child.pid))
        assert rss >= total
        fast, n = tree_bytes(child.pid, above=rss + 2**30)  # nothing could pass the bound
        assert n == 2 and abs(fast - rss) < 4 * 1024 * 1024  # the resident sets, read again
        pss, n = tree_bytes(child.pid, above=0)
        assert n == 2 and 120 * 1024 * 1024 <= pss <= rss
    finally:
        for p in descendants(child.pid)[1:]:
            os.kill(p, 9)
        child.kill()
        child.wait()


def test_a_gone_process_holds_nothing():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    assert memory_bytes(p.pid) == 0 and resident_bytes(p.pid) is None
    assert tree_bytes(p.pid)[0] == 0 and tree_bytes(p.pid, above=10)[0] == 0
