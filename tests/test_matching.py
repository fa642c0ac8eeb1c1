from __future__ import annotations

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from datapool.bench import quality as pairwise
from datapool.matching.engine import resolve
from datapool.matching.identifiers import is_valid_uscc
from datapool.privacy import TEST_KEY

MONTHS = ["2025-05", "2025-06"]


@pytest.mark.parametrize("month", MONTHS)
def test_quality_against_truth(resolved, truth_rows, month):
    _, res = resolved[month]
    q = pairwise(res.links, truth_rows[month])
    assert q["f1"] >= 0.995, q
    assert q["exact"] >= 0.99, q


@pytest.mark.parametrize("month", MONTHS)
def test_no_enterprise_with_two_valid_usccs(resolved, month):
    _, res = resolved[month]
    per = (
        res.std.filter(pl.col("uscc_valid").fill_null(False))
        .join(res.links, on=["source", "source_row"])
        .group_by("enterprise_id")
        .agg(pl.col("uscc").n_unique())
    )
    assert per.filter(pl.col("uscc") > 1).height == 0


@pytest.mark.parametrize("month", MONTHS)
def test_branch_never_merged_with_head_office(resolved, truth_rows, truth_enterprises, month):
    _, res = resolved[month]
    ents = truth_enterprises[month]
    branches = ents.filter(pl.col("branch") == 1).select("enterprise_key", "head_key")
    j = res.links.join(truth_rows[month], on=["source", "source_row"])
    keys_per_id = j.group_by("enterprise_id").agg(pl.col("enterprise_key").unique())
    merged = 0
    lookup = {r["enterprise_key"]: r["head_key"] for r in branches.iter_rows(named=True)}
    for ks in keys_per_id["enterprise_key"].to_list():
        merged += sum(1 for k in ks if k in lookup and lookup[k] in ks)
    assert merged == 0


def test_ids_stable_across_months(resolved, truth_rows):
    def key_to_id(month):
        _, res = resolved[month]
        j = res.links.join(truth_rows[month], on=["source", "source_row"])
        return j.group_by("enterprise_key").agg(pl.col("enterprise_id").mode().first())

    both = key_to_id(MONTHS[0]).join(key_to_id(MONTHS[1]), on="enterprise_key", suffix="_next")
    kept = both.filter(pl.col("enterprise_id") == pl.col("enterprise_id_next")).height
    assert kept / both.height >= 0.995, (kept, both.height)


def test_every_accepted_row_linked_once_with_a_reason(resolved):
    for ing, res in resolved.values():
        assert res.links.height == ing.records.height
        assert res.links.select("source", "source_row").is_unique().all()
        assert res.links["rule"].null_count() == 0 and res.links["score"].is_between(0, 1).all()


def test_golden_headcount_precedence(resolved):
    _, res = resolved[MONTHS[0]]
    e = res.enterprises
    assert set(e["headcount_source"].drop_nulls().unique()) <= {
        "social_insurance",
        "tax_registry",
        "civil_affairs",
    }
    si_rows = (
        res.std.filter((pl.col("source") == "social_insurance") & pl.col("active"))
        .join(res.links, on=["source", "source_row"])
        .group_by("enterprise_id")
        .agg(pl.col("headcount").sum())
    )
    j = e.join(si_rows, on="enterprise_id", suffix="_si")
    assert (j["headcount"] == j["headcount_si"]).all()
    assert (j["headcount_source"] == "social_insurance").all()


def test_resolution_is_deterministic(resolved):
    ing, res = resolved[MONTHS[0]]
    again = resolve(ing.records.sample(fraction=1.0, shuffle=True, seed=3), None, TEST_KEY)
    assert again.links.sort("source", "source_row").equals(res.links.sort("source", "source_row"))


def test_golden_uscc_is_valid_when_any_record_has_one(resolved):
    _, res = resolved[MONTHS[1]]
    e = res.enterprises.filter(pl.col("uscc_valid"))
    assert all(is_valid_uscc(u) for u in e["uscc"].to_list())


def test_chunked_scoring_gives_the_same_pairs(resolved):
    from datapool.matching.blocking import candidate_pairs
    from datapool.matching.scoring import score_pairs

    _, res = resolved["2025-05"]
    pairs = candidate_pairs(res.std)
    whole = score_pairs(res.std, pairs)
    chunked = score_pairs(res.std, pairs, chunk=5_000)
    assert chunked.sort("rid_a", "rid_b").equals(whole.sort("rid_a", "rid_b"))


