"""mypy --strict over the package, as it is imported (``datapool.matching``, ...).

The stage folders sit at the top level and install as ``datapool.<name>`` through pyproject's
package-dir, which mypy cannot follow (an editable install maps them with an import hook). So
the package is laid out as it imports, in a tree of symbolic links under ``.mypy_cache/src``,
and mypy checks that tree with the settings of pyproject.toml (``[tool.mypy]``). Paths in its
report are given back as the repository's.

    .venv/bin/python tests/typecheck.py        # what tests/test_style.py runs
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("connectors", "flows", "matching", "schemas", "visits")


def shadow_tree() -> Path:
    """``.mypy_cache/src/datapool``: links to datapool/'s entries and to the stage folders."""
    src = ROOT / ".mypy_cache" / "src"
    pkg = src / "datapool"
    pkg.mkdir(parents=True, exist_ok=True)
    want = {p.name: p for p in (ROOT / "datapool").iterdir() if p.name != "__pycache__"}
    want.update({s: ROOT / s for s in STAGES})
    for link in pkg.iterdir():
        if link.name not in want or not link.is_symlink() or link.resolve() != want[link.name]:
            link.unlink()
    for name, target in want.items():
        if not (pkg / name).is_symlink():
            (pkg / name).symlink_to(target)
    return src


def run() -> tuple[int, str]:
    """Run mypy; returns its exit code and its report with repository paths."""
    src = shadow_tree()
    beside = Path(sys.executable).parent / "mypy"
    exe = [str(beside)] if beside.exists() else [sys.executable, "-m", "mypy"]
    r = subprocess.run(
        [*exe, "--config-file", str(ROOT / "pyproject.toml"), "-p", "datapool"],
        cwd=src,
        capture_output=True,
        text=True,
        env={**os.environ, "MYPY_CACHE_DIR": str(ROOT / ".mypy_cache")},
    )
    stages = "|".join(STAGES)
    report = re.sub(rf"^datapool/({stages})/", r"\1/", r.stdout + r.stderr, flags=re.MULTILINE)
    return r.returncode, report


if __name__ == "__main__":
    code, report = run()
    print(report, end="")
    sys.exit(code)
