"""Bulk publishing (SQLite executemany of tuples, PostgreSQL COPY) stores exactly what SQLAlchemy's
own insert stores, on both databases; indexes are built after a first month's rows and kept
otherwise; a failing ``before_commit`` publishes nothing."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime

import polars as pl
import pytest
import sqlalchemy as sa

from datapool.connectors import warehouse
from datapool.schemas import warehouse as wh

# hostile and awkward text: empty vs null, quotes, separators, line breaks, COPY's end marker,
# backslashes, CJK, a formula, HTML
TEXTS = [
    "",
    None,
    'say "hi", then',
    "line\nbreak\r\nand\ttab",
    "\\.",
    "back\\slash\\N",
    "赣州市赣县区宏达建材有限公司",
    '=HYPERLINK("x")',
    "<b>&amp;</b>",
    "  spaces  ",
]
N = len(TEXTS)


def records() -> pl.DataFrame:
    """source_record rows with every kind of column: text, int, bool, date, float."""
    return pl.DataFrame(
        {
            "source": ["tax_registry"] * N,
            "source_row": list(range(1, N + 1)),
            "source_key": [f"k{i}" for i in range(N)],
            "uscc": [None, "91360721MA0000001X", *[None] * (N - 2)],
            "uscc_valid": [True, False, None, *[True] * (N - 3)],
            "name": TEXTS,
            "address": list(reversed(TEXTS)),
            "headcount": [0, None, 26, 10**6, *range(N - 4)],
            "founded_on": [date(2019, 3, 5), None, date(1, 1, 1), *[date(2024, 12, 31)] * (N - 3)],
            "lon": [1 / 3, None, -0.0, 1e-300, 114.9, *[2.5] * (N - 5)],
            # an integer column bound to a Float column is stored as floats, as SQLAlchemy does
            "lat": pl.Series([25, None, 3, *range(N - 3)], dtype=pl.Int64),
            "extra": ['{"主管税务所": "梅林"}', *[None] * (N - 1)],
        }
    )


def publish(url: str, snapshot: str, df: pl.DataFrame, **kw: object) -> sa.Engine:
    engine = warehouse.engine_for(url)
    run = {"run_id": "t", "started_at": datetime(2025, 1, 1), "status": "success"}
    warehouse.publish(engine, snapshot, {"source_record": df}, run, **kw)  # type: ignore[arg-type]
    return engine


@pytest.fixture()
def pg(pg_url):
    engine = sa.create_engine(pg_url)
    wh.metadata.drop_all(engine)
    engine.dispose()
    return pg_url


def test_sqlite_bulk_insert_stores_what_sqlalchemy_stores(tmp_path):
    fast = tmp_path / "fast.sqlite"
    publish(f"sqlite:///{fast}", "2025-05", records())
    # the reference: SQLAlchemy's own executemany of dicts
    ref = tmp_path / "ref.sqlite"
    engine = warehouse.engine_for(f"sqlite:///{ref}")
    with engine.begin() as conn:
        conn.execute(
            wh.source_record.insert(),
            records().with_columns(pl.lit("2025-05").alias("snapshot")).to_dicts(),
        )
    cols = ", ".join(f"{c}, typeof({c})" for c in wh.source_record.columns.keys())
    query = f"SELECT {cols} FROM source_record ORDER BY source_row"
    got = sqlite3.connect(fast).execute(query).fetchall()
    want = sqlite3.connect(ref).execute(query).fetchall()
    assert got == want
    assert len(got) == N


def test_postgres_copy_and_sqlite_publish_the_same_rows(tmp_path, pg):
    lite = publish(f"sqlite:///{tmp_path / 'w.sqlite'}", "2025-05", records())
    post = publish(pg, "2025-05", records())
    a = warehouse.read_table(lite, "source_record", "2025-05")
    b = warehouse.read_table(post, "source_record", "2025-05")
    assert a.height == b.height == N
    assert a.equals(b), (a, b)
    names = b.sort("source_row").get_column("name").to_list()
    assert names == TEXTS  # "" stays empty, None stays NULL, "\." and line breaks come back


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_indexes_after_the_first_month_and_kept_after(db, tmp_path, request):
    url = f"sqlite:///{tmp_path / 'w.sqlite'}" if db == "sqlite" else request.getfixturevalue("pg")
    engine = publish(url, "2025-05", records())

    def indexes() -> set[str]:
        return {str(ix["name"]) for ix in sa.inspect(engine).get_indexes("source_record")}

    want = {str(ix.name) for ix in wh.source_record.indexes}
    assert want and indexes() == want
    publish(url, "2025-06", records())  # a second month: indexes kept while its rows go in
    publish(url, "2025-05", records().head(3))  # a re-run replaces the month only
    assert indexes() == want
    assert warehouse.read_table(engine, "source_record", "2025-05").height == 3
    assert warehouse.read_table(engine, "source_record", "2025-06").height == N


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_failing_before_commit_publishes_nothing(db, tmp_path, request):
    url = f"sqlite:///{tmp_path / 'w.sqlite'}" if db == "sqlite" else request.getfixturevalue("pg")
    engine = publish(url, "2025-05", records())

    def files_failed() -> None:
        raise OSError("disk full while writing the visit sheets")

    with pytest.raises(OSError, match="disk full"):
        publish(url, "2025-05", records().head(2), before_commit=files_failed)
    assert warehouse.read_table(engine, "source_record", "2025-05").height == N
    assert {str(ix["name"]) for ix in sa.inspect(engine).get_indexes("source_record")} == {
        str(ix.name) for ix in wh.source_record.indexes
    }
