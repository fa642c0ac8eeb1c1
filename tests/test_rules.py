"""The rule table (matching/rules.py): decisions at every threshold's boundary, the evidence
stored, the hard constraints, and the documentation generated from it."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from datapool.matching import rules
from datapool.matching.scoring import agreed_text, decide

ROOT = Path(__file__).resolve().parents[1]

# a compared pair on which nothing agrees; each case changes a few columns
NOTHING = {
    "rid_a": 0,
    "rid_b": 1,
    "uscc_eq": False,
    "org_eq": False,
    "regno_eq": False,
    "id_hamming": None,
    "uscc_valid": False,
    "uscc_valid_b": False,
    "core_eq": False,
    "name_sim": 0.0,
    "region_nested": False,
    "region_conflict": False,
    "form_conflict": False,
    "brand_eq": False,
    "core_sim": 0.0,
    "core_len": 0,
    "core_len_b": 0,
    "core_swap": False,
    "lookup": False,
    "lookup_b": False,
    "addr_eq": False,
    "road_eq": False,
    "addr_sim": 0.0,
    "phone_eq": False,
}
SCHEMA = {
    k: (
        pl.Int64
        if k in ("rid_a", "rid_b", "id_hamming")
        else pl.Float64
        if k == "core_sim"
        else None
    )
    for k in NOTHING
}


def _decided(**changes: object) -> tuple[str | None, str]:
    row = {**NOTHING, **changes}
    df = pl.DataFrame([row], schema_overrides={k: v for k, v in SCHEMA.items() if v})
    out = decide(df)
    if out.height == 0:
        return None, ""
    return out["rule"][0], out.select(agreed_text(pl.col("agreed"))).item()


CORE = {"core_eq": True}
TYPO = {"id_hamming": 1}
LOOKUP = {"lookup": True}
ONE_OFF = {"core_sim": 8 / 9, "core_len": 4, "core_len_b": 5}
SWAP = {"core_swap": True, "core_sim": 0.75, "core_len": 4, "core_len_b": 4}


@pytest.mark.parametrize(
    "changes,rule,agreed",
    [
        ({}, None, ""),
        ({"uscc_eq": True, **CORE}, "uscc", "uscc"),  # evidence is what made the link, only
        ({"org_eq": True}, "org_code", "org_code"),
        ({"regno_eq": True}, "regno", "regno"),
        # uscc_typo: one character apart, names alike to 0.75, not both valid, regions agree
        ({**TYPO, "name_sim": 0.75}, "uscc_typo", "uscc_one_off,name_near"),
        ({**TYPO, "name_sim": 0.7499}, None, ""),
        ({"id_hamming": 2, "name_sim": 0.9}, None, ""),
        ({**TYPO, "name_sim": 0.9, "uscc_valid": True, "uscc_valid_b": True}, None, ""),
        ({**TYPO, "name_sim": 0.9, "uscc_valid": True}, "uscc_typo", "uscc_one_off,name_near"),
        ({**TYPO, "name_sim": 0.9, "region_conflict": True}, None, ""),
        # name: 字号 + industry and an address alike to 0.6, the same address or phone
        ({**CORE, "addr_sim": 0.6}, "name", "name_core,address_near"),
        ({**CORE, "addr_sim": 0.5999}, None, ""),
        ({**CORE, "addr_eq": True}, "name", "name_core,address_same"),
        ({**CORE, "phone_eq": True}, "name", "name_core,phone"),
        ({**CORE, "phone_eq": True, "addr_sim": 0.7}, "name", "name_core,address_near,phone"),
        ({**CORE, "phone_eq": True, "region_nested": True}, "name", "name_core,phone"),
        ({**CORE, "phone_eq": True, "region_conflict": True}, None, ""),
        # ... of one organisation form: 江西乡村振兴协会 is not 赣县乡村振兴商会 down the road
        ({**CORE, "addr_sim": 0.6, "form_conflict": True}, None, ""),
        ({**CORE, "addr_eq": True, "phone_eq": True, "form_conflict": True}, None, ""),
        # name_only: 字号 + industry and names alike to 0.95, regions not at two levels
        ({**CORE, "name_sim": 0.95}, "name_only", "name_core,name_same"),
        ({**CORE, "name_sim": 0.9499}, None, ""),
        ({**CORE, "name_sim": 1.0, "region_nested": True}, None, ""),
        ({**CORE, "name_sim": 1.0, "region_conflict": True}, None, ""),
        # ... and of one organisation form (商会 and 研究会 are two organisations)
        ({**CORE, "name_sim": 1.0, "form_conflict": True}, None, ""),
        # lookup_name: a looked-up name (either side), the same 字号 + industry, regions that agree
        # at any level, one organisation form; a registry pair never links by it
        ({**CORE, **LOOKUP, "region_nested": True}, "lookup_name", "name_core,lookup"),
        ({**CORE, "lookup_b": True, "region_nested": True}, "lookup_name", "name_core,lookup"),
        ({**CORE, "region_nested": True}, None, ""),
        ({**CORE, **LOOKUP, "region_conflict": True}, None, ""),
        ({**CORE, **LOOKUP, "form_conflict": True}, None, ""),
        ({**LOOKUP, "name_sim": 0.99}, None, ""),
        # lookup_typo: a looked-up name whose 字号 + industry lost or doubled a character (cores
        # of 4 and 5 characters, one apart: ratio 8/9), the longer of 4 characters or more
        ({**LOOKUP, **ONE_OFF}, "lookup_typo", "name_one_off,lookup"),
        ({**LOOKUP, **ONE_OFF, "core_sim": 7 / 9}, None, ""),  # two apart
        (
            {**LOOKUP, "core_sim": 6 / 7, "core_len": 3, "core_len_b": 4},
            "lookup_typo",
            "name_one_off,lookup",
        ),
        ({**LOOKUP, "core_sim": 4 / 5, "core_len": 2, "core_len_b": 3}, None, ""),  # longer: 3
        ({**LOOKUP, "core_sim": 0.75, "core_len": 4, "core_len_b": 4}, None, ""),  # one changed
        ({**LOOKUP, **ONE_OFF, "region_nested": True}, "lookup_typo", "name_one_off,lookup"),
        ({**LOOKUP, **ONE_OFF, "region_conflict": True}, None, ""),
        ({**LOOKUP, **ONE_OFF, "form_conflict": True}, None, ""),
        (ONE_OFF, None, ""),  # registry rows need more (blocking's namespace d finds them)
        # a looked-up name meets the registry rules first
        ({**CORE, **LOOKUP, "name_sim": 0.95}, "name_only", "name_core,name_same"),
        ({"uscc_eq": True, **LOOKUP}, "uscc", "uscc"),
        # brand: the same 字号 (industry written otherwise) at the same address or phone, one
        # organisation form, regions that agree
        ({"brand_eq": True, "addr_eq": True}, "brand", "brand_same,address_same"),
        ({"brand_eq": True, "phone_eq": True}, "brand", "brand_same,phone"),
        ({"brand_eq": True, "addr_sim": 0.99}, None, ""),
        ({"brand_eq": True, "addr_eq": True, "form_conflict": True}, None, ""),
        ({"brand_eq": True, "addr_eq": True, "region_conflict": True}, None, ""),
        (
            {"brand_eq": True, "addr_eq": True, "region_nested": True},
            "brand",
            "brand_same,address_same",
        ),
        # name_swap: two neighbouring characters swapped, cores of 3 characters or more, at the
        # same address or with the same phone, one organisation form, regions that agree
        ({**SWAP, "addr_eq": True}, "name_swap", "name_swap,address_same"),
        ({**SWAP, "phone_eq": True}, "name_swap", "name_swap,phone"),
        ({**SWAP, "core_len": 2, "core_len_b": 2, "addr_eq": True}, None, ""),
        ({**SWAP, "addr_sim": 0.99}, None, ""),
        ({**SWAP, "addr_eq": True, "form_conflict": True}, None, ""),
        ({**SWAP, "addr_eq": True, "region_conflict": True}, None, ""),
        (
            {**SWAP, "addr_eq": True, "region_nested": True},
            "name_swap",
            "name_swap,address_same",
        ),
        # name_typo: a character added or dropped (the longer core of 4 or more), on the same road
        # of the same town (numbers may differ) or with the same phone, one form, regions agree
        ({**ONE_OFF, "road_eq": True}, "name_typo", "name_one_off,address_road"),
        ({**ONE_OFF, "phone_eq": True}, "name_typo", "name_one_off,phone"),
        ({**ONE_OFF, "road_eq": True, "core_sim": 7 / 9}, None, ""),  # two apart
        ({"core_sim": 4 / 5, "core_len": 2, "core_len_b": 3, "road_eq": True}, None, ""),
        ({**ONE_OFF, "addr_sim": 0.84}, None, ""),  # another road
        ({**ONE_OFF, "road_eq": True, "form_conflict": True}, None, ""),
        ({**ONE_OFF, "road_eq": True, "region_conflict": True}, None, ""),
        (
            {**ONE_OFF, "road_eq": True, "region_nested": True},
            "name_typo",
            "name_one_off,address_road",
        ),
        # name_fuzzy: names alike to 0.8 and the same address, one alike to 0.85 or the phone
        ({"name_sim": 0.8, "addr_sim": 0.85}, "name_fuzzy", "name_alike,address_close"),
        ({"name_sim": 0.7999, "addr_sim": 0.85}, None, ""),
        ({"name_sim": 0.8, "addr_sim": 0.8499}, None, ""),
        ({"name_sim": 0.8, "addr_eq": True}, "name_fuzzy", "name_alike,address_same"),
        ({"name_sim": 0.8, "phone_eq": True}, "name_fuzzy", "name_alike,phone"),
        (
            {"name_sim": 0.9, "phone_eq": True, "region_nested": True},
            "name_fuzzy",
            "name_alike,phone",
        ),
        ({"name_sim": 0.9, "phone_eq": True, "region_conflict": True}, None, ""),
        # the strongest rule wins
        ({"uscc_eq": True, "org_eq": True}, "uscc", "uscc"),
        ({**CORE, "name_sim": 1.0, "addr_eq": True}, "name", "name_core,address_same"),
    ],
)
def test_decision_at_each_boundary(changes, rule, agreed):
    assert _decided(**changes) == (rule, agreed)


def test_score_from_the_table():
    df = pl.DataFrame(
        [{**NOTHING, "core_eq": True, "name_sim": 1.0, "addr_sim": 1.0, "phone_eq": True}],
        schema_overrides={k: v for k, v in SCHEMA.items() if v},
    )
    base = {r.name: r.score for r in rules.RULES}["name"]
    assert decide(df)["score"][0] == round((base + 0.1 + 0.07 + 0.03) / rules.MAX_SCORE, 4)


@pytest.mark.parametrize(
    "a,b,vetoed",
    [
        ({"uscc": 1, "uscc_valid": True}, {"uscc": 2, "uscc_valid": True}, "two_usccs"),
        ({"uscc": 1, "uscc_valid": True}, {"uscc": 2, "uscc_valid": False}, None),
        ({"uscc": 1, "uscc_valid": True}, {"uscc": 1, "uscc_valid": True}, None),
        ({"org_strong": 5}, {"org_strong": 6}, "two_org_codes"),
        ({"org_strong": 5}, {"org_strong": "EMPTY"}, None),
        ({"branch": True}, {"branch": False}, "branch"),
        ({"branch": True, "branch_place": 7}, {"branch": True, "branch_place": 8}, "branch"),
        ({"branch": True, "branch_place": 7}, {"branch": True, "branch_place": 7}, None),
        ({"source": "tax_registry", "once_only": True}, {"source": "tax_registry"}, "once_only"),
        ({"source": "social_insurance"}, {"source": "social_insurance"}, None),
        ({"source": "tax_registry", "once_only": True}, {"source": "social_insurance"}, None),
    ],
)
def test_hard_constraints(a, b, vetoed):
    from datapool.matching.standardise import EMPTY_KEY

    side = {
        "uscc": 0,
        "uscc_valid": False,
        "org_strong": EMPTY_KEY,
        "branch": False,
        "branch_place": 0,
        "source": "market_supervision",
        "once_only": False,
    }

    def value(v: object) -> object:
        return EMPTY_KEY if v == "EMPTY" else v

    row = {**side, **{k: value(v) for k, v in a.items()}}
    row |= {f"{k}_b": v for k, v in {**side, **{k: value(v) for k, v in b.items()}}.items()}
    df = pl.DataFrame([row], schema_overrides={"org_strong": pl.UInt64, "org_strong_b": pl.UInt64})
    hit = [v.name for v in rules.VETOES if df.select(v.expr()).item()]
    assert hit == ([vetoed] if vetoed else [])
    assert df.select(rules.veto()).item() is bool(vetoed)


@pytest.mark.parametrize("doc", ["README.md", "docs/warehouse.md"])
def test_documentation_holds_the_generated_table(doc):
    text = (ROOT / doc).read_text("utf-8")
    table = text.split(rules.BEGIN, 1)[1].split(rules.END, 1)[0]
    assert table == "\n" + rules.markdown(), (
        f"{doc}: run python -m datapool.matching.rules README.md docs/warehouse.md"
    )


def test_every_rule_names_known_levels_and_levels_are_used():
    used = {n for r in rules.RULES for n in (*r.all_of, *r.any_of, *r.none_of)}
    assert used == set(rules.LEVEL_NAMES)
