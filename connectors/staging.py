"""The month's biggest tables written ahead, on the other core, for a SQLite warehouse.

``source_record`` and ``enterprise_link`` (about two thirds of a month's rows) are final as
soon as matching is done, but publishing comes after validation, the member diff and visit
planning, which keep one core busy. :func:`start` hands their rows to a child process (a fresh
interpreter, ``python -m datapool.connectors.staging``; the frames go as Arrow IPC files) that
writes them into a SQLite file of its own beside the warehouse, with the same column
definitions and the values bound exactly as publishing binds them
(:func:`datapool.connectors.warehouse.arrow_bindable`; from Arrow, by ADBC's SQLite driver:
:func:`write_tables`), while the run goes on. Publishing then writes the month's other tables of
at least :data:`LATE_ROWS` rows the same way into a file of their own beside it, before its
transaction (:func:`datapool.connectors.warehouse._attach`), and copies them all inside the
month's one transaction with
``INSERT INTO t (...) SELECT ... FROM staged.t``: SQLite's own code, a tenth of the CPU of
binding the rows from Python.

Nothing about the warehouse changes: the same transaction, locks and values. :func:`start`
returns a stand-in for each table handed to the child: a frame without rows (its columns only),
so the run need not hold the month's biggest tables to the end. Publishing takes the staged rows
of a table only when it is handed that table's very stand-in (``is``); when
the child failed it says so in the log and writes the rows itself, the stand-ins' read back from
the Arrow files the child was handed. The staging files are removed
once publishing is over (or the run failed), and a child still running is stopped; those of a
run killed outright are removed by the next run (:mod:`datapool.scratch`).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from sqlalchemy.engine import make_url

from datapool import scratch

log = logging.getLogger("datapool")

EARLY_TABLES = ("source_record", "enterprise_link")  # the month's two biggest
DB_NAME = "rows.sqlite"
ROWS_PREFIX = ".datapool-rows-"  # the scratch folder beside the warehouse (datapool/scratch.py)
BATCH = 20_000  # rows handed to ADBC's driver at once (one Arrow slice)
# the month's other tables this large are written into the staging database too, by publishing
# before its transaction (connectors/warehouse._attach); smaller ones are bound in it directly
LATE_ROWS = 1_000
# rows read from an Arrow file at once, and the rows of each of its record batches: a slice
# that spans record batches reads them whole (at 100,000 rows a slice, with the files' batches
# of about 110,000, the writer's peak was 425 MB; at 20,000 rows in batches of 20,000, 195 MB)
READ_BATCH = 20_000


@dataclass
class Staged:
    """Rows a child writes (or wrote) into ``folder / rows.sqlite``; ``stand_ins`` are what
    :func:`start` returned for the tables it was handed (no rows), by table."""

    folder: Path
    stand_ins: dict[str, pl.DataFrame]
    proc: subprocess.Popen[bytes] | None
    started: float = field(default_factory=time.perf_counter)
    ok: bool | None = None  # None until waited for
    figures: dict[str, float] = field(default_factory=dict)

    @property
    def db(self) -> Path:
        """The staging database."""
        return self.folder / DB_NAME

    def wait(self) -> bool:
        """Wait for the child; True when every table was written (False for rows only parked:
        no child was started for them, see :func:`start`)."""
        if self.ok is None and self.proc is None:
            self.ok = False
        if self.ok is None:
            assert self.proc is not None
            out, _ = self.proc.communicate()
            self.ok = self.proc.returncode == 0
            if self.ok:
                with contextlib.suppress(ValueError):
                    self.figures = json.loads(out or b"{}")
                self.figures["seconds"] = time.perf_counter() - self.started
            else:
                log.warning(
                    "writing the month's rows ahead failed (exit code %s); publishing writes "
                    "them itself",
                    self.proc.returncode,
                )
        return self.ok

    def parked(self, tables: dict[str, pl.DataFrame]) -> dict[str, Path]:
        """The file of each table of ``tables`` that is a stand-in of rows no child wrote (it
        failed, or none was started): publishing reads its rows from there, a batch at a time."""
        return {
            name: self.folder / f"{name}.arrow"
            for name, df in tables.items()
            if self.stand_ins.get(name) is df
        }

    def remove(self) -> None:
        """Stop the child if it still runs and remove the staging files."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


