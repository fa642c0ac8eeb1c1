"""``datapool bench --end-to-end``: a whole generated month through the real run, per stage.

The month is generated once (``datapool samples``: four exports, member database, grids) and
run exactly as ``datapool run`` runs it (:class:`datapool.flows.runners.RunOptions`, the flow's
body as plain functions when no Prefect API is set), in a fresh child process so its memory is
its own. The flow marks its stages (:mod:`datapool.stageclock`); the child returns each stage's
wall time, CPU seconds (the process's, so stages that run side by side share theirs), CPU use
and peak resident memory, and the table is printed; on a shared machine the CPU seconds say more
than the wall time, which grows with the load printed beside it. With Splink installed,
Splink's matching runs on the same rows in the same benchmark (another child) and the ratio of
its time to datapool's matching stage is printed. Figures are printed, never asserted.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

MONTH = "2025-05"
MB = 1024 * 1024


def _e2e_child(root: str, url: str, out_dir: str, out: Any) -> None:  # out: a multiprocessing queue
    from datapool.stageclock import measuring

    with measuring() as clock:
        with clock.stage("start-up (imports)"):
            import datapool.flows.snapshot  # noqa: F401 - Prefect and the stages, as a run loads them
            from datapool.flows.runners import RunOptions
            from datapool.privacy import TEST_KEY
            from datapool.settings import Settings

            settings = Settings(
                input_root=Path(root),
                members_url=f"sqlite:///{Path(root).resolve() / 'members.sqlite'}",
                grids_path=Path(root) / "grids.geojson",
                warehouse_url=url,
                out_dir=Path(out_dir),
                hmac_key=TEST_KEY,
            )
        summary = RunOptions(settings, quiet=True).run(MONTH)
    wall, cpu = clock.total()
    out.put(
        {
            "stages": [
                {
                    "name": s.name,
                    "seconds": s.seconds,
                    "cpu": s.cpu_use,
                    "peak_mb": s.peak_bytes / MB,
                    "rows": s.rows,
                }
                for s in clock.stages
            ],
            "seconds": wall,
            "cpu": cpu / wall if wall else 0.0,
            "peak_mb": clock.peak_bytes / MB,
            "rows_in": summary.rows_in,
            "line": summary.line(),
        }
    )


def stage_table(fig: dict[str, Any]) -> list[str]:
    """The per-stage table as text lines (a Markdown table, readable in a terminal)."""
    lines = [
        "| stage | wall s | CPU s | CPU (cores busy) | peak RSS MB | rows | rows/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for s in fig["stages"]:
        rows = s["rows"]
        rate = f"{rows / s['seconds']:,.0f}" if rows and s["seconds"] > 0 else ""
        lines.append(
            f"| {s['name']} | {s['seconds']:.1f} | {s['cpu'] * s['seconds']:.1f} | "
            f"{s['cpu']:.2f} | {s['peak_mb']:,.0f} | "
            f"{f'{rows:,}' if rows else ''} | {rate} |"
        )
    inside = sum(s["seconds"] for s in fig["stages"] if "beside" not in s["name"])
    lines.append(
        f"| outside the stages (summary, moving files) | {fig['seconds'] - inside:.1f} | | | | | |"
    )
    rows_in = fig.get("rows_in") or 0
    lines.append(
        f"| **whole run** | **{fig['seconds']:.1f}** | {fig['cpu'] * fig['seconds']:.1f} | "
        f"{fig['cpu']:.2f} | "
        f"**{fig['peak_mb']:,.0f}** | {rows_in:,} | {rows_in / fig['seconds']:,.0f} |"
    )
    if "tree_peak_mb" in fig:  # what the machine held at once: the run with its helpers
        lines.append(
            f"| **all the run's processes together** ({fig['tree_processes']} at most; "
            f"proportional set sizes summed every 0.2 s) | | | | "
            f"**{fig['tree_peak_mb']:,.0f}** | | |"
        )
    return lines


def load_line() -> str:
    """The machine's load and cores, to read the figures by (the machine may be shared)."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return f"{os.cpu_count()} cores"
    return f"{os.cpu_count()} cores, load average {one:.2f} {five:.2f} {fifteen:.2f}"


def run_end_to_end(
    enterprises: int,
    out: Path,
    warehouse_url: str | None,
    splink: bool,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Generate (once) and run a month of ``enterprises`` enterprises end to end; print the
    per-stage table and, with Splink, the ratio. Returns the figures."""
    from datapool.bench import MATCHER_SEED, _in_child, _splink_child
    from datapool.connectors.warehouse import describe_url
    from datapool.samples import generate

    root = out / f"e2e-{enterprises}"
    if not (root / MONTH / "tax_registry.csv").exists() or not (root / "members.sqlite").exists():
        say(f"end to end: generating {enterprises:,} enterprises (one month, member db, grids) ...")
        shutil.rmtree(root, ignore_errors=True)
        generate(root, enterprises, [MONTH], seed=MATCHER_SEED)
    run_out = out / f"e2e-{enterprises}-out"
    if warehouse_url is None:  # a fresh SQLite warehouse each time: the month's first publish
        shutil.rmtree(run_out, ignore_errors=True)
        warehouse_url = f"sqlite:///{(run_out / 'warehouse.sqlite').resolve()}"
    say(f"end to end: running {MONTH} into {describe_url(warehouse_url)} ({load_line()}) ...")
    fig = _in_child(_e2e_child, str(root), warehouse_url, str(run_out))
    say(f"end to end: {fig['line']}")
    for line in stage_table(fig):
        say(line)
    say(f"end to end: machine {load_line()} after the run")
    matching = next((s["seconds"] for s in fig["stages"] if s["name"] == "matching"), None)
    if not splink:
        say("splink: not asked (--no-splink)")
    elif importlib.util.find_spec("splink") is None:
        say("splink: not installed (pip install '.[bench]') - no comparison run")
    elif matching:
        s = _in_child(_splink_child, str(root), MONTH)
        fig["splink_seconds"] = s["seconds"]
        say(
            f"splink: matching the same {fig.get('rows_in') or 0:,} rows took {s['seconds']:.1f}s, "
            f"peak {s['peak_mb']:,.0f} MB: {s['seconds'] / matching:.2f}x datapool's matching "
            f"stage ({matching:.1f}s), {s['seconds'] / fig['seconds']:.2f}x datapool's whole "
            f"run ({fig['seconds']:.1f}s)"
        )
    return fig
