"""The run summary: one piece of data, rendered as the CLI's line and as Prefect's Markdown."""

from __future__ import annotations

import polars as pl

from datapool.matching.engine import resolve
from datapool.privacy import TEST_KEY
from datapool.summary import RunCounts, RunSummary, mean_saving


def counts(**overrides: object) -> RunCounts:
    base: RunCounts = {
        "files": {
            "tax_registry": {
                "file": "t.csv",
                "encoding": "utf-8",
                "rows_in": 10,
                "accepted": 8,
                "quarantined": 2,
                "physical_rows": 10,
                "duplicates": 0,
                "dropped_columns": [],
            },
            "civil_affairs": {
                "file": "c.xlsx",
                "encoding": "xlsx",
                "rows_in": 5,
                "accepted": 5,
                "quarantined": 0,
                "physical_rows": 5,
                "duplicates": 0,
                "dropped_columns": [],
            },
        },
        "missing_sources": ["social_insurance"],
        "carried": {},
        "records": 13,
        "candidate_pairs": 40,
        "accepted_pairs": 9,
        "links_kept": 7,
        "enterprises": 6,
        "weight_threshold": None,
        "links_by_rule": {"name": 2, "uscc": 5},
        "validation_warnings": 0,
        "targets": 3,
        "covered": 1,
        "orphans": 4,
        "placed": 5,
        "unplaced": 1,
        "unplaced_targets": 0,
        "unplaced_target_reasons": {},
        "grids_with_targets": 2,
        "route_m": 900,
        "unordered_m": 1200,
        "route_saving_grids_3plus": None,
        "route_saving_grids_4plus": None,
        "changes": {},
        "built_on": None,
    }
    return {**base, **overrides}  # type: ignore[typeddict-item]


def test_line_is_the_cli_summary():
    s = RunSummary("2025-06", counts())
    assert s.line() == (
        "2025-06: 15 rows in, 13 accepted, 2 quarantined; 6 enterprises; 3 targets in 2 grids; "
        "4 orphan union records"
    )


def test_markdown_holds_files_missing_sources_and_streets():
    md = RunSummary(
        "2025-06", counts(validation_warnings=2), [("梅林街道", 2), ("?", 1)]
    ).markdown()
    assert md.startswith("# datapool snapshot 2025-06")
    assert "| civil\\_affairs | 5 | 5 | 0 |" in md and "| (missing) social\\_insurance |" in md
    assert md.index("civil") < md.index("tax")  # sources in order
    assert "**Validation:** 2 warnings" in md and "Links by rule: name 2, uscc 5" in md
    assert "| 梅林街道 | 2 |" in md and "| \\? | 1 |" not in md and "| ? | 1 |" in md


def test_hostile_street_stays_one_inert_table_cell():
    street = "x | y\n\n[link](javascript:alert(1)) <b>"
    md = RunSummary("2025-06", counts(), [(street, 1)]).markdown()
    row = md.splitlines()[-1]
    assert row.count(" | ") == 1  # two cells: the street and its count
    assert "](" not in row.replace("\\]\\(", "") and "<b>" not in row


def test_mean_saving_over_grids_with_enough_stops():
    stats = {
        "a": {"route_m": 50.0, "unordered_m": 100.0, "stops": 3},
        "b": {"route_m": 75.0, "unordered_m": 100.0, "stops": 4},
        "c": {"route_m": 10.0, "unordered_m": 10.0, "stops": 2},
        "d": {"route_m": 0.0, "unordered_m": 0.0, "stops": 5},
    }
    assert mean_saving(stats, 3) == 0.375 and mean_saving(stats, 4) == 0.25
    assert mean_saving(stats, 6) is None


def test_resolve_gives_the_same_result_in_any_number_of_chunks(resolved):
    ing, res = resolved["2025-05"]
    for chunks in (3, 7):
        again = resolve(ing.records, None, TEST_KEY, score_chunks=chunks)
        assert again.counts == res.counts
        assert again.links.equals(res.links) and again.enterprises.equals(res.enterprises)
    assert isinstance(res.links, pl.DataFrame)