_STAGED: dict[str, Staged] = {}  # by run id
_LOCK = threading.Lock()


def sqlite_file(url: str) -> Path | None:
    """The SQLite file of a warehouse URL; None for another database or an in-memory one."""
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - the warehouse reports a bad URL itself
        return None
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    if parsed.database == ":memory:" or parsed.database.startswith("file:"):
        return None
    return Path(parsed.database)


def batches(path: Path, rows: int = READ_BATCH) -> Iterator[pl.DataFrame]:
    """The rows of an Arrow file written by :func:`start`, ``rows`` at a time (never all held)."""
    scan = pl.scan_ipc(path)
    n = scan.select(pl.len()).collect().item()
    for offset in range(0, n, rows):
        yield scan.slice(offset, rows).collect()


def start(
    url: str,
    snapshot: str,
    run_id: str,
    frames: dict[str, pl.DataFrame],
    park_in: Path | None = None,
) -> dict[str, pl.DataFrame]:
    """Start writing ``frames`` (table -> the month's rows, without ``snapshot``) ahead for the
    run ``run_id`` when the warehouse is a SQLite file. Another warehouse (PostgreSQL: its COPY
    is the server's work, not the run's) writes nothing ahead, but with ``park_in`` the rows are
    *parked* there, in the same Arrow files, and read back by publishing: the run does not hold
    them through the stages between (about 1.2 GB of a 5.6M-row month's ``source_record``).

    Returns ``frames`` with a stand-in (no rows) for each table written ahead or parked: hand
    those to publishing and let the frames go (the child and, when it failed or none was
    started, publishing read the rows from the files they were written to). The frames
    themselves are not held here."""
    db = sqlite_file(url)
    ahead = {k: v for k, v in frames.items() if k in EARLY_TABLES and v.height}
    where = db.parent if db is not None else park_in
    if where is None or not ahead:
        return dict(frames)
    scratch.sweep(where, ROWS_PREFIX)  # what runs killed outright left here
    folder = where / scratch.owned_name(ROWS_PREFIX)
    stand_ins = {name: df.clear() for name, df in ahead.items()}
    staged = Staged(folder, stand_ins, None)
    try:
        folder.mkdir(parents=True)
        for name, df in ahead.items():
            df.write_ipc(folder / f"{name}.arrow", record_batch_size=READ_BATCH)
        if db is not None:
            staged.proc = subprocess.Popen(
                [sys.executable, "-m", "datapool.connectors.staging", str(folder), snapshot]
                + list(ahead),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                # a batch at a time: polars' pool of threads would hold memory and give nothing
                env={**os.environ, "POLARS_MAX_THREADS": "1"},
            )
    except OSError as exc:  # no room or no right to write there: publishing writes the rows
        log.warning("the month's rows are not written ahead: %s", type(exc).__name__)
        staged.remove()
        return dict(frames)
    with _LOCK:
        old = _STAGED.pop(run_id, None)
        _STAGED[run_id] = staged
    if old is not None:
        old.remove()
    return {**frames, **stand_ins}


def take(run_id: str) -> Staged | None:
    """The rows staged for ``run_id`` (publishing calls this once; it must :meth:`~Staged.remove`
    them when done)."""
    with _LOCK:
        return _STAGED.pop(run_id, None)


def drop(run_id: str) -> None:
    """Stop and remove what was staged for ``run_id`` (a run that failed before publishing)."""
    staged = take(run_id)
    if staged is not None:
        staged.remove()


