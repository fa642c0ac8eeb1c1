"""The union member database, opened strictly read-only.

Only non-personal columns are ever selected: a member's name, ID number and
phone are never read into the pipeline, so they cannot reach an output.

A large database is read in a process of its own (:func:`read_members_beside`): making Python
rows of it holds the interpreter lock (about 2 s for the 200k-enterprise month's 560k members),
which the run's process needs meanwhile for the agency exports. The helper is a fresh
interpreter (``python -m datapool.connectors.members``, :mod:`datapool.child`); the URL goes on
its standard input, never its command line, and the two frames come back on its standard output.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from datapool.child import OneJobProcesses, serve
from datapool.errors import InputError, db_detail
from datapool.settings import redact_url
from datapool.stageclock import own_peak_bytes
from datapool.stageclock import record as record_stage

ORG_COLUMNS = (
    "union_id",
    "union_name",
    "union_uscc",
    "union_kind",
    "unit_name",
    "unit_uscc",
    "founded_on",
    "status",
)
# never name / id_number / phone
MEMBER_COLUMNS = (
    "member_id",
    "union_id",
    "employer_name",
    "joined_on",
    "status",
)


def readonly_engine(url: str) -> sa.Engine:
    """An engine that cannot write: SQLite ``mode=ro``; PostgreSQL read-only sessions.

    A SQLite file that does not exist is an error (sqlite would create it).
    """
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - SQLAlchemy raises several kinds for bad URLs
        raise InputError(
            f"member database URL is not a valid SQLAlchemy URL: {redact_url(url)}"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        if not parsed.database or not path.is_file():
            raise InputError(f"member database {path} does not exist")
        return sa.create_engine(f"sqlite:///file:{path.resolve()}?mode=ro&uri=true")
    try:
        engine = sa.create_engine(parsed, pool_pre_ping=True)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise InputError(f"member database URL {redact_url(url)} cannot be used: {exc}") from None

    @sa.event.listens_for(engine, "connect")
    def _readonly(dbapi_conn: Any, _record: object) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        cur.close()
        dbapi_conn.commit()

    return engine


BESIDE_BYTES = 32 * 2**20  # a SQLite member database this large is read in a process of its own
WHAT = "the member database's reader"
_READERS = OneJobProcesses("datapool.connectors.members", WHAT)


def read_members_beside(
    url: str, beside_bytes: int = BESIDE_BYTES
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """:func:`read_members`, in a process of its own when the database is large: a SQLite file of
    at least ``beside_bytes``, or a server's database (its size is not known ahead). The frames
    and errors are :func:`read_members`' own (an InputError is raised here as the helper raised
    it)."""
    if not _large(url, beside_bytes):
        return read_members(url)
    (orgs, members, cpu, peak), wall = _READERS.ask(Path(f"members-{uuid.uuid4().hex}"), url)
    record_stage("member database read (beside reading, own process)", wall, cpu, peak)
    return orgs, members


def _large(url: str, beside_bytes: int) -> bool:
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - read_members says what is wrong with it
        return False
    if parsed.get_backend_name() != "sqlite":
        return True
    try:
        return Path(parsed.database or "").stat().st_size >= beside_bytes
    except (OSError, ValueError):
        return False  # read_members says it does not exist


def read_members(url: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read ``union_org`` and the non-personal columns of ``union_member``."""
    engine = readonly_engine(url)
    try:
        with engine.connect() as conn:
            present = set(sa.inspect(conn).get_table_names())
            for name in ("union_org", "union_member"):
                if name not in present:
                    raise InputError(f"member database {redact_url(url)} has no table '{name}'")
            meta = sa.MetaData()
            meta.reflect(conn, only=["union_org", "union_member"])
            orgs = _select(conn, meta.tables["union_org"], ORG_COLUMNS, url)
            members = _select(conn, meta.tables["union_member"], MEMBER_COLUMNS, url)
    except sa.exc.SQLAlchemyError as exc:
        raise InputError(
            f"member database {redact_url(url)} cannot be read: {db_detail(exc)}"
        ) from None
    finally:
        engine.dispose()
    return orgs, members


def _select(
    conn: sa.Connection, table: sa.Table, columns: tuple[str, ...], url: str
) -> pl.DataFrame:
    missing = [c for c in columns if c not in table.c]
    if missing:
        raise InputError(
            f"member database {redact_url(url)}: table {table.name} lacks column '{missing[0]}'"
        )
    result = conn.execution_options(stream_results=True).execute(
        sa.select(*[table.c[c] for c in columns]).order_by(table.c[columns[0]])
    )
    # a batch of rows at a time: the whole table's rows as Python tuples, beside the frame made
    # of them, were the peak of reading at 5.6M rows (the records read meanwhile)
    parts = [_frame(batch, columns) for batch in result.partitions(ROW_BATCH)]
    return pl.concat(parts, rechunk=True) if parts else _frame([], columns)


ROW_BATCH = 100_000  # rows of the member database made into a frame at a time


def _frame(rows: Sequence[sa.Row[Any]], columns: tuple[str, ...]) -> pl.DataFrame:
    """Rows as a frame of text columns."""
    return pl.DataFrame([tuple(r) for r in rows], schema=list(columns), orient="row").with_columns(
        [pl.col(c).cast(pl.Utf8) for c in columns]
    )


def main() -> None:
    """The reader process: wait for a URL on standard input, answer with the two frames on
    standard output (:func:`datapool.child.serve`; row tuples and no cycles: no cyclic
    collector)."""
    serve(lambda: None, _child, WHAT, collect=False)


def _child(url: str) -> tuple[pl.DataFrame, pl.DataFrame, float, int]:
    """In the helper: the two frames, and its CPU seconds (imports included) and peak memory."""
    orgs, members = read_members(url)
    return orgs, members, time.process_time(), own_peak_bytes()


if __name__ == "__main__":
    main()
