"""How the process hands freed memory back to the system during a month's run.

Polars allocates its buffers with its own jemalloc, which returns freed pages on its own. The rest
(numpy arrays, Python lists and strings, pandas frames for Great Expectations, GEOS, SQLite) goes
through glibc's malloc, whose mmap threshold is dynamic: each time a block above it is freed the
threshold rises to that block's size (up to 32 MiB), so later large blocks come from the heap
instead, and a heap fragmented by a month's short-lived arrays is not given back: on a
200,000-enterprise month glibc held about 600 MB of which 440 MB were free. Fixing the threshold
(:func:`release_large_blocks`) turns the dynamic rise off: a block of 128 KiB or more is mapped
on its own and unmapped when freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)
MMAP_THRESHOLD = 128 * 1024  # glibc's default, fixed (setting it turns the dynamic rise off)

_done = False


def release_large_blocks() -> bool:
    """Fix glibc's mmap threshold (see the module docstring), once per process.

    Returns True when it is set (Linux with glibc), False elsewhere (nothing is changed).
    """
    global _done  # noqa: PLW0603
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _done = int(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) == 1
    return _done
