"""Matching partitioned by county (matching/partition.py) gives exactly the single run's links.

* which partition a row is in: its USCC's county, else its address's, else the fallback;
* every candidate pair is built exactly once, in its partition or by the cross pass, also when
  blocks are cut by the month's limits (tiny limits make many blocks oversized);
* the cross pass needs more than identifiers, phone hashes and exact names (measured, shown);
* a real Prefect flow run on a local Dask cluster of two workers, partitioned, publishes the
  same tables (enterprise_link, enterprise, match_edge...) as the single-process run.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datapool.matching import blocking, engine, partition
from datapool.matching.standardise import standardise
from datapool.privacy import TEST_KEY
from datapool.settings import Settings
from datapool.stages import ingest

MONTH = "2025-05"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """A generated month of 3,000 enterprises (about 8,000 rows in some 18 counties)."""
    from datapool.samples import generate

    root = tmp_path_factory.mktemp("partition-world")
    generate(root, 3000, [MONTH], seed=5, members=False)
    return root


@pytest.fixture(scope="module")
def records(world) -> pl.DataFrame:
    return ingest(Settings(input_root=world, hmac_key=TEST_KEY), MONTH).records


def _row(uscc: str | None, address: str | None, name: str) -> dict[str, object]:
    return {"source": "tax", "source_row": 1, "id": uscc, "name": name, "address": address}


# (USCC, address, partition): USCC check characters are computed by the generator's helper
CASES = [
    ("360704", "梅林镇红旗大道3号", 360704),  # a county's USCC
    ("360721", "梅林镇红旗大道3号", 360704),  # 赣县's code before 2016: today's 赣县区
    ("360722", "江西省赣州市赣县区梅林镇", 360722),  # the USCC comes first
    ("360700", "江西省赣州市赣县区梅林镇", 360704),  # a prefecture's USCC: the address's county
    ("360700", "赣县梅林镇红旗大道3号", 360704),  # 赣县 is a former full name
    (None, "赣州信丰嘉定镇某路1号", 360722),  # a short name after its prefecture
    (None, "江口镇红旗大道3号", 360700),  # 江口 (县, in 贵州) is a town here: the name's 赣州
    ("360700", "梅林镇红旗大道3号", 360700),  # no county anywhere: the USCC's prefecture
    ("360000", None, 360700),  # a province's USCC: the prefecture of the name's region
]
# the same with a name naming no region: (USCC, address, partition)
NAMELESS = [
    (None, "梅林镇红旗大道3号", partition.FALLBACK),  # none: the fallback partition
    ("360000", "梅林镇红旗大道3号", partition.FALLBACK),  # a province is not a partition
    (None, "赣州信丰嘉定镇某路1号", 360722),
    (None, None, partition.FALLBACK),
]


def _uscc(division: str | None, seq: int) -> str | None:
    from datapool.samples.world import make_uscc

    if division is None:
        return None
    import random

    return make_uscc(random.Random(seq), "91", division)


@pytest.mark.parametrize(
    ("name", "cases"), [("赣州宏达建材有限公司", CASES), ("宏达建材有限公司", NAMELESS)]
)
def test_county_of_each_kind_of_row(name, cases):
    rows = pl.DataFrame(
        [
            {**_row(_uscc(code, i), address, name), "source_row": i}
            for i, (code, address, _) in enumerate(cases)
        ],
        schema_overrides={"id": pl.Utf8, "address": pl.Utf8},
    )
    from datapool.schemas.records import RECORD_SCHEMA, conform

    std = standardise(conform(rows, RECORD_SCHEMA))
    assert partition.county_of(std).to_list() == [want for *_, want in cases]


@given(st.lists(st.integers(0, 40), min_size=1, max_size=300), st.integers(1, 12))
@settings(max_examples=60, deadline=None)
def test_partitions_are_packed_into_balanced_bins(codes, n):
    part = pl.Series("partition", codes, dtype=pl.Int32)
    tasks = partition.bins(part, n)
    flat = [c for t in tasks for c in t]
    assert sorted(flat) == sorted(set(codes))  # every partition in exactly one bin
    assert len(tasks) == min(n, len(set(codes)))
    rows = {c: codes.count(c) for c in set(codes)}
    loads = [sum(rows[c] for c in t) for t in tasks]
    assert loads == sorted(loads, reverse=True)  # the largest bin first (submitted first)
    # largest partition first into the emptiest bin: no bin exceeds an even share by more than
    # one partition
    assert max(loads) <= len(codes) / len(tasks) + max(rows.values())


def _pairs_of_plan(std: pl.DataFrame, split: partition.Plan) -> pl.DataFrame:
    """The candidate pairs of every partition (in the month's rids) and of the cross pass."""
    out = [split.cross]
    for code in split.partition.unique().to_list():
        part = std.filter(split.partition == code)
        local = part.with_columns(pl.int_range(part.height, dtype=pl.UInt32).alias("rid"))
        pairs = blocking.candidate_pairs(local, dropped=split.oversized)
        rid = part.get_column("rid")
        out.append(
            pl.DataFrame(
                {
                    "rid_a": rid.gather(pairs["rid_a"]).cast(pl.UInt32),
                    "rid_b": rid.gather(pairs["rid_b"]).cast(pl.UInt32),
                }
            )
        )
    return pl.concat(out)


@pytest.mark.parametrize("limits", ["as shipped", "tiny"])
def test_each_candidate_pair_is_built_once(records, monkeypatch, limits):
    if limits == "tiny":  # many blocks over their limit, in the month but not in a partition
        monkeypatch.setattr(blocking, "WEAK_BLOCK", 3)
        monkeypatch.setattr(blocking, "USCC_BLOCK", 3)
    std = standardise(records)
    split = partition.plan(std, tasks=5)
    assert split.partition.len() == std.height  # one partition per row
    built = _pairs_of_plan(std, split)
    single = blocking.candidate_pairs(std)
    assert built.height == single.height  # none twice...
    assert built.sort("rid_a", "rid_b").equals(single.sort("rid_a", "rid_b"))  # ...none missing
    if limits == "tiny":
        assert split.oversized.height > 0


@pytest.mark.parametrize("tasks", [1, 4, "one per partition"])
def test_partitioned_resolve_equals_single_process(records, tasks):
    single = engine.resolve(records, None, TEST_KEY)
    if tasks == "one per partition":  # every county its own bin, so its own Dask task
        tasks = partition.county_of(standardise(records)).n_unique()
    split = partition.resolve(records, None, TEST_KEY, tasks=tasks)
    assert split.counts == single.counts
    assert split.links.equals(single.links)
    assert split.edges.equals(single.edges)
    assert split.enterprises.equals(single.enterprises)
    # the pairs the review queue is made of, kept by the partitions' and the cross pass's scoring
    assert single.unsure is not None and single.unsure.height > 0
    assert split.unsure is not None and split.unsure.equals(single.unsure)


def test_an_enterprise_in_two_counties_of_different_bins_is_one(records):
    """An enterprise whose rows are in two counties that land in different bins (tasks, so
    different Dask workers) is still one enterprise: its pairs across them come from the cross
    pass, whatever the binning."""
    std = standardise(records)
    split = partition.plan(std, tasks=2)
    bin_of = {code: i for i, codes in enumerate(split.tasks) for code in codes}
    single = engine.resolve(records, None, TEST_KEY)
    rows = single.links.join(
        std.select("source", "source_row", partition.county_of(std).alias("partition")),
        on=["source", "source_row"],
    ).with_columns(pl.col("partition").replace_strict(bin_of, return_dtype=pl.Int32).alias("bin"))
    spanning = rows.group_by("enterprise_id").agg(pl.col("bin").n_unique().alias("bins"))
    across = spanning.filter(pl.col("bins") > 1)
    assert across.height > 0  # the generated month has such enterprises
    split_res = partition.resolve(records, None, TEST_KEY, tasks=2)
    assert split_res.links.equals(single.links)
    one = across["enterprise_id"][0]
    assert split_res.links.filter(pl.col("enterprise_id") == one).height == (
        single.links.filter(pl.col("enterprise_id") == one).height
    )


def test_a_task_needs_only_the_match_columns(records):
    """Blocking and scoring read only partition.MATCH_COLUMNS: a partition matched from those
    alone gives what it gives from every standardised column (a column they read and the list
    lacks would raise or change the pairs)."""
    from datapool.matching.weights import learn

    std = standardise(records)
    split = partition.plan(std)
    weights = learn(std)
    full, n = partition.match_partition(std, split.oversized, weights)
    got, m = partition.match_partition(
        std.select(partition.MATCH_COLUMNS), split.oversized, weights
    )
    assert got.accepted.equals(full.accepted) and got.unsure.equals(full.unsure) and m == n


def test_cross_pass_needs_more_than_identifiers_phones_and_exact_names(records):
    """The residual a cross pass on identifiers, phone hashes and exact names alone would leave:
    accepted pairs across partitions that share none of those. The cross pass takes every key
    kind, so the residual of the real one is zero (the tests above)."""
    from datapool.matching.scoring import score_pairs
    from datapool.matching.weights import learn

    std = standardise(records)
    split = partition.plan(std)
    accepted = score_pairs(std, split.cross, learn(std)).select("rid_a", "rid_b")
    strong = blocking.block_keys(std, ("u", "o", "r", "p")).select("rid", "key")
    names = std.select("rid", pl.col("name_clean").hash(99).alias("key")).filter(
        std["name_clean"].str.len_chars() > 0
    )
    keys = pl.concat([strong, names])
    shared = (
        keys.join(keys, on="key", suffix="_b")
        .filter(pl.col("rid") < pl.col("rid_b"))
        .select(pl.col("rid").cast(pl.UInt32).alias("rid_a"), pl.col("rid_b").cast(pl.UInt32))
        .unique()
    )
    missed = accepted.join(shared, on=["rid_a", "rid_b"], how="anti")
    # on this world: a few hundred of the cross pass's accepted pairs (the same 字号 + industry
    # read as pinyin, a same or close address); docs/scale.md gives the figures at 200k
    assert accepted.height > 0
    assert missed.height > 0
    print(f"cross pass: {accepted.height} accepted pairs, {missed.height} sharing no identifier, "
          "phone or exact name")  # fmt: skip


@pytest.mark.prefect
@pytest.mark.slow
def test_partitioned_dask_flow_publishes_the_same_tables(sample_run, samples, tmp_path):
    """A real Prefect flow run per month on a local Dask cluster of two worker processes,
    partitioned by county, against the single-process run of the same months."""
    pytest.importorskip("prefect_dask")
    from test_faults import COMPARE, snapshot_tables

    from datapool.flows.runners import RunOptions

    url = f"sqlite:///{tmp_path / 'partitioned.sqlite'}"
    opts = RunOptions(
        Settings(input_root=samples, warehouse_url=url, out_dir=tmp_path),
        workers=2,
        partition="county",
        quiet=True,
    )
    for month in ("2025-05", "2025-06"):
        opts.run(month)
    # the validation task ran on a worker: no checker process was left idle in this one
    from datapool import validation_process

    assert not validation_process._CHECKERS.procs
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterName

    with get_client(sync_client=True) as client:  # the counties really were tasks of their own
        tasks = client.read_task_runs(
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_="match-partitions"))
        )
    assert len(tasks) >= 2 and all(t.state and t.state.is_completed() for t in tasks)
    ours, single = snapshot_tables(url, "2025-06"), snapshot_tables(sample_run["url"], "2025-06")
    assert ours["enterprise_link"].height > 0
    for t in COMPARE:
        assert ours[t].equals(single[t]), t