@atexit.register
def _drop_all() -> None:
    with _LOCK:
        left = list(_STAGED.values())
        _STAGED.clear()
    for staged in left:
        staged.remove()


def write_tables(db: Path, snapshot: str, parts: dict[str, Iterable[pl.DataFrame]]) -> None:
    """Create each table of ``parts`` in the SQLite file ``db`` (the warehouse's column
    definitions) and write its parts' rows there, stamped ``snapshot``, in one transaction.

    The values are bound as publishing binds them (:func:`warehouse.arrow_bindable`), from Arrow
    by ADBC's SQLite driver: C, not a Python tuple per row (the 200k-enterprise month's
    ``enterprise`` table, 204k rows of 31 columns: 1.9 -> 0.6 s). The frames go to it through
    the Arrow C stream interface, with ADBC's driver manager itself (its DB-API layer would load
    pyarrow: 95 MB in the writer). A column of a type it could bind otherwise is a TypeError,
    raised before any of that table's rows is written; the file is scratch (no journal, no
    sync): the caller throws it away or stops using it on an error.
    """
    import adbc_driver_sqlite
    import sqlalchemy as sa
    from adbc_driver_manager import AdbcConnection, AdbcStatement

    from datapool.connectors import warehouse
    from datapool.schemas import warehouse as wh

    dialect = sa.create_engine("sqlite://").dialect
    with contextlib.ExitStack() as done:
        database = adbc_driver_sqlite.connect(str(db))
        done.callback(database.close)
        con = AdbcConnection(database)  # autocommit: the transaction is the BEGIN below
        done.callback(con.close)

        def run(sql: str) -> None:
            statement = AdbcStatement(con)
            try:
                statement.set_sql_query(sql)
                statement.execute_update()
            finally:
                statement.close()

        run("PRAGMA journal_mode=OFF")
        run("PRAGMA synchronous=OFF")
        run("BEGIN")
        for name, frames in parts.items():
            table = wh.metadata.tables[name]
            run(str(sa.schema.CreateTable(table).compile(dialect=dialect)))
            for part in frames:
                part = part.with_columns(pl.lit(snapshot).alias("snapshot"))
                cols = [c.name for c in table.columns if c.name in part.columns]
                data = warehouse.arrow_bindable(table, part.select(cols), dialect)
                if data is None:
                    raise TypeError(f"{name}: a column ADBC's driver would bind otherwise")
                for chunk in data.iter_slices(BATCH):
                    statement = AdbcStatement(con)
                    try:
                        statement.set_options(
                            **{
                                "adbc.ingest.target_table": name,
                                "adbc.ingest.mode": "adbc.ingest.mode.append",
                            }
                        )
                        statement.bind_stream(chunk.__arrow_c_stream__())
                        statement.execute_update()
                    finally:
                        statement.close()
        run("COMMIT")


def main() -> None:
    """The child: ``python -m datapool.connectors.staging FOLDER SNAPSHOT TABLE...``.

    Writes each table's rows from ``FOLDER/TABLE.arrow`` into ``FOLDER/rows.sqlite``
    (:func:`write_tables`, a batch at a time, as publishing reads parked rows) and prints its
    figures (CPU seconds, peak memory) as JSON. An error is reported by its kind only (its text
    may quote data) and exit code 1.
    """
    from datapool.child import exit_with_parent

    exit_with_parent()  # a run killed outright leaves no writer behind
    folder, snapshot, names = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    try:
        write_tables(
            folder / DB_NAME, snapshot, {name: batches(folder / f"{name}.arrow") for name in names}
        )
    except Exception as exc:  # noqa: BLE001 - its kind only: the text may quote data
        print(f"datapool: writing rows ahead failed: {type(exc).__name__}", file=sys.stderr)
        sys.exit(1)
    from datapool.stageclock import own_peak_bytes

    print(json.dumps({"cpu_seconds": time.process_time(), "peak_bytes": own_peak_bytes()}))


if __name__ == "__main__":
    main()
