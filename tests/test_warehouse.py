"""The same warehouse tests on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import threading
from datetime import datetime

import polars as pl
import pytest
import sqlalchemy as sa

from datapool.connectors import warehouse
from datapool.errors import PublishRefused, SnapshotLocked
from datapool.schemas import warehouse as wh


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'wh.sqlite'}"
    pg = request.getfixturevalue("pg_url")
    engine = sa.create_engine(pg)
    wh.metadata.drop_all(engine)
    engine.dispose()
    return pg


def run(status="success"):
    return {
        "run_id": "test",
        "started_at": datetime(2025, 1, 1),
        "status": status,
        "rows_in": 1,
        "rows_accepted": 1,
        "rows_quarantined": 0,
    }


def links(n: int, tag: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "source": ["tax_registry"] * n,
            "source_row": list(range(1, n + 1)),
            "source_key": [f"k{i}" for i in range(n)],
            "enterprise_id": [f"{tag}{i}" for i in range(n)],
            "rule": ["uscc"] * n,
            "score": [1.0] * n,
            "agreed": ["uscc"] * n,
        }
    )


def rows(engine, snapshot) -> list:
    with engine.connect() as conn:
        t = wh.enterprise_link
        return conn.execute(
            sa.select(t.c.source_row, t.c.enterprise_id)
            .where(t.c.snapshot == snapshot)
            .order_by(t.c.source_row)
        ).all()


def test_tables_are_created_once_when_opened_side_by_side(url):
    # the flow opens the warehouse from tasks that run at once; on an empty PostgreSQL database
    # two CREATE TABLEs of one name collided in the catalogue (pg_type_typname_nsp_index)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def open_it() -> None:
        barrier.wait()
        try:
            warehouse.engine_for(url).dispose()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert set(wh.metadata.tables) <= set(sa.inspect(sa.create_engine(url)).get_table_names())


def test_republish_replaces_only_that_snapshot(url):
    engine = warehouse.engine_for(url)
    warehouse.publish(engine, "2025-05", {"enterprise_link": links(3, "A")}, run())
    warehouse.publish(engine, "2025-06", {"enterprise_link": links(2, "B")}, run())
    warehouse.publish(engine, "2025-06", {"enterprise_link": links(4, "C")}, run())
    assert [r[1] for r in rows(engine, "2025-05")] == ["A0", "A1", "A2"]
    assert [r[1] for r in rows(engine, "2025-06")] == ["C0", "C1", "C2", "C3"]
    assert warehouse.previous_snapshot(engine, "2025-06") == "2025-05"
    assert warehouse.published_snapshots(engine) == {"2025-05", "2025-06"}


def test_failed_publish_leaves_previous_state(url):
    engine = warehouse.engine_for(url)
    warehouse.publish(engine, "2025-05", {"enterprise_link": links(3, "A")}, run())
    bad = links(5, "X").with_columns(
        pl.when(pl.col("source_row") == 4)
        .then(None)
        .otherwise(pl.col("enterprise_id"))
        .alias("enterprise_id")
    )
    with pytest.raises(PublishRefused, match="previous state is intact"):
        warehouse.publish(engine, "2025-05", {"enterprise_link": bad}, run())
    assert [r[1] for r in rows(engine, "2025-05")] == ["A0", "A1", "A2"]


def test_concurrent_publishes_never_interleave(url):
    engine = warehouse.engine_for(url)
    payloads = {tag: links(3000, tag) for tag in ("P", "Q", "R")}
    errors = []

    def go(tag):
        try:
            warehouse.publish(
                warehouse.engine_for(url), "2025-07", {"enterprise_link": payloads[tag]}, run()
            )
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(t,)) for t in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    final = rows(engine, "2025-07")
    assert len(final) == 3000 and len({r[1][0] for r in final}) == 1


def test_a_month_built_on_a_stale_previous_month_is_refused(url):
    engine = warehouse.engine_for(url)
    warehouse.publish(engine, "2025-05", {"enterprise_link": links(3, "A")}, run(), previous=None)
    # a run of 2025-07 read no earlier month, but 2025-05 was published meanwhile
    with pytest.raises(PublishRefused, match="2025-05 has been published since"):
        warehouse.publish(engine, "2025-07", {"enterprise_link": links(2, "B")}, run(), None)
    warehouse.publish(engine, "2025-07", {"enterprise_link": links(2, "B")}, run(), "2025-05")
    assert [r[1] for r in rows(engine, "2025-07")] == ["B0", "B1"]


def test_postgres_lock_waits_only_as_long_as_the_timeout(pg_url):
    engine = warehouse.engine_for(pg_url)
    holder = engine.connect()
    tx = holder.begin()
    holder.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": warehouse._LOCK_KEY})
    try:
        with pytest.raises(SnapshotLocked, match="another run held its lock for 1 s"):
            warehouse.publish(
                engine, "2025-08", {"enterprise_link": links(1, "L")}, run(), lock_timeout=1.0
            )
    finally:
        tx.rollback()
        holder.close()
    warehouse.publish(engine, "2025-08", {"enterprise_link": links(1, "L")}, run())
    assert rows(engine, "2025-08") == [(1, "L0")]


def test_no_sql_built_from_text():
    import inspect

    from datapool.connectors import members

    for module in (warehouse, members):
        src = inspect.getsource(module)
        assert 'f"SELECT' not in src and "f'SELECT" not in src and ".format(" not in src
