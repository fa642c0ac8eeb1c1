"""Joint-union groups on the samples, end to end, against the generator's truth.

The generator (datapool/samples/joint.py) puts small employers into shared buildings and onto
shopping streets and records each group in ``truth/<month>/joint_groups.csv``.

Recall, precisely: a truth member *counts* when the pool holds it as a groupable employer
(:func:`datapool.visits.groups.eligible`: active, no union, not a target, headcount known and at
least 1; a truth enterprise is the pool enterprise most of its registry rows went to). A truth
group with at least 3 counting members is *evaluated*; it is *found* when more than half of its
counting members are in one produced group given the same reason (``building`` or ``street``).
Recall is found / evaluated, and must be at least 0.9.
"""

from __future__ import annotations

import polars as pl
import pytest

from datapool.connectors import warehouse
from datapool.visits.groups import MIN_MEMBERS, REASON_ZH, REASONS, eligible

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

MONTHS = ["2025-05", "2025-06"]
MIN_RECALL = 0.9


def _table(run, name: str, month: str) -> pl.DataFrame:
    return warehouse.read_table(warehouse.engine_for(run["url"]), name, month)


def group_recall(run, samples, truth_rows, month: str) -> tuple[int, int]:
    """``(found, evaluated)`` truth groups of ``month`` (see the module docstring)."""
    key_to_id = (
        _table(run, "enterprise_link", month)
        .join(truth_rows[month], on=["source", "source_row"])
        .group_by("enterprise_key")
        .agg(pl.col("enterprise_id").mode().sort().first())
    )
    truth = pl.read_csv(
        samples / "truth" / month / "joint_groups.csv", schema_overrides={"enterprise_key": pl.Utf8}
    ).join(key_to_id, on="enterprise_key")
    pool = eligible(_table(run, "enterprise", month), _table(run, "union_coverage", month))
    counting = truth.join(pool.select("enterprise_id"), on="enterprise_id")
    produced = _table(run, "joint_group_member", month).join(
        _table(run, "joint_group", month).select("group_id", pl.col("reason").alias("got")),
        on="group_id",
    )
    per_group = (
        counting.join(produced, on="enterprise_id", how="left")
        .group_by("group", "reason")
        .agg(
            pl.len().alias("counting"),
            pl.col("group_id")
            .filter(pl.col("got") == pl.col("reason"))
            .drop_nulls()
            .unique_counts()
            .max()
            .fill_null(0)
            .alias("best"),
        )
        .filter(pl.col("counting") >= MIN_MEMBERS)
    )
    found = per_group.filter(pl.col("best") * 2 > pl.col("counting")).height
    return found, per_group.height


@pytest.mark.parametrize("month", MONTHS)
def test_groups_find_the_generated_buildings_and_streets(sample_run, samples, truth_rows, month):
    found, evaluated = group_recall(sample_run, samples, truth_rows, month)
    assert evaluated >= 20, "the samples hold too few groups to measure"
    assert found / evaluated >= MIN_RECALL, f"{found} of {evaluated} truth groups found"


@pytest.mark.parametrize("month", MONTHS)
def test_every_group_has_its_reason_members_and_workers(sample_run, month):
    groups = _table(sample_run, "joint_group", month)
    members = _table(sample_run, "joint_group_member", month)
    assert set(groups["reason"]) == set(REASONS)  # the samples show every kind of group
    for reason, text in groups.select("reason", "reason_text").iter_rows():
        assert text.startswith(REASON_ZH[reason] + "：")
    sums = members.group_by("group_id").agg(pl.len().alias("n"), pl.col("workers").sum().alias("w"))
    joined = groups.join(sums, on="group_id", how="full", coalesce=True)
    assert joined.height == groups.height  # no member of a group that is not in joint_group
    assert (joined["n"] == joined["members"]).all() and (joined["w"] == joined["workers"]).all()
    assert (groups["members"] >= MIN_MEMBERS).all()
    assert members["enterprise_id"].is_unique().all()  # each enterprise in at most one group
    # every member is a small employer without a union, as the pool holds it
    cov = _table(sample_run, "union_coverage", month)
    m = members.join(cov, on="enterprise_id")
    assert m.height == members.height
    assert not m["covered"].any() and not m["target"].any() and m["active"].all()
    assert (m["workers"] == m["headcount"]).all() and (m["workers"] >= 1).all()


def test_group_ids_are_stable_across_the_sample_months(sample_run):
    before, after = (_table(sample_run, "joint_group", m) for m in MONTHS)
    kept = before.join(after, on="group_id")
    assert kept.height >= 0.8 * before.height
    assert (kept["reason"] == kept["reason_right"]).all()
