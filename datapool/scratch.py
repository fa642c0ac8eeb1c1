"""Scratch folders a run owns, and the sweep of those whose run was killed.

A run writes beside its outputs: the rows written ahead beside a SQLite warehouse
(``.datapool-rows-*``, :mod:`datapool.connectors.staging`) and the month's files before they are
put in place (``.2025-06.staging-*`` and ``.2025-06.old-*`` in the output folder,
:mod:`datapool.stages`). A run that ends, well or badly, removes them itself. A run killed
outright (SIGKILL, the kernel's out-of-memory killer) removes nothing, and at 5.6M rows its rows
written ahead are gigabytes.

So each such folder's name ends with its owner: ``<prefix><host>~<pid>~<random hex>``. Before
making a folder, a run sweeps the folders of the same prefix whose owner ran on this host and is
no longer alive. A folder of a live run, of another host (a shared disk), or named otherwise is
never touched. A pid reused by another process only delays the sweep to a later run.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import uuid
from pathlib import Path

log = logging.getLogger("datapool")

TAG_HEX = 12  # random hex characters that keep the folders of concurrent runs apart
SEP = "~"  # not in a host name, a pid or hex


def _host() -> str:
    return socket.gethostname().replace(SEP, "-") or "localhost"


def owned_name(prefix: str) -> str:
    """A fresh folder name for this process: ``prefix`` + host, pid and random hex."""
    return f"{prefix}{_host()}{SEP}{os.getpid()}{SEP}{uuid.uuid4().hex[:TAG_HEX]}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def sweep(parent: Path, prefix: str) -> list[Path]:
    """Remove the folders ``parent/prefix*`` left by runs of this host that are gone; return them.

    Never raises: a folder that cannot be read or removed stays for a later run.
    """
    removed: list[Path] = []
    host = _host()
    try:
        candidates = [p for p in parent.glob(f"{prefix}*") if p.is_dir()]
    except OSError:
        return removed
    for path in candidates:
        parts = path.name[len(prefix) :].split(SEP)
        if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        if pid == os.getpid() or _alive(pid):
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed.append(path)
    if removed:
        log.info(
            "removed %d scratch folder(s) left in %s by runs that were killed", len(removed), parent
        )
    return removed