def test_blocking_leaves_out_only_pairs_scoring_would_veto(resolved):
    # two different check-passing organisation codes are never paired; every other key-sharing pair
    # is (paired, so scoring sees it)
    from datapool.matching.blocking import candidate_pairs
    from datapool.matching.scoring import score_pairs

    _, res = resolved["2025-05"]
    pairs = candidate_pairs(res.std)
    unpruned = candidate_pairs(
        res.std.with_columns(pl.lit(None, dtype=pl.Utf8).alias("org_strong"))
    )
    left_out = unpruned.join(pairs, on=["rid_a", "rid_b"], how="anti")
    assert pairs.join(unpruned, on=["rid_a", "rid_b"], how="anti").height == 0
    assert left_out.height > 0
    org = res.std.get_column("org_strong")
    a, b = org.gather(left_out["rid_a"]), org.gather(left_out["rid_b"])
    assert ((a != "") & (b != "") & (a != b)).all()
    assert score_pairs(res.std, unpruned).equals(score_pairs(res.std, pairs))


@pytest.mark.parametrize(
    "a,b,paired",
    [
        # a 字号 character dropped or typed twice, at any address of one town: a candidate pair
        (
            ("赣州豪宇辉置业有限公司", "梅林镇江东路252号"),
            ("赣县豪宇宇辉置业有限公司", "梅林镇人民路3号"),
            True,
        ),
        (
            ("江西宏安新合果业有限公司", "梅林镇江东路1号"),
            ("宏新合果业有限公司", "梅林镇江东路9号"),
            True,
        ),
        # one character changed is a candidate too (scoring decides: 宏达 is not 宏运), from 5+
        (
            ("宏达鑫建材有限公司", "梅林镇江东路1号"),
            ("宏运鑫建材有限公司", "梅林镇人民路2号"),
            True,
        ),
        (("宏达建材有限公司", "梅林镇江东路1号"), ("宏运建材有限公司", "梅林镇人民路2号"), False),
        (("光逸包装有限公司", "梅林镇江东路1号"), ("光晨逸包装有限公司", "梅林镇人民路2号"), True),
        # two characters apart, or another town, or a core of three characters: no key shared
        (
            ("豪宇辉置业有限公司", "梅林镇江东路1号"),
            ("豪宇宇宇辉置业有限公司", "梅林镇人民路2号"),
            False,
        ),
        (
            ("豪宇辉置业有限公司", "梅林镇江东路1号"),
            ("豪宇宇辉置业有限公司", "茅店镇人民路2号"),
            False,
        ),
        (("宏达店", "梅林镇江东路1号"), ("宏店", "梅林镇人民路2号"), False),
    ],
)
def test_one_character_apart_is_blocked_within_a_town(a, b, paired):
    from datapool.matching.blocking import block_keys, candidate_pairs
    from datapool.matching.standardise import standardise
    from datapool.schemas.records import RECORD_SCHEMA, conform

    rows = [
        {"source": "market_supervision", "source_row": 1, "name": a[0], "address": a[1]},
        {"source": "tax_registry", "source_row": 1, "name": b[0], "address": b[1]},
    ]
    std = standardise(conform(pl.DataFrame(rows), RECORD_SCHEMA))
    shared = block_keys(std, ("d",)).group_by("key").agg(pl.col("rid").n_unique().alias("n"))
    assert (shared["n"] == 2).any() is paired
    assert (candidate_pairs(std).height == 1) is paired


def test_batches_give_the_same_standardisation(resolved, monkeypatch):
    # names, addresses and ids are parsed in batches to bound memory; batch edges change nothing
    import datapool.matching.blocking as blocking
    import datapool.matching.standardise as standardise

    ing, res = resolved["2025-05"]
    monkeypatch.setattr(standardise, "BATCH", 997)
    monkeypatch.setattr(blocking, "PAIR_BATCH", 1_000)
    again = standardise.standardise(ing.records)
    assert again.select(res.std.columns).equals(res.std)
    assert blocking.candidate_pairs(again).equals(blocking.candidate_pairs(res.std))


