"""Every-row checks measured in polars (schemas/expectations.py: measure, prepare) give what Great
Expectations gives when it counts every row of the frame itself: the same results, to the last
field Data Docs render (counts, percentages, first offending values and their positions)."""

from __future__ import annotations

import itertools

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datapool.schemas import expectations as ex
from datapool.schemas.expectations import Check, Validator

_names = itertools.count()


def _stored(v: Validator, suite_name: str) -> list[tuple[bool, dict]]:
    """The (success, result) of each expectation GX stored for ``suite_name``, in order."""
    store = v.ctx.validation_results_store
    (key,) = [k for k in store.list_keys() if k.expectation_suite_identifier.name == suite_name]
    return [(r.success, r.result) for r in store.get(key).results]


def _both(v: Validator, frame: pl.DataFrame, checks: list[Check], derived=None):
    """Rows and stored results of the checks counted by GX on every row, then measured."""
    n = next(_names)
    whole = frame.with_columns(expr.alias(c) for c, (_, expr) in (derived or {}).items())
    by_gx = v._run(f"gx-{n}", "x", whole, checks, {})
    suite = ex.prepare(f"m-{n}", frame, checks, derived=derived)
    measured = v._run(f"m-{n}", "x", suite.frame, suite.checks, suite.measured)
    return (by_gx, _stored(v, f"gx-{n}")), (measured, _stored(v, f"m-{n}"))


CHECKS = [
    Check("ExpectColumnValuesToBeUnique", {"column": "n"}),
    Check("ExpectColumnValuesToBeUnique", {"column": "s"}, "warning"),
    Check("ExpectColumnValuesToNotBeNull", {"column": "s"}),
    Check("ExpectColumnValuesToNotBeNull", {"column": "n"}),
    Check("ExpectColumnValuesToNotBeNull", {"column": "b"}),
    Check("ExpectColumnValuesToBeBetween", {"column": "n", "min_value": 0}),
    Check("ExpectColumnValuesToBeBetween", {"column": "n", "min_value": -3, "max_value": 3}),
    Check("ExpectColumnValuesToBeInSet", {"column": "s", "value_set": ["a", "c"]}),
    Check("ExpectColumnValuesToBeInSet", {"column": "b", "value_set": [True]}),
    Check("ExpectTableRowCountToEqual", {"value": 7}),
]


@pytest.fixture(scope="module")
def validator(tmp_path_factory):
    v = Validator(tmp_path_factory.mktemp("docs"))
    yield v
    v.close()


@settings(
    max_examples=30,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(
        st.tuples(
            st.one_of(st.none(), st.integers(-5, 5)),
            st.one_of(st.none(), st.sampled_from(["a", "b<&>", "c", "", "d\"'"])),
            st.one_of(st.none(), st.booleans()),
        ),
        min_size=0,
        max_size=40,
    )
)
def test_measured_results_are_gx_counting_every_row(validator, rows):
    frame = pl.DataFrame(rows, schema={"n": pl.Int64, "s": pl.Utf8, "b": pl.Boolean}, orient="row")
    (gx_rows, gx_stored), (m_rows, m_stored) = _both(validator, frame, CHECKS)
    assert m_rows == gx_rows
    assert m_stored == gx_stored


@pytest.mark.parametrize(
    "links",
    [
        [("tax", 1, "E1"), ("tax", 2, "E1"), ("civil", 1, "E2")],
        [("tax", 1, "E1"), ("tax", 1, "E2"), ("civil", 1, None), ("tax", 1, "E3")],
        [("tax", None, "E1"), ("tax", None, "E2"), (None, 3, "E3"), ("civil", 3, "E3")],
        [("a<b", i % 25, f"E{i}") for i in range(60)],  # more offending rows than GX keeps
    ],
    ids=["clean", "row linked thrice", "keys with nulls", "many offending"],
)
def test_row_key_made_only_for_offending_rows(validator, links):
    """The links' row_key ("source:row") is measured on its parts; the results are GX's on the
    text column."""
    frame = pl.DataFrame(
        links,
        schema={"source": pl.Utf8, "source_row": pl.Int64, "enterprise_id": pl.Utf8},
        orient="row",
    )
    (gx_rows, gx_stored), (m_rows, m_stored) = _both(
        validator, frame, ex.links_checks(len(links)), ex.LINK_KEYS
    )
    assert m_rows == gx_rows
    assert m_stored == gx_stored


def test_a_large_frame_sends_only_its_sample(monkeypatch):
    """Above SAMPLE_ROWS the frame prepared for the validation process holds the sample's rows
    and only the columns the sampled checks read; the every-row checks come as figures."""
    monkeypatch.setattr(ex, "SAMPLE_ROWS", 10)
    frame = pl.DataFrame({"n": list(range(100)), "s": ["x"] * 100, "unread": ["y"] * 100})
    checks = [
        Check("ExpectColumnValuesToBeUnique", {"column": "n"}),
        Check("ExpectColumnValuesToBeInSet", {"column": "s", "value_set": ["x"]}, "warning"),
    ]
    suite = ex.prepare("t", frame, checks)
    assert suite.sampled and suite.rows == 100
    assert suite.frame.columns == ["s"] and suite.frame.height == 10
    assert set(suite.measured) == {0} and suite.measured[0].rows == 100
    # the sample is the rows a seeded sample of the whole frame picks, in row order
    picked = frame.with_row_index("i").sample(10, seed=ex.SAMPLE_SEED).sort("i")
    assert (
        ex.prepare(
            "t",
            frame,
            [
                checks[0],
                Check("ExpectColumnValuesToBeInSet", {"column": "n", "value_set": [0]}, "warning"),
            ],
        )
        .frame.get_column("n")
        .to_list()
        == picked.get_column("n").to_list()
    )


def test_pool_frame_without_a_join_when_links_follow_the_rows(resolved):
    """Links in the standardised rows' order (as resolve makes them) are placed beside the rows;
    in another order they are joined on the row: the same pool frame either way."""
    _, res = resolved["2025-05"]
    assert res.links.select("source", "source_row").equals(res.std.select("source", "source_row"))
    beside = ex.pool_frame(res.enterprises, res.std, res.links)
    joined = ex.pool_frame(res.enterprises, res.std, res.links.sample(fraction=1.0, seed=3))
    assert beside.equals(joined)
    assert beside.get_column("enterprise_id").equals(res.enterprises.get_column("enterprise_id"))
    assert beside.get_column("valid_usccs").max() == 1
