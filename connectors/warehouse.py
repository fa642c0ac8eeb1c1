"""The warehouse writer and reader (SQLAlchemy Core; SQLite by default, PostgreSQL in production).

Idempotent per snapshot: :func:`publish` deletes the snapshot's rows from
every snapshot table, then inserts the new ones, in ONE transaction. Either
the whole month is visible or the previous state is. Writers of the same
warehouse are serialised: SQLite takes its write lock at BEGIN (``BEGIN
IMMEDIATE``), PostgreSQL an advisory transaction lock on the snapshot, so two
runs of one snapshot wait for each other and never interleave.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Required, TypedDict

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from datapool.connectors import staging
from datapool.errors import InputError, PublishRefused, SnapshotLocked, db_detail
from datapool.schemas import warehouse as wh
from datapool.settings import redact_url
from datapool.stageclock import record as record_stage

log = logging.getLogger("datapool")


def engine_for(url: str, lock_timeout: float = 600.0) -> sa.Engine:
    """Engine for the warehouse; creates the tables that are missing."""
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001
        raise InputError(
            f"warehouse URL is not a valid SQLAlchemy URL: {redact_url(url)}"
        ) from None
    try:
        engine = _create(parsed, lock_timeout)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        raise InputError(f"warehouse URL {redact_url(url)} cannot be used: {exc}") from None
    try:
        _create_tables(engine)
    except sa.exc.SQLAlchemyError as exc:
        raise InputError(
            f"warehouse {redact_url(url)} cannot be opened: {db_detail(exc)}"
        ) from None
    return engine


def _create_tables(engine: sa.Engine) -> None:
    """Create the missing tables and columns in one transaction.

    On PostgreSQL the transaction first takes an advisory lock of its own: two connections
    creating the same table at once (the flow opens the warehouse from tasks that run side by
    side) otherwise collide in the catalogue (``pg_type_typname_nsp_index``). SQLite serialises
    schema changes by itself.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK_KEY})
        wh.metadata.create_all(conn)
        _add_new_columns(conn)


def _add_new_columns(conn: sa.Connection) -> None:
    """Add the nullable columns a newer datapool defines to the tables of an older warehouse."""
    inspector = sa.inspect(conn)
    for table in wh.metadata.sorted_tables:
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for col in table.columns:
            if col.name not in have and col.nullable:
                kind = col.type.compile(dialect=conn.dialect)
                conn.exec_driver_sql(f'ALTER TABLE "{table.name}" ADD COLUMN "{col.name}" {kind}')


def _create(parsed: sa.URL, lock_timeout: float) -> sa.Engine:
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"timeout": lock_timeout})

        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _rec: Any) -> None:
            dbapi_conn.isolation_level = None  # let SQLAlchemy's BEGIN below rule

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: sa.Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        engine = sa.create_engine(parsed, pool_pre_ping=True)
    return engine


# One advisory lock for the whole warehouse: the months of one warehouse are published one at
# a time, since a month's ids and changes are read off the month before it.
_LOCK_KEY = int.from_bytes(hashlib.sha1(b"datapool:warehouse").digest()[:8], "big", signed=True)
_UNCHANGED = object()
# Another for creating and extending the tables (see _create_tables).
_SCHEMA_LOCK_KEY = int.from_bytes(
    hashlib.sha1(b"datapool:warehouse-schema").digest()[:8], "big", signed=True
)


class RunRecord(TypedDict, total=False):
    """A run as ``pipeline_run`` records it (``counts`` as JSON)."""

    run_id: Required[str]
    started_at: Required[datetime]
    status: Required[str]
    finished_at: datetime
    rows_in: int
    rows_accepted: int
    rows_quarantined: int
    counts: Mapping[str, Any]
    message: str


