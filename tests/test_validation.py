"""Each critical expectation, broken on purpose, stops the snapshot; warnings are only recorded."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import polars as pl
import pytest

from datapool.errors import ValidationFailed
from datapool.settings import Settings
from datapool.stages import validate


def _dup_enterprise(ing, res):
    return ing, replace(res, enterprises=pl.concat([res.enterprises, res.enterprises.head(1)]))


def _null_enterprise_id(ing, res):
    e = res.enterprises.with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(None)
        .otherwise(pl.col("enterprise_id"))
        .alias("enterprise_id")
    )
    return ing, replace(res, enterprises=e)


def _two_valid_usccs(ing, res):
    std = res.std.filter(pl.col("uscc_valid").fill_null(False))
    a, b = std.row(0, named=True), std.filter(pl.col("uscc") != std["uscc"][0]).row(0, named=True)
    first = res.links.filter(
        (pl.col("source") == a["source"]) & (pl.col("source_row") == a["source_row"])
    )["enterprise_id"][0]
    links = res.links.with_columns(
        pl.when((pl.col("source") == b["source"]) & (pl.col("source_row") == b["source_row"]))
        .then(pl.lit(first))
        .otherwise(pl.col("enterprise_id"))
        .alias("enterprise_id")
    )
    return ing, replace(res, links=links)


def _negative_pool_headcount(ing, res):
    return ing, replace(
        res, enterprises=res.enterprises.with_columns(pl.lit(-1, pl.Int64).alias("headcount"))
    )


def _bad_headcount_source(ing, res):
    return ing, replace(
        res, enterprises=res.enterprises.with_columns(pl.lit("guess").alias("headcount_source"))
    )


def _null_active(ing, res):
    return ing, replace(
        res, enterprises=res.enterprises.with_columns(pl.lit(None, pl.Boolean).alias("active"))
    )


def _row_linked_twice(ing, res):
    return ing, replace(res, links=pl.concat([res.links, res.links.head(1)]))


def _row_not_linked(ing, res):
    return ing, replace(res, links=res.links.slice(1))


def _unlinked_enterprise_id(ing, res):
    return ing, replace(
        res, links=res.links.with_columns(pl.lit(None, pl.Utf8).alias("enterprise_id"))
    )


def _unbalanced_accounting(ing, res):
    files = {k: dict(v) for k, v in ing.files.items()}
    files["tax_registry"]["rows_in"] += 1
    return replace(ing, files=files), res


def _source_row_duplicated(ing, res):
    return replace(ing, records=pl.concat([ing.records, ing.records.head(1)])), res


def _source_blank_name(ing, res):
    return replace(ing, records=ing.records.with_columns(pl.lit(None, pl.Utf8).alias("name"))), res


def _source_negative_headcount(ing, res):
    return replace(
        ing, records=ing.records.with_columns(pl.lit(-5, pl.Int64).alias("headcount"))
    ), res


BREAKS = {
    "enterprise_id unique": (
        _dup_enterprise,
        "ExpectColumnValuesToBeUnique|expect_column_values_to_be_unique",
    ),
    "enterprise_id not null": (_null_enterprise_id, "not_be_null"),
    "one valid uscc per enterprise": (_two_valid_usccs, "valid_usccs"),
    "pool headcount >= 0": (_negative_pool_headcount, "headcount"),
    "headcount source known": (_bad_headcount_source, "headcount_source"),
    "active known": (_null_active, "active"),
    "row linked once": (_row_linked_twice, "row_key"),
    "every row linked": (_row_not_linked, "row_count"),
    "links carry ids": (_unlinked_enterprise_id, "enterprise_id"),
    "rows_in = accepted + quarantined": (_unbalanced_accounting, "balanced"),
    "source_row unique": (_source_row_duplicated, "source_row"),
    "name present": (_source_blank_name, "name"),
    "source headcount >= 0": (_source_negative_headcount, "headcount"),
}


@pytest.mark.parametrize("sampled", [False, True], ids=["every row", "sampled"])
@pytest.mark.parametrize("case", sorted(BREAKS))
def test_critical_expectation_stops_the_snapshot(resolved, tmp_path, monkeypatch, case, sampled):
    """A critical suite checks every row: above SAMPLE_ROWS only the distribution warnings are
    sampled, so a planted bad row still fails its suite, wherever it sits."""
    if sampled:
        monkeypatch.setattr("datapool.schemas.expectations.SAMPLE_ROWS", 50)
    ing, res = resolved["2025-05"]
    breaker, words = BREAKS[case]
    bad_ing, bad_res = breaker(ing, res)
    with pytest.raises(ValidationFailed, match="critical expectation failed") as err:
        validate(bad_ing, bad_res, tmp_path / "docs")
    assert any(w in str(err.value) for w in words.split("|")), str(err.value)


def test_clean_pool_passes_and_warnings_are_recorded(resolved, tmp_path, monkeypatch):
    ing, res = resolved["2025-05"]
    monkeypatch.chdir(tmp_path)
    table = validate(ing, res, Path("docs"))  # a relative output folder, as `make run` gives
    assert table.filter((pl.col("severity") == "critical") & ~pl.col("success")).height == 0
    assert set(table["suite"]) == {
        "market_supervision",
        "civil_affairs",
        "social_insurance",
        "tax_registry",
        "enterprise",
        "enterprise_link",
        "accounting",
    }
    assert (tmp_path / "docs" / "index.html").exists()


@pytest.mark.prefect
def test_failed_validation_publishes_nothing(sample_run, sample_copy, monkeypatch):
    """Through the real flow: a critical failure leaves the published month exactly as it was."""
    from datapool.connectors import warehouse
    from datapool.flows.snapshot import snapshot_flow
    from datapool.matching import engine

    month = "2025-06"
    before = warehouse.read_table(warehouse.engine_for(sample_run["url"]), "enterprise", month)
    real_finish = engine.finish

    def broken(*a, **k):
        res = real_finish(*a, **k)
        return replace(res, enterprises=pl.concat([res.enterprises, res.enterprises.head(2)]))

    monkeypatch.setattr("datapool.matching.engine.finish", broken)
    with pytest.raises(ValidationFailed):
        snapshot_flow(
            snapshot=month,
            settings=Settings(
                input_root=sample_copy,
                warehouse_url=sample_run["url"],
                out_dir=sample_run["out"] / "broken",
            ),
        )
    after = warehouse.read_table(warehouse.engine_for(sample_run["url"]), "enterprise", month)
    assert after.equals(before)


def test_sampled_warnings_say_so_and_every_row_checks_do_not(resolved, tmp_path, monkeypatch):
    import json

    from datapool.schemas import expectations as ex

    ing, res = resolved["2025-05"]
    whole = validate(ing, res, tmp_path / "whole")
    monkeypatch.setattr(ex, "SAMPLE_ROWS", 50)
    table = validate(ing, res, tmp_path / "sampled")
    # the same suites and expectations are recorded, in the same suites
    key = ["suite", "expectation", "column_name", "severity"]
    assert sorted(table.select(key).rows()) == sorted(whole.select(key).rows())
    for r in table.iter_rows(named=True):
        sampled = json.loads(r["details"]).get("sampled")
        every_row = r["severity"] == "critical" or r["expectation"] in {
            "expect_column_values_to_be_unique",
            "expect_table_row_count_to_equal",
        }
        if every_row or r["suite"] == "accounting":
            assert sampled is None, r
        else:
            assert sampled["rows"] == 50 and sampled["of"] > 50, r
    # checked on every row: the same counts as unsampled
    crit = table.filter(pl.col("severity") == "critical").sort(key)
    assert crit.equals(whole.filter(pl.col("severity") == "critical").sort(key))
    assert (tmp_path / "sampled" / "index.html").exists()