def test_namespace_groups_block_as_one(resolved, monkeypatch):
    # the namespaces are blocked in groups on threads: every namespace is in one group, and
    # grouping them otherwise gives the same pairs
    import datapool.matching.blocking as blocking

    _, res = resolved["2025-05"]
    assert sorted(ns for group in blocking._GROUPS for ns in group) == blocking._NAMESPACES
    pairs = blocking.candidate_pairs(res.std)
    monkeypatch.setattr(blocking, "_GROUPS", (tuple(blocking._NAMESPACES),))
    assert blocking.candidate_pairs(res.std).equals(pairs)


def test_distinct_values_and_each_rows_place_among_them():
    # standardise parses each distinct name once and hands each row its value's parts
    from datapool.columns import dedupe, dedupe_by_join

    values = pl.Series(["宏达", None, "鑫盛", "宏达", None, "", "鑫盛"], dtype=pl.Utf8)
    for values_once, at in (dedupe(values), dedupe_by_join(values)):
        assert len(values_once) == values_once.n_unique() == 4
        assert values_once.gather(at).eq_missing(values).all()


def test_new_ids_of_a_column_are_those_of_each_anchor():
    from datapool.matching.ids import new_id, new_ids

    anchors = [
        "91360721MA35XXXX0A",
        "tax_registry:赣县宏达",
        "",
        "market_supervision:N:宏达建材有限公司",
    ]
    got = new_ids(pl.Series(anchors, dtype=pl.Utf8), TEST_KEY).to_list()
    assert got == [new_id(a, TEST_KEY) for a in anchors]
    assert new_ids(pl.Series([], dtype=pl.Utf8), TEST_KEY).to_list() == []
    # keyed: another key gives other ids, so an id does not reveal its anchor
    assert new_ids(pl.Series(anchors, dtype=pl.Utf8), "another-key-0123456").to_list() != got


def test_strings_for_rapidfuzz_keep_values_holding_the_separator():
    import numpy as np

    from datapool.matching.scoring import Prepared, _strings

    prep = Prepared(pl.DataFrame(), pl.DataFrame({"core": ["宏达\x00建材", None, "鑫盛"]}))
    assert _strings(prep, "core", np.array([2, 0, 1, 2])) == ["鑫盛", "宏达\x00建材", "", "鑫盛"]
    assert _strings(prep, "core", np.array([2, 1])) == ["鑫盛", ""]
    assert _strings(prep, "core", np.array([], dtype=np.int64)) == []


@settings(max_examples=300, deadline=None)
@given(
    st.integers(2, 30).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(
                st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.integers(0, 5)),
                max_size=80,
            ),
            st.lists(st.integers(-1, 3), min_size=n, max_size=n),
            st.lists(st.sampled_from([0, 1, 2, 4]), min_size=n, max_size=n),
            st.lists(st.sampled_from([0, 1]), min_size=n, max_size=n),
        )
    )
)
def test_union_find_by_rank_equals_the_ordered_union_find(case):
    # clustering merges whole components of one rank at once when that keeps the constraints; the
    # result must be the ordered union-find's, edge by edge (states: a USCC hash or -1, a bit per
    # once-only registry, branch or not, in the order of clusters.CONSTRAINTS)
    import numpy as np

    from datapool.matching.clusters import _by_rank, _constrained

    n, edges, uscc, seen, branch = case
    edges = sorted((e for e in edges if e[0] != e[1]), key=lambda e: e[2])
    la, lb = (
        np.array([e[0] for e in edges], dtype=np.int64),
        np.array([e[1] for e in edges], dtype=np.int64),
    )
    rank = np.array([e[2] for e in edges], dtype=np.int64)
    states = [uscc, seen, branch]
    roots, ok = _by_rank(n, la, lb, rank, [np.array(s, dtype=np.int64) for s in states])
    want_roots, want_ok = _constrained(n, [(a, b) for a, b, _ in edges], [list(s) for s in states])
    assert roots.tolist() == want_roots
    assert ok.tolist() == want_ok


