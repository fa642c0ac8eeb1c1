"""Weights learned from the pairs identifiers label (matching/weights.py) and rule ``weights``."""

from __future__ import annotations

import math
from pathlib import Path

import polars as pl
import pytest

from datapool.matching.scoring import decide
from datapool.matching.standardise import EMPTY_KEY, standardise
from datapool.matching.weights import COMPARISONS, Weights, _flat, learn
from datapool.privacy import TEST_KEY
from datapool.settings import Settings
from datapool.stages import ingest

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


@pytest.fixture(scope="module")
def std() -> pl.DataFrame:
    return standardise(ingest(Settings(input_root=SAMPLES, hmac_key=TEST_KEY), "2025-06").records)


@pytest.fixture(scope="module")
def weights(std) -> Weights:
    return learn(std)


def test_weights_are_learned_from_labelled_pairs(weights):
    t = weights.table
    assert t.height == sum(len(cp.levels) for cp in COMPARISONS)
    assert t["matches"].min() > 1000 and t["non_matches"].min() > 1000
    for cp in COMPARISONS:
        part = t.filter(pl.col("comparison") == cp.name)
        assert part["level"].to_list() == [name for name, _ in cp.levels]
        assert part["m"].sum() == pytest.approx(1.0) and part["u"].sum() == pytest.approx(1.0)
        assert part["weight"].to_list() == pytest.approx(
            [math.log2(m / u) for m, u in zip(part["m"], part["u"], strict=True)]
        )

    def w(comparison: str, level: str) -> float:
        return t.filter((pl.col("comparison") == comparison) & (pl.col("level") == level)).item(
            0, "weight"
        )

    # agreement is evidence for a match, disagreement against
    assert w("name", "core") > w("name", "differ")
    assert w("phone", "same") > 0 > w("phone", "differ")
    assert w("region", "conflict") < w("region", "same")
    assert w("founded", "same") > 0 > w("founded", "differ")


def test_threshold_follows_from_target_precision_and_prior(weights):
    p, prior = weights.target, weights.prior
    assert 0 < prior < 1
    assert weights.threshold == pytest.approx(
        math.log2(p / (1 - p)) - math.log2(prior / (1 - prior))
    )
    rows = weights.rows()
    last = rows.row(rows.height - 1, named=True)
    assert last["comparison"] == "threshold" and last["weight"] == weights.threshold
    assert "threshold" in weights.summary()


def test_learning_is_deterministic(std, weights):
    again = learn(std)
    assert again.table.equals(weights.table) and again.threshold == weights.threshold


def test_nothing_to_learn_from_links_nothing(std):
    flat = learn(std.with_columns(pl.lit("").alias("org_strong")))
    assert math.isinf(flat.threshold) and flat.table["weight"].abs().max() == 0


# a compared pair on which nothing agrees (every column decide and the weights read)
PAIR = {
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
    "region_same": False,
    "registered_apart": False,
    "registered_within": False,
    "addr_eq": False,
    "road_eq": False,
    "addr_sim": 0.0,
    "addr_norm_h": 1,
    "addr_norm_h_b": 2,
    "phone_eq": False,
    "phone_hash": None,
    "phone_hash_b": None,
    "headcount": None,
    "headcount_b": None,
    "founded": None,
    "founded_b": None,
}
INTS = ("rid_a", "rid_b", "id_hamming", "headcount", "headcount_b", "founded", "founded_b")


def _pair(**changes: object) -> pl.DataFrame:
    schema = {k: pl.Int64 for k in INTS} | {
        k: pl.UInt64 for k in ("addr_norm_h", "addr_norm_h_b", "phone_hash", "phone_hash_b")
    }
    return pl.DataFrame([{**PAIR, **changes}], schema_overrides=schema)


def _weights(threshold: float, **levels: float) -> Weights:
    table = _flat(0.99).table.with_columns(
        pl.struct("comparison", "level")
        .map_elements(lambda r: levels.get(f"{r['comparison']}_{r['level']}", 0.0), pl.Float64)
        .alias("weight")
    )
    return Weights(table, threshold, 0.5)


@pytest.mark.parametrize(
    "levels,threshold,changes,rule",
    [
        ({}, 0.0, {}, "weights"),  # weight 0 reaches a threshold of 0
        ({}, 0.001, {}, None),
        ({"name_differ": 3.0, "address_differ": 2.0}, 5.0, {}, "weights"),
        ({"name_differ": 3.0, "address_differ": 2.0}, 5.001, {}, None),
        ({"phone_same": 10.0}, 5.0, {"phone_hash": 7, "phone_hash_b": 8}, None),  # differ: 0
        ({"founded_same": 10.0}, 5.0, {"founded": 5, "founded_b": 5}, "weights"),
        (
            {"founded_same": 10.0},
            5.0,
            {"founded": 5, "founded_b": 5, "region_conflict": True},
            None,
        ),
        ({"address_missing": 9.0}, 5.0, {"addr_norm_h": EMPTY_KEY}, "weights"),
        ({"headcount_close": 9.0}, 5.0, {"headcount": 30, "headcount_b": 37}, "weights"),
        # the same town and road (numbers apart): below an address alike to 0.85, above near
        ({"address_road": 9.0}, 5.0, {"road_eq": True, "addr_sim": 0.7}, "weights"),
        ({"address_road": 9.0}, 5.0, {"road_eq": True, "addr_sim": 0.85}, None),  # close
        ({"address_road": 9.0}, 5.0, {"addr_sim": 0.7}, None),  # near
        ({"headcount_close": 9.0}, 5.0, {"headcount": 30, "headcount_b": 38}, None),
    ],
)
def test_rule_weights_at_its_threshold(levels, threshold, changes, rule):
    out = decide(_pair(**changes), _weights(threshold, **levels))
    assert (out["rule"][0] if out.height else None) == rule
    assert decide(_pair(**changes)).height == 0  # without weights, rule weights never holds