def publish(
    engine: sa.Engine,
    snapshot: str,
    tables: dict[str, pl.DataFrame],
    run: RunRecord,
    previous: str | None | object = _UNCHANGED,
    lock_timeout: float = 600.0,
    before_commit: Callable[[], object] | None = None,
) -> None:
    """Replace ``snapshot`` in every snapshot table and record the run, in one transaction.

    ``previous`` is the month the run read its crosswalk and coverage from (None: none): when
    another month before ``snapshot`` was published since, the run is refused, since its ids and
    changes were made against a stale month. On PostgreSQL the writers of one warehouse take an
    advisory lock, waiting at most ``lock_timeout`` seconds for it (SQLite's write lock waits as
    long, see :func:`engine_for`). ``before_commit`` is called inside the transaction after the
    last row, just before COMMIT; when it raises, the transaction is rolled back. Rows written
    ahead for the run (SQLite, :mod:`datapool.connectors.staging`) are copied from their scratch
    file inside the same transaction, when ``tables`` holds their stand-ins (their rows are read
    back from the files written for the child when it failed).
    """
    unknown = set(tables) - set(wh.SNAPSHOT_TABLES)
    if unknown:
        raise ValueError(f"not snapshot tables: {sorted(unknown)}")
    ahead = staging.take(run["run_id"])  # rows a child wrote ahead (SQLite; connectors/staging)
    try:
        with engine.connect() as conn:
            copied = _attach(conn, ahead, snapshot, tables)
            # the child failed, or rows were parked: read back from their files, in batches
            parked = ahead.parked(tables) if ahead is not None and not copied else {}
            try:
                with conn.begin():
                    _publish_in(conn, snapshot, tables, run, previous, lock_timeout, copied, parked)
                    if before_commit is not None:
                        before_commit()
            finally:
                for schema in sorted({schema for _, schema in copied.values()}):
                    try:
                        conn.connection.driver_connection.execute(  # type: ignore[union-attr]
                            f"DETACH DATABASE {schema}"
                        )
                    except Exception:  # noqa: BLE001 - never back to the pool still attached
                        conn.invalidate()
    except sa.exc.OperationalError as exc:
        if getattr(getattr(exc, "orig", None), "sqlstate", None) == "55P03":  # lock_not_available
            raise SnapshotLocked(
                f"warehouse is busy: another run held its lock for {lock_timeout:.0f} s; "
                f"snapshot {snapshot} was not published (try again, or raise the lock timeout)"
            ) from None
        raise PublishRefused(
            f"warehouse refused snapshot {snapshot}: {db_detail(exc)}; its previous state is intact"
        ) from None
    except sa.exc.SQLAlchemyError as exc:
        raise PublishRefused(
            f"warehouse refused snapshot {snapshot}: {db_detail(exc)}; its previous state is intact"
        ) from None
    finally:
        if ahead is not None:
            ahead.remove()


_AHEAD = "datapool_ahead"  # the schema name the rows written ahead are attached under
_LATE = "datapool_late"  # and the month's other large tables, written by publishing (_attach)
LATE_DB = "late.sqlite"  # their file, beside the rows written ahead
Copied = dict[str, tuple[pl.DataFrame, str]]  # table -> (the frame stood in for, its schema)


def _attach(
    conn: sa.Connection,
    ahead: staging.Staged | None,
    snapshot: str,
    tables: dict[str, pl.DataFrame],
) -> Copied:
    """Attach the rows written ahead (before the transaction: SQLite attaches no database inside
    one); returns, by table, the frame whose rows an attached database holds and that database's
    schema name: the stand-ins of the tables written ahead (:func:`staging.start`), and the
    month's other tables of at least ``staging.LATE_ROWS`` rows, written here first into a file
    of their own beside them (:func:`staging.write_tables`: bound from Arrow by ADBC's driver, a
    third of the CPU of binding them from Python). Empty when there are none to use. A table
    whose columns ADBC's driver could bind otherwise is not written there; when writing the
    others fails, their file is removed, never attached, and they are bound in the transaction
    as before."""
    if ahead is None or conn.dialect.name != "sqlite" or not ahead.wait():
        return {}
    raw = conn.connection.driver_connection
    raw.execute(f"ATTACH DATABASE ? AS {_AHEAD}", (str(ahead.db),))  # type: ignore[union-attr]
    copied: Copied = {name: (df, _AHEAD) for name, df in ahead.stand_ins.items()}
    fig = ahead.figures
    record_stage(
        "rows written ahead (beside the stages after matching, own process)",
        fig.get("seconds", 0.0),
        fig.get("cpu_seconds", 0.0),
        int(fig.get("peak_bytes", 0)),
    )
    stamp = pl.lit(snapshot).alias("snapshot")
    late = {
        name: df
        for name, df in tables.items()
        if df.height >= staging.LATE_ROWS
        and name not in ahead.stand_ins
        and arrow_bindable(wh.metadata.tables[name], df.clear().with_columns(stamp), conn.dialect)
        is not None
    }
    if not late:
        return copied
    db = ahead.folder / LATE_DB
    try:
        staging.write_tables(db, snapshot, {name: [df] for name, df in late.items()})
    except Exception as exc:  # noqa: BLE001 - its kind only: the text may quote data
        log.warning(
            "the month's other large tables are not written ahead (%s); publishing binds them "
            "itself",
            type(exc).__name__,
        )
        db.unlink(missing_ok=True)
        return copied
    raw.execute(f"ATTACH DATABASE ? AS {_LATE}", (str(db),))  # type: ignore[union-attr]
    return {**copied, **{name: (df, _LATE) for name, df in late.items()}}


