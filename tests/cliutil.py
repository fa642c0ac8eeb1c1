"""Run the real ``datapool`` entry point in-process (so the session's Prefect harness serves it)."""

from __future__ import annotations

import sys

import pytest

from datapool.cli import main


def invoke(capsys, *args: str) -> tuple[int, str, str]:
    """Return (exit code, stdout, stderr) of ``datapool ARGS``."""
    _point_console_handlers_at_current_stderr()
    old = sys.argv
    sys.argv = ["datapool", *args]
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = old
    out, err = capsys.readouterr()
    return code, out, err


def _point_console_handlers_at_current_stderr() -> None:
    """Prefect's console handler keeps the stderr it saw at set-up; under capsys it is closed."""
    import logging

    for handler in logging.getLogger().handlers:
        if hasattr(handler, "console"):
            handler.stream = sys.stderr
            handler.console.file = sys.stderr


def assert_one_clear_line(code: int, err: str, *words: str) -> None:
    """A user error: non-zero exit, no traceback, one line naming the problem."""
    assert code != 0, err
    assert "Traceback" not in err, err
    lines = [ln for ln in err.strip().splitlines() if ln.strip() and not ln.startswith("[")]
    assert lines, err
    last = lines[-1]
    for w in words:
        assert w in last, (w, last)


__all__ = ["assert_one_clear_line", "invoke", "pytest"]
