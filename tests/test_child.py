"""A run's helper processes leave when the run is killed outright (datapool/child.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

GRANDCHILD = (
    "import time; from datapool.child import exit_with_parent; exit_with_parent(0.05); "
    "time.sleep(120)"
)
PARENT = f"""
import os, signal, subprocess, sys, time
p = subprocess.Popen([sys.executable, "-c", {GRANDCHILD!r}])
print(p.pid, flush=True)
time.sleep(1.5)  # the helper is up and watching
os.kill(os.getpid(), signal.SIGKILL)  # killed outright: nothing is stopped on the way out
"""


def _alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        state = next(x for x in status.read_text().splitlines() if x.startswith("State:"))
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "Z" not in state.split()[1]  # a zombie has exited: only its reaping is left


def test_a_helper_exits_when_its_run_is_killed():
    parent = subprocess.run(
        [sys.executable, "-c", PARENT], capture_output=True, text=True, timeout=60
    )
    assert parent.returncode == -9
    pid = int(parent.stdout.split()[0])
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), "the helper outlived the run that started it"


def test_every_helper_watches_its_run():
    import inspect

    from datapool import child, validation_process
    from datapool.connectors import members, staging
    from datapool.visits import files

    for main in (staging.main, child.serve):
        assert "exit_with_parent()" in inspect.getsource(main)
    # one-job helpers: serve watches
    for main in (files.main, validation_process.main, members.main):
        assert "serve(" in inspect.getsource(main)