def _publish_in(
    conn: sa.Connection,
    snapshot: str,
    tables: dict[str, pl.DataFrame],
    run: RunRecord,
    previous: str | None | object,
    lock_timeout: float,
    copied: Copied,
    parked: dict[str, Path] | None = None,
) -> None:
    """The month's transaction, up to its commit (see :func:`publish`). ``copied``: frames whose
    rows an attached staging database holds, with its schema name; ``parked``: the files of
    stand-ins' rows."""
    parked = parked or {}
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text("SELECT set_config('lock_timeout', :ms, true)"),
            {"ms": f"{int(lock_timeout * 1000)}ms"},
        )
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    if previous is not _UNCHANGED:
        now = _previous_in(conn, snapshot)
        if now != previous:
            raise PublishRefused(
                f"snapshot {snapshot} was built on {previous or 'no earlier month'}, but "
                f"{now} has been published since; run {snapshot} again"
            )
    if conn.dialect.name == "sqlite":  # the month's pages stay in memory until COMMIT
        conn.exec_driver_sql(f"PRAGMA cache_size=-{_SQLITE_CACHE_KIB}")
    for name in wh.SNAPSHOT_TABLES:
        table = wh.metadata.tables[name]
        conn.execute(table.delete().where(table.c.snapshot == snapshot))
        df = tables.get(name)
        hit = copied.get(name)  # the very frame whose rows were staged, and where
        ahead = hit[1] if df is not None and hit is not None and hit[0] is df else None
        if df is not None and (df.height or ahead or name in parked):
            stamp = pl.lit(snapshot).alias("snapshot")
            with _indexes_after_rows(conn, table):
                if ahead:
                    _insert(conn, table, df.with_columns(stamp), ahead=ahead)
                elif name in parked:
                    for part in staging.batches(parked[name]):
                        _insert(conn, table, part.with_columns(stamp))
                else:
                    _insert(conn, table, df.with_columns(stamp))
    conn.execute(wh.pipeline_run.insert(), [_run_row(snapshot, run)])


# rows handed to the database driver at once: bounds the Python objects alive during the write
INSERT_BATCH = 50_000
# SQLite's page cache while publishing (KiB): a month's index pages stay in memory until COMMIT
_SQLITE_CACHE_KIB = 64 * 1024


def _insert(
    conn: sa.Connection,
    table: sa.Table,
    df: pl.DataFrame,
    batch: int = INSERT_BATCH,
    ahead: str | None = None,
) -> None:
    """Write every row of ``df`` into ``table`` on ``conn`` (inside the month's transaction).

    SQLite: one INSERT prepared once and run by the driver's ``executemany`` over batches of
    plain tuples built column-wise from the frame (no per-row dicts or SQLAlchemy parameter
    processing). PostgreSQL through psycopg 3: ``COPY ... FROM STDIN`` in CSV that polars
    writes. Any other database: SQLAlchemy's executemany. The values stored are those
    SQLAlchemy's own insert would store (see :func:`_bindable`). ``ahead``: the schema name of
    the attached staging database the rows of ``df`` were written into (SQLite, :mod:`.staging`,
    bound the same way); they are copied from there by SQLite itself.
    """
    cols = [c.name for c in table.columns if c.name in df.columns]
    dialect = conn.dialect
    dbapi_error = dialect.loaded_dbapi.Error
    try:
        if ahead:  # INSERT INTO t (...) SELECT ... FROM staged.t, built by SQLAlchemy
            staged = sa.table(table.name, *(sa.column(c) for c in cols), schema=ahead)
            conn.execute(sa.insert(table).from_select(cols, sa.select(*staged.c)))
            return
        data = _bindable(table, df.select(cols), dialect)
        _write(conn, table, data, batch)
    except dbapi_error as exc:  # the driver's own error, as SQLAlchemy would have raised it
        raise sa.exc.DBAPIError.instance(
            f"INSERT INTO {table.name}", None, exc, dbapi_error
        ) from exc


