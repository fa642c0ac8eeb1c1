"""datapool: fuse enterprise registries into one pool and plan union outreach.

Public surface: the stages are plain functions over polars DataFrames; the
Prefect flow in :mod:`datapool.flows` and the CLI in :mod:`datapool.cli` wire
them together.
"""

from __future__ import annotations

from datapool.errors import DatapoolError, InputError, PublishRefused, ValidationFailed
from datapool.settings import Settings

__all__ = ["DatapoolError", "InputError", "PublishRefused", "Settings", "ValidationFailed"]
__version__ = "0.1.0"
