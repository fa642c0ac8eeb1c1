from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import PACKAGE_DIRS, ROOT

from datapool.connectors.members import read_members, read_members_beside, readonly_engine
from datapool.errors import InputError


def test_ruff_clean():
    beside = Path(sys.executable).parent / "ruff"
    exe = str(beside) if beside.exists() else shutil.which("ruff")
    if exe is None:
        pytest.skip("ruff not installed")
    r = subprocess.run(
        [exe, "check", *PACKAGE_DIRS, "tests"], cwd=ROOT, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout


def test_mypy_strict():
    # the package as it imports, with pyproject's [tool.mypy] (strict); see tests/typecheck.py
    import importlib.util

    if importlib.util.find_spec("mypy") is None:
        if os.environ.get("CI"):
            pytest.fail("mypy is not installed; the dev extras bring it")
        pytest.skip("mypy not installed (pip install -e '.[dev]')")
    from typecheck import run

    code, report = run()
    assert code == 0, report


def test_member_database_is_opened_read_only(tmp_path, samples):
    db = tmp_path / "m.sqlite"
    shutil.copy(samples / "members.sqlite", db)
    engine = readonly_engine(f"sqlite:///{db}")
    with engine.connect() as conn, pytest.raises(sa.exc.OperationalError, match="readonly"):
        conn.execute(sa.text("DELETE FROM union_member"))
    orgs, members = read_members(f"sqlite:///{db}")
    assert set(members.columns) == {"member_id", "union_id", "employer_name", "joined_on", "status"}
    assert (
        sqlite3.connect(db).execute("SELECT count(*) FROM union_member").fetchone()[0]
        == members.height
    )


def test_a_large_member_database_is_read_in_a_process_of_its_own(tmp_path, samples):
    # the samples' database counted as large: read by the helper, the same frames come back
    url = f"sqlite:///{samples / 'members.sqlite'}"
    in_place, beside = read_members(url), read_members_beside(url, beside_bytes=0)
    for a, b in zip(in_place, beside, strict=True):
        assert a.equals(b) and a.schema == b.schema
    # the helper's errors are the ones read_members raises, raised here
    db = tmp_path / "m.sqlite"
    shutil.copy(samples / "members.sqlite", db)
    with sqlite3.connect(db) as con:
        con.execute("DROP TABLE union_member")
    with pytest.raises(InputError, match="has no table 'union_member'"):
        read_members_beside(f"sqlite:///{db}", beside_bytes=0)
    with pytest.raises(InputError, match="does not exist"):  # checked in place: no helper
        read_members_beside(f"sqlite:///{tmp_path / 'none.sqlite'}", beside_bytes=0)
    assert not (tmp_path / "none.sqlite").exists()


def test_missing_member_database_is_never_created(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_members(f"sqlite:///{tmp_path / 'none.sqlite'}")
    assert not (tmp_path / "none.sqlite").exists()


def test_postgres_member_database_read_only(pg_url):
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE IF NOT EXISTS union_org (union_id text, union_name text, "
                "union_uscc text, union_kind text, unit_name text, unit_uscc text, "
                "founded_on text, status text)"
            )
        )
        conn.execute(
            sa.text(
                "CREATE TABLE IF NOT EXISTS union_member (member_id text, union_id text, "
                "employer_name text, name text, id_number text, phone text, joined_on text, "
                "status text)"
            )
        )
    ro = readonly_engine(pg_url)
    with ro.connect() as conn, pytest.raises(sa.exc.SQLAlchemyError, match="read-only"):
        conn.execute(sa.text("INSERT INTO union_org (union_id) VALUES ('x')"))
    orgs, members = read_members(pg_url)
    assert orgs.height == 0 and "name" not in members.columns