def _write(conn: sa.Connection, table: sa.Table, data: pl.DataFrame, batch: int) -> None:
    dialect = conn.dialect
    if dialect.name == "sqlite":
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            _executemany(cursor, table.name, data, batch)
        finally:
            cursor.close()
    elif dialect.name == "postgresql" and dialect.driver == "psycopg":
        _copy(conn, table, data, batch)
    else:
        for chunk in data.iter_slices(batch):
            conn.execute(table.insert(), chunk.to_dicts())


def _executemany(cursor: Any, table: str, data: pl.DataFrame, batch: int) -> None:
    """SQLite: one INSERT prepared once, run over batches of tuples built column-wise."""
    names = ", ".join(f'"{c}"' for c in data.columns)
    sql = f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(data.columns))})'
    for chunk in data.iter_slices(batch):
        values = [s.to_list() for s in chunk.iter_columns()]
        cursor.executemany(sql, zip(*values, strict=True))


def _copy(conn: sa.Connection, table: sa.Table, data: pl.DataFrame, batch: int) -> None:
    """PostgreSQL: the rows as CSV through psycopg's COPY, in batches of ``batch`` rows.

    Every text is quoted (``non_numeric``), a null is an unquoted empty field: COPY reads the
    first as the text (``""`` is an empty string) and the second as NULL, and a quoted ``\\.``
    is never the end-of-data marker.
    """
    names = ", ".join(f'"{c}"' for c in data.columns)
    sql = f"COPY \"{table.name}\" ({names}) FROM STDIN WITH (FORMAT csv, ENCODING 'UTF8')"
    raw = conn.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
        for chunk in data.iter_slices(batch):
            copy.write(
                chunk.write_csv(include_header=False, quote_style="non_numeric").encode("utf-8")
            )


def _bindable(table: sa.Table, data: pl.DataFrame, dialect: sa.Dialect) -> pl.DataFrame:
    """``data`` with each column as SQLAlchemy's insert would bind it on ``dialect``.

    A Float column is bound as floats (SQLAlchemy's SQLite Float turns an integer into a float:
    stored REAL, not INTEGER), an Integer column holding floats as integers, and on SQLite a
    Date as its ISO text (what SQLAlchemy's SQLite DATE stores). A column whose type has another
    bind processor goes through that processor, value by value (no table of the month has one).
    """
    out = []
    for name in data.columns:
        col, s = table.c[name], data.get_column(name)
        kind = col.type
        if isinstance(kind, sa.Float) and s.dtype.is_numeric():
            s = s.cast(pl.Float64)
        elif isinstance(kind, sa.Integer) and s.dtype.is_float():
            s = s.cast(pl.Int64)
        elif isinstance(kind, sa.Date) and not isinstance(kind, sa.DateTime) and s.dtype == pl.Date:
            if dialect.name == "sqlite":
                s = s.dt.strftime("%Y-%m-%d")
        elif isinstance(kind, sa.Boolean) and s.dtype == pl.Boolean:
            pass  # True/False: stored as SQLAlchemy stores them (SQLite 1/0, PostgreSQL boolean)
        else:
            process = kind.dialect_impl(dialect).bind_processor(dialect)
            if process is not None and dialect.name == "sqlite":
                s = pl.Series(name, [process(v) for v in s.to_list()], dtype=pl.Object)
        out.append(s)
    return pl.DataFrame(out)


