"""Validation in a process of its own (datapool/validation_process.py): the same results, Data
Docs and failures as in place; a checker the run gives up on is stopped."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import pytest

from datapool import stageclock, validation_process
from datapool.errors import ValidationFailed
from datapool.stages import validate


def test_results_and_docs_are_those_of_validation_in_place(resolved, tmp_path):
    ing, res = resolved["2025-05"]
    in_place = validate(ing, res, tmp_path / "here")
    docs = tmp_path / "there"
    validation_process.start(docs)
    assert validation_process.started(docs)
    with stageclock.measuring() as clock:
        beside = validate(ing, res, docs)
    assert not validation_process.started(docs)  # done: its process has ended
    assert beside.equals(in_place)
    assert (docs / "index.html").is_file()
    pages = {p.relative_to(docs).as_posix() for p in docs.rglob("*.html")}
    assert len(pages) == len(
        {p.relative_to(tmp_path / "here") for p in (tmp_path / "here").rglob("*.html")}
    )
    (row,) = [s for s in clock.stages if s.name.startswith("validation")]
    assert "own process" in row.name and row.cpu_seconds > 0 and row.peak_bytes > 0


def test_a_critical_failure_in_the_process_is_raised_as_in_place(resolved, tmp_path):
    ing, res = resolved["2025-05"]
    bad = replace(res, enterprises=pl.concat([res.enterprises, res.enterprises.head(1)]))
    with pytest.raises(ValidationFailed) as here:
        validate(ing, bad, tmp_path / "here")
    validation_process.start(tmp_path / "there")
    with pytest.raises(ValidationFailed) as there:
        validate(ing, bad, tmp_path / "there")
    assert str(there.value) == str(here.value)
    assert "enterprise_id" in str(there.value)


def test_a_checker_given_no_job_is_stopped(tmp_path):
    docs = tmp_path / "docs"
    validation_process.start(docs)
    (proc,) = [p for d, p in validation_process._CHECKERS.procs.items() if d == docs]
    validation_process.stop(docs)
    assert proc.poll() is not None
    assert not validation_process.started(docs)
    validation_process.stop(docs)  # twice: nothing to do
