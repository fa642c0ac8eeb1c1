"""datapool: fuse enterprise registries into one pool and plan union outreach.

Public surface: the stages are plain functions over polars DataFrames; the
Prefect flow in :mod:`datapool.flows` and the CLI in :mod:`datapool.cli` wire
them together.
"""

from __future__ import annotations

import os

# Polars' jemalloc hands freed pages back in two steps: after 0.5 s "dirty" pages are marked
# free for the kernel to take when it likes (MADV_FREE, "muzzy"), and only after 1 s more are
# they unmapped. Muzzy pages still count in the process's resident and proportional sizes, the
# measure a month's memory is held to; with their decay at 0 jemalloc unmaps them at once. Set
# here, before anything imports polars (polars reads the variable when it is first imported and
# appends it to its own settings); a value set by the user is kept.
os.environ.setdefault("_RJEM_MALLOC_CONF", "muzzy_decay_ms:0")

from datapool.errors import DatapoolError, InputError, PublishRefused, ValidationFailed
from datapool.settings import Settings

__all__ = ["DatapoolError", "InputError", "PublishRefused", "Settings", "ValidationFailed"]
__version__ = "0.1.0"