# the column types ADBC's SQLite driver binds as the sqlite3 module binds the Python values polars
# gives for them (text, integer, real, NULL; booleans as 1 and 0)
_ARROW_SAFE = (
    pl.String,
    pl.Boolean,
    pl.Int8,
    pl.Int16,
    pl.Int32,
    pl.Int64,
    pl.UInt8,
    pl.UInt16,
    pl.UInt32,
    pl.Float32,
    pl.Float64,
)


def arrow_bindable(table: sa.Table, data: pl.DataFrame, dialect: sa.Dialect) -> pl.DataFrame | None:
    """:func:`_bindable`'s columns, for ADBC's SQLite driver to bind from Arrow (categories as
    their text, a column of nulls only as text); None when a column's type could be bound
    otherwise than the sqlite3 module binds its Python values (then its rows are bound from
    Python, :func:`_executemany`)."""
    # a column of nulls only binds NULL whatever its SQL type (every bind processor passes None
    # through): it goes as null text (polars hands a Null column over with a buffer the driver
    # does not expect, and a processor would make it Python objects)
    nulls = [n for n, t in data.schema.items() if t == pl.Null]
    out = _bindable(table, data.drop(nulls), dialect).with_columns(
        pl.col(n).cast(pl.String)
        for n, t in data.schema.items()
        if t == pl.Categorical or isinstance(t, pl.Enum)
    )
    fill = [pl.Series(n, [None] * data.height, dtype=pl.String) for n in nulls]
    out = (out.hstack(fill) if out.width else pl.DataFrame(fill)).select(data.columns)
    return out if all(t in _ARROW_SAFE for t in out.schema.values()) else None


@contextlib.contextmanager
def _indexes_after_rows(conn: sa.Connection, table: sa.Table) -> Iterator[None]:
    """Drop ``table``'s indexes while the rows go in and create them after, when the table holds
    no other month (a first publish): an index built over the rows at once is cheaper than one
    kept up to date row by row. A table holding other months keeps its indexes (rebuilding them
    over every month would cost more than it saves). Both are inside the month's transaction.
    """
    alone = conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first() is None
    indexes = sorted(table.indexes, key=lambda ix: str(ix.name)) if alone else []
    for index in indexes:
        index.drop(conn, checkfirst=True)
    yield
    for index in indexes:
        index.create(conn)


def _run_row(snapshot: str, run: RunRecord) -> dict[str, Any]:
    return {
        "snapshot": snapshot,
        "run_id": run["run_id"],
        "started_at": run["started_at"],
        "finished_at": run.get("finished_at") or datetime.now(),
        "status": run["status"],
        "rows_in": run.get("rows_in"),
        "rows_accepted": run.get("rows_accepted"),
        "rows_quarantined": run.get("rows_quarantined"),
        "counts": json.dumps(run.get("counts", {}), ensure_ascii=False, sort_keys=True),
        "message": run.get("message"),
    }


def record_failure(engine: sa.Engine, snapshot: str, run: RunRecord) -> None:
    """Log a failed run in ``pipeline_run`` (no snapshot data changes)."""
    try:
        with engine.begin() as conn:
            conn.execute(
                wh.pipeline_run.insert(), [_run_row(snapshot, {**run, "status": "failed"})]
            )
    except sa.exc.SQLAlchemyError:
        pass  # the warehouse itself is the problem; the CLI reports the original error


