"""``datapool`` as the console runs it, except that publishing stops half-way and waits.

Usage: ``python publish_then_hang.py MARKER datapool-args...``. The first insert into the
warehouse runs inside the publishing transaction; then MARKER is written (JSON: the table, whether
the connection is inside a transaction, and the rows of the month that connection sees in the
table) and the process sleeps until it is killed. tests/test_faults.py uses it to kill a run at a
known point inside publishing.
"""

from __future__ import annotations

import json
import os
import sys
import time

import sqlalchemy as sa

from datapool import cli
from datapool.connectors import warehouse


def main() -> None:
    marker, args = sys.argv[1], sys.argv[2:]
    real = warehouse._insert

    def insert_then_hang(conn: sa.Connection, table: sa.Table, df, *rest, **kw) -> None:  # noqa: ANN001
        real(conn, table, df, *rest, **kw)
        month = args[args.index("--snapshot") + 1]
        inserted = df.height
        if kw.get("ahead"):  # a stand-in: its rows were copied from the file written ahead
            inserted = conn.execute(
                sa.text(f'SELECT count(*) FROM {warehouse._AHEAD}."{table.name}"')
            ).scalar()
        seen = conn.execute(
            sa.select(sa.func.count()).select_from(table).where(table.c.snapshot == month)
        ).scalar()
        state = {
            "table": table.name,
            "in_transaction": conn.in_transaction(),
            "rows_seen": seen,
            "rows_inserted": inserted,
        }
        with open(marker + ".tmp", "w") as f:
            json.dump(state, f)
        os.replace(marker + ".tmp", marker)
        while True:
            time.sleep(60)

    warehouse._insert = insert_then_hang
    sys.argv = ["datapool", *args]
    cli.main()


if __name__ == "__main__":
    main()
