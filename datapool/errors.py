"""The errors a user can cause, and nothing else.

    DatapoolError                 anything the CLI reports as one line + exit 2
     ├── InputError               an input file / database / option is unusable
     │    └── MissingColumnError  a required column is absent from an export
     ├── ValidationFailed         a critical Great Expectations expectation failed
     ├── PublishRefused           the warehouse would not take the snapshot
     │    └── SnapshotLocked      another run holds this snapshot
     └── ConfigError              settings that cannot work together

Programming errors (bugs) are not wrapped: they keep their traceback.
"""

from __future__ import annotations

import traceback


class DatapoolError(Exception):
    """Base of every error the command line turns into one clear line."""


class InputError(DatapoolError):
    """An input (export file, member database, grids file) cannot be used."""


class MissingColumnError(InputError):
    """A required column is missing from an agency export."""

    def __init__(self, path: str, column: str) -> None:
        super().__init__(f"{path}: required column '{column}' is missing")
        self.path = path
        self.column = column


class ValidationFailed(DatapoolError):
    """A critical expectation failed; nothing was published."""


class PublishRefused(DatapoolError):
    """The warehouse refused the snapshot; its previous state is intact."""


class SnapshotLocked(PublishRefused):
    """Another run is publishing the same snapshot."""


class ConfigError(DatapoolError):
    """Settings that cannot work."""


def db_detail(exc: BaseException) -> str:
    """The first line of a database error: its driver's message (``orig``) when it carries one."""
    return (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0]


WITHHELD = "<message withheld: an unexpected error's text may quote input data>"


def withheld(exc: BaseException) -> str:
    """An unexpected error as its kind only (its text may quote data values)."""
    return f"{type(exc).__name__}({WITHHELD})"


def withheld_traceback(exc: BaseException) -> str:
    """A bug's traceback, frames and kind, without its message (which may quote data values)."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    child = getattr(exc, "child_frames", "")  # raised in another process (visits/files.py)
    if child:
        frames += f"  ... in a child process:\n{child}"
    return f"Traceback (most recent call last):\n{frames}{type(exc).__name__}: {WITHHELD}"
