"""Export specs: parsers are an enum, so a misspelt one fails when the spec is written."""

from __future__ import annotations

import pytest

from datapool.connectors.specs import SPECS, VISIT_RECORDS, Column, Parser


def test_every_column_names_a_parser():
    specs = (*SPECS, VISIT_RECORDS)
    assert all(isinstance(c.parser, Parser) for s in specs for c in s.columns)
    used = {c.parser for s in specs for c in s.columns}
    assert used == set(Parser)  # every parser is used by some export; none is dead


@pytest.mark.parametrize("typo", ["dates", "Date", "identifier", "", "text "])
def test_misspelt_parser_fails_at_once(typo):
    with pytest.raises(TypeError, match="not a Parser"):
        Column("成立日期", "founded_on", typo)  # type: ignore[arg-type]


def test_parser_values_are_the_documented_names():
    assert [p.value for p in Parser] == [
        "text", "id", "date", "count", "decimal", "lon", "lat", "phone", "personal",
        "pseudonym", "free_text",
    ]  # fmt: skip
