"""Seeded sample generator: truthful, messy monthly exports plus the truth behind them.

``generate(out, enterprises=5000, months=["2025-05", "2025-06"], seed=7)``
writes, for each month, the four agency exports (docs/design.md, Inputs) in a
``YYYY-MM`` folder, and beside them ``members.sqlite``, ``grids.geojson`` and
``truth/`` (which enterprise each row, union and joint-union member is).

``noise`` picks the noise model (``noisemodel.py``): ``default``, the one ``data/samples`` is
written with and the matcher was tuned on, or ``holdout``, a second, deliberately different
model that is used only to score the matcher and never to tune it.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

from datapool.samples.exports import (
    CA_HEADERS,
    MS_HEADERS,
    SI_HEADERS,
    TAX_HEADERS,
    bad_rows,
    civil_rows,
    market_rows,
    si_accounts,
    si_rows,
    tax_rows,
    write_csv,
    write_xlsx,
)
from datapool.samples.geo import make_grids, write_geojson
from datapool.samples.joint import place_joint_groups
from datapool.samples.joint import truth_rows as joint_truth
from datapool.samples.members import build_members, write_members
from datapool.samples.noisemodel import NoiseModel
from datapool.samples.visits import visit_records, write_visit_records
from datapool.samples.world import KIND_BRANCH, World, build_world, next_month
from datapool.settings import month_end

__all__ = ["NOISE_MODELS", "generate", "noise_model"]

NOISE_MODELS = ("default", "holdout")


def noise_model(name: str) -> NoiseModel:
    """The noise model called ``name`` (one of :data:`NOISE_MODELS`)."""
    if name == "default":
        from datapool.samples.noise import MODEL
    elif name == "holdout":
        from datapool.samples.noise2 import MODEL
    else:
        raise ValueError(f"unknown noise model {name!r}: one of {', '.join(NOISE_MODELS)}")
    return MODEL


def generate(
    out: Path,
    enterprises: int = 5000,
    months: list[str] | None = None,
    seed: int = 7,
    members: bool = True,
    noise: str = "default",
    visits: bool = True,
) -> dict[str, int]:
    """Write sample snapshots under ``out``; returns rows written per file kind.

    With ``visits``, every month after the first gets the filled visit sheets handed back
    (``<month>/visit_records/``, :mod:`datapool.samples.visits`) and their truth
    (``truth/<month>/visits.csv``), from a random stream of their own: the agency exports are
    the same either way.
    """
    model = noise_model(noise)
    months = months or ["2025-05", "2025-06"]
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    grids = make_grids(rng)
    write_geojson(grids, out / "grids.geojson")
    world = build_world(rng, enterprises, grids)
    # shared buildings and shopping streets, from their own stream: nothing else changes
    place_joint_groups(world, grids, random.Random(f"{seed}:joint"))
    counts: dict[str, int] = {}
    worlds: list[World] = []
    for i, month in enumerate(months):
        if i:
            world = next_month(rng, world, grids, max(1, enterprises // 33))
        worlds.append(world)
        counts.update(
            {f"{month}/{k}": v for k, v in _write_month(out, world, seed, month, model).items()}
        )
    if visits:
        for before, now, month in zip(worlds, worlds[1:], months[1:], strict=False):
            rows, truth = visit_records(before, now, seed, month)
            truth = write_visit_records(out / month / "visit_records", rows, truth, seed, month)
            _write_table(out / "truth" / month / "visits.csv", truth)
            counts[f"{month}/visit_records"] = len(rows)
    if members:
        orgs, mems, utruth, mtruth = build_members(
            worlds[-1], random.Random(seed + 1), months, model
        )
        write_members(out / "members.sqlite", orgs, mems)
        _write_table(out / "truth" / "unions.csv", utruth)
        _write_table(out / "truth" / "members.csv", mtruth)
        counts["union_org"], counts["union_member"] = len(orgs), len(mems)
    return counts


def _write_month(
    out: Path, world: World, seed: int, month: str, model: NoiseModel
) -> dict[str, int]:
    snap = out / month
    snap.mkdir(parents=True, exist_ok=True)
    truth: list[dict[str, Any]] = []
    written = {}
    heads: dict[str, dict[str, int]] = {"si": {}, "tax": {}, "ca": {}}
    for source, rows, headers, writer in (
        (
            "market_supervision",
            market_rows(world, seed, month, model),
            MS_HEADERS,
            ("csv", "utf-8-sig"),
        ),
        ("civil_affairs", civil_rows(world, seed, month, model), CA_HEADERS, ("xlsx", "")),
        ("social_insurance", si_rows(world, seed, month, model), SI_HEADERS, ("csv", "gb18030")),
        ("tax_registry", tax_rows(world, seed, month, model), TAX_HEADERS, ("csv", "utf-8")),
    ):
        rows = rows + bad_rows(rows, headers, seed, source + month)
        random.Random(f"{seed}:{source}:{month}:order").shuffle(rows)
        dicts = [r for r, _ in rows]
        if writer[0] == "csv":
            write_csv(snap / f"{source}.csv", headers, dicts, writer[1])
        else:
            write_xlsx(snap / f"{source}.xlsx", headers, dicts)
        truth += [
            {"source": source, "source_row": i, "enterprise_key": k}
            for i, (_, k) in enumerate(rows, start=1)
        ]
        _collect_headcounts(source, rows, heads)
        written[source] = len(rows)
    _write_table(out / "truth" / month / "rows.csv", truth)
    _write_table(out / "truth" / month / "joint_groups.csv", joint_truth(world))
    end = month_end(month)
    _write_table(
        out / "truth" / month / "enterprises.csv",
        [
            {
                "enterprise_key": e.key,
                "kind": e.kind,
                "active": int(e.active),
                "uscc": e.uscc,
                "valid_uscc": int(not e.pilot_code),
                "branch": int(e.kind == KIND_BRANCH),
                "head_key": e.head_key,
                "headcount": e.headcount if (e.in_si and e.active) else "",
                "grid_id": e.grid.grid_id,
                "expected_headcount": heads["si"].get(
                    e.key, heads["tax"].get(e.key, heads["ca"].get(e.key, ""))
                ),
                "accounts": len(si_accounts(e, seed)) if e.in_si and e.active else 0,
                "founded": e.founded.isoformat(),
                "exists": int(e.founded <= end),
            }
            for e in world.enterprises
        ],
    )
    return written


def _collect_headcounts(
    source: str, rows: list[tuple[dict[str, Any], str]], heads: dict[str, dict[str, int]]
) -> None:
    """The expected golden headcount, from the rows as written (docs/design.md, Headcount)."""
    for row, key in rows:
        if key == "QUARANTINE":
            continue
        if source == "social_insurance" and row["参保状态"] == "正常参保":
            heads["si"][key] = heads["si"].get(key, 0) + int(row["参保人数"])
        elif source == "tax_registry" and row["从业人数"] != "":
            heads["tax"][key] = int(row["从业人数"])
        elif source == "civil_affairs" and row["从业人员数"] != "":
            heads["ca"][key] = int(row["从业人员数"])


def _write_table(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        if not rows:
            return
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
