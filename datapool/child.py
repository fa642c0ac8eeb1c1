"""What a helper process of a run does so it never outlives the run.

A run starts helper processes (the rows written ahead, :mod:`datapool.connectors.staging`; the
visit files, :mod:`datapool.visits.files`) and stops them when it gives up on them. A run that
is killed outright (SIGKILL, the kernel's out-of-memory killer) stops nothing: its helpers,
re-parented to init, would go on writing gigabytes nobody reads. Each helper therefore watches
the process that started it and exits as soon as that process is gone.
"""

from __future__ import annotations

import os
import sys
import threading

POLL_SECONDS = 0.5
ORPHANED = 70  # the exit code of a helper whose run is gone


def exit_with_parent(poll: float = POLL_SECONDS) -> threading.Thread:
    """Watch the parent process from a daemon thread and leave (``os._exit``) when it is gone
    (the process is re-parented, so its parent id changes)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                print("datapool: the run that started this process is gone", file=sys.stderr)
                os._exit(ORPHANED)
            threading.Event().wait(poll)

    t = threading.Thread(target=watch, name="exit-with-parent", daemon=True)
    t.start()
    return t
