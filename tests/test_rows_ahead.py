"""Rows written ahead by their own process (connectors/staging.py) and copied by SQLite inside the
month's transaction store exactly what publishing's own inserts store; publishing copies them
only for the very stand-in handed back for them; a failed writer costs nothing but time (the
stand-ins' rows are read back from the files it was handed)."""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime
from pathlib import Path

import polars as pl
from test_bulk_publish import records

from datapool.connectors import staging, warehouse
from datapool.schemas import warehouse as wh
from datapool.stageclock import measuring

MONTH = "2025-05"


def stored(db: Path, table: str = "source_record") -> list[tuple[object, ...]]:
    """Every row as stored, with each value's SQLite type, in insertion order."""
    con = sqlite3.connect(db)
    cols = [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
    typed = ", ".join(f'"{c}", typeof("{c}")' for c in cols)
    rows = con.execute(f"SELECT {typed} FROM {table} ORDER BY rowid").fetchall()
    con.close()
    return rows


def publish(db: Path, tables: dict[str, pl.DataFrame], run_id: str) -> None:
    engine = warehouse.engine_for(f"sqlite:///{db}")
    run = {"run_id": run_id, "started_at": datetime(2025, 1, 1), "status": "success"}
    warehouse.publish(engine, MONTH, tables, run)  # type: ignore[arg-type]
    engine.dispose()


def test_rows_written_ahead_are_stored_as_publishing_stores_them(tmp_path):
    # hostile text, nulls, dates, floats, booleans, and a column of polars' Null type
    df = pl.concat([records()] * 3).with_columns(pl.lit(None).alias("carried_from"))
    links = pl.DataFrame(
        {
            "source": ["tax_registry"] * 3,
            "source_row": [1, 2, 3],
            "source_key": ["k1", None, ""],
            "enterprise_id": ["E1", "E1", "E2"],
            "rule": ["uscc", "name", "fuzzy"],
            "score": [1.0, 0.5, 1 / 3],
            "agreed": [None, '{"name": 1}', ""],
        }
    )
    direct, ahead = tmp_path / "direct.sqlite", tmp_path / "ahead.sqlite"
    publish(direct, {"source_record": df, "enterprise_link": links}, "direct")
    warehouse.engine_for(f"sqlite:///{ahead}").dispose()
    stand_ins = staging.start(
        f"sqlite:///{ahead}", MONTH, "ahead", {"source_record": df, "enterprise_link": links}
    )
    assert {k: v.height for k, v in stand_ins.items()} == {"source_record": 0, "enterprise_link": 0}
    assert {k: v.schema for k, v in stand_ins.items()} == {
        "source_record": df.schema,
        "enterprise_link": links.schema,
    }
    with measuring() as clock:
        publish(ahead, stand_ins, "ahead")
    assert any(s.name.startswith("rows written ahead") for s in clock.stages)  # it was used
    for table in ("source_record", "enterprise_link"):
        assert stored(ahead, table) == stored(direct, table), table
    assert not list(tmp_path.glob(".datapool-rows-*"))  # the staging files are gone


def test_only_the_stand_in_of_rows_written_ahead_is_copied(tmp_path):
    db = tmp_path / "w.sqlite"
    warehouse.engine_for(f"sqlite:///{db}").dispose()
    df = records()
    staging.start(f"sqlite:///{db}", MONTH, "r1", {"source_record": df})
    other = records().head(3)  # the run changed its mind: these rows are the month's
    publish(db, {"source_record": other}, "r1")
    assert len(stored(db)) == 3
    assert not list(tmp_path.glob(".datapool-rows-*"))
    # the frame itself is not the stand-in either: publishing writes it as it is
    staging.start(f"sqlite:///{db}", MONTH, "r1b", {"source_record": df})
    publish(db, {"source_record": df}, "r1b")
    assert len(stored(db)) == df.height


def test_failed_writer_leaves_publishing_to_write_the_rows(tmp_path, caplog, monkeypatch):
    db = tmp_path / "w.sqlite"
    warehouse.engine_for(f"sqlite:///{db}").dispose()
    df = records()
    monkeypatch.setattr(staging.sys, "executable", "false")  # the writer exits at once, failed
    stand_ins = staging.start(f"sqlite:///{db}", MONTH, "r2", {"source_record": df})
    monkeypatch.undo()
    assert stand_ins["source_record"].height == 0
    with caplog.at_level(logging.WARNING, logger="datapool"):
        publish(db, stand_ins, "r2")
    assert any("writing the month's rows ahead failed" in m for m in caplog.messages)
    assert stored(db) == stored_direct(tmp_path, df)  # read back from the file it was handed
    assert not list(tmp_path.glob(".datapool-rows-*"))


def stored_direct(tmp_path: Path, df: pl.DataFrame) -> list[tuple[object, ...]]:
    """``df`` as publishing stores it with nothing written ahead."""
    direct = tmp_path / "direct.sqlite"
    publish(direct, {"source_record": df}, "direct")
    return stored(direct)


def test_nothing_is_written_ahead_for_other_databases(tmp_path):
    for url in ("sqlite://", "postgresql+psycopg://u@localhost/db"):
        df = records()
        assert staging.start(url, MONTH, "r3", {"source_record": df})["source_record"] is df
        assert staging.take("r3") is None
    staging.start(f"sqlite:///{tmp_path / 'w.sqlite'}", MONTH, "r4", {"source_record": records()})
    staging.drop("r4")  # a run that failed before publishing
    assert staging.take("r4") is None and not list(tmp_path.glob(".datapool-rows-*"))


def test_no_room_to_write_ahead_leaves_publishing_to_write_the_rows(tmp_path, monkeypatch, caplog):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pl.DataFrame, "write_ipc", full)
    db = tmp_path / "w.sqlite"
    warehouse.engine_for(f"sqlite:///{db}").dispose()
    df = records()
    with caplog.at_level(logging.WARNING, logger="datapool"):
        tables = staging.start(f"sqlite:///{db}", MONTH, "r5", {"source_record": df})
    assert any("not written ahead: OSError" in m for m in caplog.messages)
    assert staging.take("r5") is None and not list(tmp_path.glob(".datapool-rows-*"))
    assert tables["source_record"] is df  # the frame itself, not a stand-in
    publish(db, tables, "r5")
    assert len(stored(db)) == records().height


