"""One enterprise, one file: the golden record, its source rows, and why each was linked."""

from __future__ import annotations

import polars as pl
import sqlalchemy as sa

from datapool.connectors import warehouse
from datapool.errors import InputError
from datapool.schemas import warehouse as wh


def render_profile(url: str, enterprise_id: str, snapshot: str | None = None) -> str:
    """Text profile of ``enterprise_id`` in ``snapshot`` (default: the latest that has it)."""
    engine = warehouse.engine_for(url)
    with engine.connect() as conn:
        q = sa.select(sa.func.max(wh.enterprise.c.snapshot)).where(
            wh.enterprise.c.enterprise_id == enterprise_id
        )
        if snapshot:
            q = q.where(wh.enterprise.c.snapshot == snapshot)
        snap = conn.execute(q).scalar()
    if snap is None:
        raise InputError(
            f"enterprise {enterprise_id} is not in the warehouse"
            + (f" for {snapshot}" if snapshot else "")
        )
    ent = (
        warehouse.read_table(engine, "enterprise", snap)
        .filter(pl.col("enterprise_id") == enterprise_id)
        .row(0, named=True)
    )
    links = warehouse.read_table(engine, "enterprise_link", snap).filter(
        pl.col("enterprise_id") == enterprise_id
    )
    recs = warehouse.read_table(engine, "source_record", snap).join(
        links.select("source", "source_row", "rule", "score", "agreed"), on=["source", "source_row"]
    )
    cov = warehouse.read_table(engine, "union_coverage", snap).filter(
        pl.col("enterprise_id") == enterprise_id
    )
    lines = [f"一企一档 {enterprise_id} · snapshot {snap}", "=" * 40]
    for key in ("name", "uscc", "address", "status", "headcount", "industry", "grid_id", "sources"):
        src = ent.get(f"{key}_source")
        lines.append(f"{key:>16}: {ent.get(key)}" + (f"   [{src}]" if src else ""))
    if cov.height:
        c = cov.row(0, named=True)
        lines.append(
            f"{'union':>16}: {c['union_id'] or '(none)'}  "
            f"members {c['members']}  target {c['target']}"
        )
    lines += ["", f"{recs.height} source rows:"]
    for r in recs.sort("source", "source_row").iter_rows(named=True):
        lines.append(
            f"- {r['source']} row {r['source_row']}: {r['name']} | "
            f"{r['id_clean'] or '-'} | {r['address'] or '-'}"
            f" | headcount {r['headcount'] if r['headcount'] is not None else '-'}"
        )
        lines.append(
            f"    linked by {r['rule']} (score {r['score']:.3f}; agreed: {r['agreed'] or '-'})"
        )
    return "\n".join(lines)