def reference_cluster(rows: list[dict], edges: list[tuple]) -> tuple[list[int], list[tuple]]:
    """cluster() written plainly: edges strongest first (rule rank, score to 4 decimals, rid_a,
    rid_b), a union refused when the merged rows would hold two valid USCCs, two rows of a
    registry that lists each entity once, or branch and non-branch rows."""
    from datapool.matching.scoring import RULE_RANK, UNIQUE_SOURCES

    def breaks(members: set[int]) -> bool:
        got = [rows[i] for i in members]
        usccs = {r["uscc"] for r in got if r["uscc_valid"] and r["uscc"] is not None}
        once = [r["source"] for r in got if r["source"] in UNIQUE_SOURCES]
        branches = {bool(r["branch"]) for r in got}
        return len(usccs) > 1 or len(once) > len(set(once)) or len(branches) > 1

    members = {i: {i} for i in range(len(rows))}
    of = list(range(len(rows)))
    accepted = set()
    order = sorted(edges, key=lambda e: (RULE_RANK[e[2]], -round(e[3] * 10_000), e[0], e[1]))
    for a, b, rule, score in order:
        ca, cb = of[a], of[b]
        if ca != cb:
            if breaks(members[ca] | members[cb]):
                continue
            keep, gone = min(ca, cb), max(ca, cb)
            members[keep] |= members.pop(gone)
            for i in members[keep]:
                of[i] = keep
        accepted.add((a, b, rule, score))
    return of, [e for e in edges if e in accepted]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 16).flatmap(
        lambda n: st.tuples(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "uscc": st.sampled_from(["91360704MA35X0XX0B", "91360704A", "B", None]),
                        "uscc_valid": st.sampled_from([True, False, None]),
                        "source": st.sampled_from(
                            [
                                "market_supervision",
                                "civil_affairs",
                                "social_insurance",
                                "tax_registry",
                            ]
                        ),
                        "branch": st.sampled_from([True, False, None]),
                    }
                ),
                min_size=n,
                max_size=n,
            ),
            st.dictionaries(
                st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(
                    lambda p: p[0] < p[1]
                ),
                # few rules and scores, so that equally strong edges meet and their order counts
                st.tuples(
                    st.sampled_from(["uscc", "uscc_typo", "name_fuzzy"]),
                    st.sampled_from([0.8, 0.81234, 1.0]),
                ),
                max_size=60,
            ),
        )
    )
)
@example(  # equally strong edges: the first by (rid_a, rid_b) wins, the other would join X and Y
    (
        [
            {"uscc": u, "uscc_valid": True, "source": "social_insurance", "branch": False}
            for u in ("X", "Y", None, None)
        ],
        {(2, 3): ("uscc", 1.0), (1, 2): ("name_fuzzy", 0.8), (0, 3): ("name_fuzzy", 0.8)},
    )
)
def test_cluster_equals_a_plain_ordered_union_find(case):
    from datapool.matching.clusters import cluster

    rows, pairs = case
    edges = [(a, b, rule, score) for (a, b), (rule, score) in pairs.items()]
    std = pl.DataFrame(
        rows,
        schema={"uscc": pl.Utf8, "uscc_valid": pl.Boolean, "source": pl.Utf8, "branch": pl.Boolean},
    ).with_row_index("rid")
    frame = pl.DataFrame(
        edges,
        orient="row",
        schema={"rid_a": pl.UInt32, "rid_b": pl.UInt32, "rule": pl.Utf8, "score": pl.Float64},
    )
    assign, accepted = cluster(std, frame)
    want_clusters, want_accepted = reference_cluster(rows, edges)
    assert assign.get_column("cluster").to_list() == want_clusters
    assert accepted.rows() == want_accepted


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 12).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(
                st.tuples(
                    st.integers(0, n - 1),
                    st.integers(0, n - 1),
                    st.sampled_from(["uscc", "name", "name_fuzzy"]),
                    st.sampled_from([0.7, 0.8123, 0.95, 1.0]),
                ),
                max_size=40,
            ),
        )
    )
)
def test_each_record_is_explained_by_its_strongest_edge(case):
    # rule rank, then score (higher first), then the edge's (rid_a, rid_b); a record without an edge
    # is a singleton
    from datapool.matching.clusters import record_rules
    from datapool.matching.rules import LEVEL_NAMES, RULE_RANK

    def text(mask: int) -> str:
        return ",".join(name for i, name in enumerate(LEVEL_NAMES) if mask >> i & 1)

    n, raw = case
    pairs = {}
    for a, b, rule, score in raw:
        if a != b:  # each edge gets its own agreed mask, so the chosen edge shows
            pairs.setdefault((min(a, b), max(a, b)), (rule, score, len(pairs) * 37 % 65536))
    accepted = pl.DataFrame(
        [(a, b, *v) for (a, b), v in pairs.items()],
        orient="row",
        schema={
            "rid_a": pl.UInt32,
            "rid_b": pl.UInt32,
            "rule": pl.Utf8,
            "score": pl.Float64,
            "agreed": pl.UInt16,
        },
    )
    got = record_rules(pl.DataFrame({"rid": pl.Series(range(n), dtype=pl.UInt32)}), accepted)
    for rid, *explained in got.select("rid", "rule", "score", "agreed").iter_rows():
        mine = sorted(
            (RULE_RANK[r], -s, a, b, r, s, m)
            for (a, b), (r, s, m) in pairs.items()
            if rid in (a, b)
        )
        assert explained == (
            [mine[0][4], mine[0][5], text(mine[0][6])] if mine else ["singleton", 1.0, ""]
        )