def test_rows_parked_for_postgresql_are_read_back_by_publishing(tmp_path, pg_url):
    """On a warehouse nothing is written ahead for, the rows are parked in the output folder
    (the run lets them go) and publishing COPYs them back: the same rows as handed directly."""
    pg = pg_url
    wh.metadata.drop_all(engine := warehouse.engine_for(pg))
    engine.dispose()
    df = records()
    parked = staging.start(pg, MONTH, "p1", {"source_record": df}, park_in=tmp_path)
    assert parked["source_record"].height == 0 and parked["source_record"].schema == df.schema
    assert len(list(tmp_path.glob(".datapool-rows-*"))) == 1
    engine = warehouse.engine_for(pg)
    run = {"run_id": "p1", "started_at": datetime(2025, 1, 1), "status": "success"}
    warehouse.publish(engine, MONTH, parked, run)  # type: ignore[arg-type]
    got = warehouse.read_table(engine, "source_record", MONTH).sort("source_row")
    run = {**run, "run_id": "p2"}
    warehouse.publish(engine, MONTH, {"source_record": df}, run)  # type: ignore[arg-type]
    want = warehouse.read_table(engine, "source_record", MONTH).sort("source_row")
    engine.dispose()
    assert got.height == df.height and got.equals(want)
    assert not list(tmp_path.glob(".datapool-rows-*"))  # removed once published
    # a run that failed before publishing leaves nothing parked either
    staging.start(pg, MONTH, "p3", {"source_record": df}, park_in=tmp_path)
    staging.drop("p3")
    assert not list(tmp_path.glob(".datapool-rows-*"))