def published_snapshots(engine: sa.Engine) -> set[str]:
    """Snapshots with a successful run in the warehouse."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(wh.pipeline_run.c.snapshot)
            .where(wh.pipeline_run.c.status == "success")
            .distinct()
        )
        return {r[0] for r in rows}


def read_table(engine: sa.Engine, name: str, snapshot: str) -> pl.DataFrame:
    """One snapshot of one table, as polars."""
    table = wh.metadata.tables[name]
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(table).where(table.c.snapshot == snapshot).order_by(*table.columns)
        ).all()
    return pl.DataFrame(
        [tuple(r) for r in rows],
        schema=[c.name for c in table.columns],
        orient="row",
        infer_schema_length=None,
    )


def first_seen(engine: sa.Engine, snapshot: str) -> pl.DataFrame:
    """``enterprise_id, first_seen``: the first month each id of ``snapshot`` was published in."""
    e = wh.enterprise
    ids = sa.select(e.c.enterprise_id).where(e.c.snapshot == snapshot)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(e.c.enterprise_id, sa.func.min(e.c.snapshot))
            .where(e.c.snapshot <= snapshot, e.c.enterprise_id.in_(ids))
            .group_by(e.c.enterprise_id)
        ).all()
    return pl.DataFrame(
        [tuple(r) for r in rows],
        schema={"enterprise_id": pl.Utf8, "first_seen": pl.Utf8},
        orient="row",
    )


def previous_snapshot(engine: sa.Engine, snapshot: str) -> str | None:
    """The latest successfully published snapshot before ``snapshot``."""
    with engine.connect() as conn:
        return _previous_in(conn, snapshot)


def latest_runs(engine: sa.Engine) -> list[dict[str, Any]]:
    """The latest successful run of every published snapshot, oldest month first.

    Each dict holds ``snapshot``, ``started_at``, ``finished_at``, ``counts`` (parsed) and, when
    the run recorded it, ``built_on``: the previous month it took ids and coverage from.
    """
    t = wh.pipeline_run
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.c.snapshot, t.c.started_at, t.c.finished_at, t.c.counts)
            .where(t.c.status == "success")
            .order_by(t.c.snapshot, t.c.finished_at)
        ).all()
    latest: dict[str, dict[str, Any]] = {}
    for snapshot, started, finished, counts in rows:
        try:
            parsed = json.loads(counts or "{}")
        except ValueError:
            parsed = {}
        run = {
            "snapshot": snapshot,
            "started_at": started,
            "finished_at": finished,
            "counts": parsed,
        }
        if "built_on" in parsed:
            run["built_on"] = parsed["built_on"]
        latest[snapshot] = run
    return [latest[s] for s in sorted(latest)]


def source_baseline(engine: sa.Engine, snapshot: str) -> tuple[str, bool, dict[str, int]] | None:
    """Accepted rows per source of the run ``snapshot`` is compared with.

    That is the last published run of ``snapshot`` itself, else of the latest published month
    before it; None when neither exists. Returns ``(month, same_month, {source: accepted})``.
    """
    runs = {r["snapshot"]: r for r in latest_runs(engine)}
    month = snapshot if snapshot in runs else previous_snapshot(engine, snapshot)
    if month is None:
        return None
    files = runs[month]["counts"].get("files") or {}
    accepted = {s: int(f.get("accepted") or 0) for s, f in files.items() if isinstance(f, dict)}
    return month, month == snapshot, accepted


def _previous_in(conn: sa.Connection, snapshot: str) -> str | None:
    return conn.execute(
        sa.select(sa.func.max(wh.pipeline_run.c.snapshot)).where(
            wh.pipeline_run.c.snapshot < snapshot, wh.pipeline_run.c.status == "success"
        )
    ).scalar()


def describe_url(url: str) -> str:
    """The warehouse for messages: a SQLite file's absolute path, else the URL without password."""
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001
        return redact_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        return f"{Path(parsed.database).resolve()} (SQLite)"
    return redact_url(url)


def open_existing(url: str) -> sa.Engine:
    """A read-only engine on an existing warehouse; creates nothing (not even a SQLite file).

    Raises InputError naming where it looked when there is no warehouse there.
    """
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001
        raise InputError(
            f"warehouse URL is not a valid SQLAlchemy URL: {redact_url(url)}"
        ) from None
    where = describe_url(url)
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if not db or db == ":memory:" or not Path(db).is_file():
            raise InputError(
                f"no warehouse at {where}: looked there; run `datapool run` first or pass "
                "--warehouse-url / --out"
            )
        engine = sa.create_engine(f"sqlite:///file:{Path(db).resolve()}?mode=ro&uri=true")
    else:
        try:
            engine = sa.create_engine(parsed, pool_pre_ping=True)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
            raise InputError(f"warehouse URL {where} cannot be used: {exc}") from None
    try:
        tables = set(sa.inspect(engine).get_table_names())
    except sa.exc.SQLAlchemyError as exc:
        raise InputError(f"warehouse {where} cannot be opened: {db_detail(exc)}") from None
    if "enterprise" not in tables:
        raise InputError(f"{where} holds no datapool warehouse (no enterprise table)")
    return engine