@pytest.mark.parametrize(
    "a,b,swap,road,rule",
    [
        # two neighbouring characters of the 字号 swapped, at one address: rule name_swap
        (
            ("隆锦物流有限公司", "大田乡大塘2村东门路143号"),
            ("锦隆物流有限公司", "大田乡东门路143号"),
            True,
            True,
            "name_swap",
        ),
        (
            ("新天餐饮有限公司", "梅林镇人民路29号"),
            ("天新餐饮有限公司", "梅林人民路29号"),
            True,
            True,
            "name_swap",
        ),
        # a swap at another number of the road is not enough
        (
            ("新天餐饮有限公司", "梅林镇人民路29号"),
            ("天新餐饮有限公司", "梅林镇人民路46号"),
            True,
            True,
            None,
        ),
        # a character changed, or two apart, is no swap (names alike at one address: name_fuzzy)
        (
            ("新天餐饮有限公司", "梅林镇人民路29号"),
            ("新地餐饮有限公司", "梅林镇人民路29号"),
            False,
            True,
            "name_fuzzy",
        ),
        (
            ("宏达兴餐饮有限公司", "梅林镇人民路29号"),
            ("兴达宏餐饮有限公司", "梅林镇人民路29号"),
            False,
            True,
            None,
        ),
        # a character added, on the same road of the same town (another number, or none): name_typo
        (
            ("耀海明稀土有限公司", "大埠乡长塘2社区解放路66号"),
            ("耀海海明稀土有限公司", "大埠乡解放路73号"),
            False,
            True,
            "name_typo",
        ),
        (
            ("佳新餐饮有限公司", "梅林镇桃江社区赣新大道"),
            ("佳达新餐饮有限公司", "梅林镇赣新大道272号"),
            False,
            True,
            "name_typo",
        ),
        # ... not on another road, nor in another town
        (
            ("耀海明稀土有限公司", "大埠乡解放路66号"),
            ("耀海海明稀土有限公司", "大埠乡人民路66号"),
            False,
            False,
            None,
        ),
        (
            ("耀海明稀土有限公司", "大埠乡解放路66号"),
            ("耀海海明稀土有限公司", "梅林镇解放路66号"),
            False,
            False,
            None,
        ),
    ],
)
def test_swapped_characters_and_the_same_road(a, b, swap, road, rule):
    from datapool.matching.scoring import compare, decide, prepare
    from datapool.matching.standardise import standardise
    from datapool.schemas.records import RECORD_SCHEMA, conform

    rows = [
        {"source": "market_supervision", "source_row": 1, "name": a[0], "address": a[1]},
        {"source": "tax_registry", "source_row": 1, "name": b[0], "address": b[1]},
    ]
    std = standardise(conform(pl.DataFrame(rows), RECORD_SCHEMA))
    pair = pl.DataFrame(
        {"rid_a": [0], "rid_b": [1]}, schema={"rid_a": pl.UInt32, "rid_b": pl.UInt32}
    )
    cmp = compare(prepare(std), pair)
    assert cmp.select("core_swap", "road_eq").row(0) == (swap, road)
    out = decide(cmp)
    assert (out["rule"][0] if out.height else None) == rule