def enterprises() -> pl.DataFrame:
    """``enterprise`` rows with every kind of column, hostile text (a NUL, an emoji, a formula),
    categories and a column of nulls only."""
    texts = [*records().get_column("name").to_list(), "a\x00b", "🏭 厂", "=1+1"]
    n = len(texts)
    return pl.DataFrame(
        {
            "enterprise_id": [f"E{i}" for i in range(n)],
            "uscc": [None, "91360721MA0000001X", *[""] * (n - 2)],
            "uscc_valid": [True, False, None, *[True] * (n - 3)],
            "name": texts,
            "status": pl.Series(["在业", None, *["存续"] * (n - 2)], dtype=pl.Categorical),
            "headcount": [0, None, 26, 10**12, *range(n - 4)],
            "n_records": pl.Series(range(n), dtype=pl.UInt32),
            "founded_on": [None, *records().get_column("founded_on").to_list(), None, None],
            "lon": [1 / 3, None, -0.0, 1e-300, 114.9, *[2.5] * (n - 5)],
            "lat": pl.Series([25, None, *range(n - 2)], dtype=pl.Int64),
            # polars' own Null columns, under DATE, INTEGER, BOOLEAN and text
            "observed_on": pl.Series([None] * n, dtype=pl.Null),
            "registry_headcount": pl.Series([None] * n, dtype=pl.Null),
            "is_branch": pl.Series([None] * n, dtype=pl.Null),
            "observed_record": pl.Series([None] * n, dtype=pl.Null),
        }
    )


def test_the_months_other_large_tables_are_written_ahead_by_publishing(tmp_path, monkeypatch):
    # every table of at least LATE_ROWS rows goes into the staging file before the transaction
    # (from Arrow, by ADBC's driver) and is copied from there: stored exactly as bound directly
    monkeypatch.setattr(staging, "LATE_ROWS", 2)
    tables = {"source_record": records(), "enterprise": enterprises()}
    direct, ahead = tmp_path / "direct.sqlite", tmp_path / "ahead.sqlite"
    publish(direct, tables, "direct")
    warehouse.engine_for(f"sqlite:///{ahead}").dispose()
    stand_ins = staging.start(f"sqlite:///{ahead}", MONTH, "late", tables)
    assert stand_ins["enterprise"] is tables["enterprise"]  # not written ahead by the child
    copied: list[str] = []
    insert = warehouse._insert

    def spy(conn, table, df, *args, **kw):  # type: ignore[no-untyped-def]
        if kw.get("ahead"):
            copied.append(table.name)
        return insert(conn, table, df, *args, **kw)

    monkeypatch.setattr(warehouse, "_insert", spy)
    publish(ahead, stand_ins, "late")
    assert sorted(copied) == ["enterprise", "source_record"]
    for table in ("source_record", "enterprise"):
        assert stored(ahead, table) == stored(direct, table), table
    assert not list(tmp_path.glob(".datapool-rows-*"))


def test_other_tables_not_written_ahead_are_bound_in_the_transaction(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(staging, "LATE_ROWS", 2)

    def refuse(db: Path, *args: object) -> None:  # half a file written, then no room
        db.write_bytes(b"SQLite format 3\x00" + b"\xff" * 600)
        raise OSError("no room")

    tables = {"source_record": records(), "enterprise": enterprises()}
    direct, ahead = tmp_path / "direct.sqlite", tmp_path / "ahead.sqlite"
    publish(direct, tables, "direct")
    warehouse.engine_for(f"sqlite:///{ahead}").dispose()
    stand_ins = staging.start(f"sqlite:///{ahead}", MONTH, "late2", tables)
    monkeypatch.setattr(staging, "write_tables", refuse)
    with caplog.at_level(logging.WARNING, logger="datapool"):
        publish(ahead, stand_ins, "late2")
    assert any("other large tables are not written ahead (OSError)" in m for m in caplog.messages)
    assert not list(tmp_path.glob(f".datapool-rows-*/{warehouse.LATE_DB}"))  # removed at once
    for table in ("source_record", "enterprise"):
        assert stored(ahead, table) == stored(direct, table), table


def test_a_column_adbc_would_bind_otherwise_is_refused_before_its_rows():
    import sqlalchemy as sa

    dialect = sa.create_engine("sqlite://").dialect
    ok = warehouse.arrow_bindable(wh.enterprise, enterprises(), dialect)
    assert ok is not None and ok.schema["status"] == pl.String  # categories as their text
    assert ok.schema["founded_on"] == pl.String  # dates as ISO text, as SQLAlchemy stores them
    assert ok.columns == enterprises().columns and ok.height == enterprises().height
    assert ok.get_column("observed_on").null_count() == ok.height  # Null under DATE: NULL text
    only_nulls = pl.DataFrame({"lon": [None] * 3, "founded_on": [None] * 3})
    assert warehouse.arrow_bindable(wh.enterprise, only_nulls, dialect).shape == (3, 2)
    odd = pl.DataFrame({"name": [object()]}, schema={"name": pl.Object})
    assert warehouse.arrow_bindable(wh.enterprise, odd, dialect) is None
