"""Names looked up in the pool (matching/lookup.py): a union's unit, a joint-union member's
employer. The same region-hierarchy-aware name comparison as the registry matcher, a stated order
when several enterprises qualify, and links that never depend on the HMAC key."""

from __future__ import annotations

import polars as pl
import pytest

from datapool.matching.engine import resolve
from datapool.matching.lookup import link_to_pool
from datapool.privacy import TEST_KEY
from datapool.schemas.records import RECORD_SCHEMA, conform

# one registry row per enterprise: (name, USCC or None); a second registry lists the ones in TWICE
POOL = [
    ("江西省赣州市赣县区创锦环保有限责任公司", None),
    ("赣县区宏新合果业有限公司", None),
    ("赣县区宏新合果业有限公司梅林分公司", None),
    ("赣县区诗词商会", None),
    ("赣州市赣县区诗词研究会", None),
    ("赣州诗词商会", None),
    ("信丰县恒兴兴家居有限公司", None),
    ("江西省恒兴兴家居有限公司", None),
    ("赣县区明达建材有限公司", "91360721MA35XXXX0A"),
    ("赣县区明达建材有限公司", "91360721MA35YYYY0B"),
    ("于都县阳信德通商贸有限公司", None),
    ("阳信县德通物流有限公司", None),
    ("于都县阳信德通物流有限公司", None),
    ("企业家协会", None),
    ("赣州企业家协会", None),
]
TWICE = {"赣县区诗词研究会"}


@pytest.fixture(scope="module")
def pool():
    rows = [
        {"source": "market_supervision", "source_row": i, "source_key": f"K{i:02d}", "name": n}
        | ({"id": u} if u else {})
        for i, (n, u) in enumerate(POOL)
    ]
    rows += [
        {
            "source": "tax_registry",
            "source_row": 1,
            "source_key": "T1",
            "name": "赣州市赣县区明达建材有限公司",
            "id": POOL[9][1],
        }
    ]
    records = conform(
        pl.DataFrame(rows, infer_schema_length=None).with_columns(
            pl.lit(True).alias("active"), pl.lit("存续").alias("status")
        ),
        RECORD_SCHEMA,
    )
    return resolve(records, None, TEST_KEY)


def _names(res, links: pl.DataFrame) -> list[str | None]:
    """Each link's enterprise as the name its market-supervision row gives (None: no link)."""
    names = (
        res.links.filter(pl.col("source") == "market_supervision")
        .join(
            pl.DataFrame({"source_row": list(range(len(POOL))), "pool_name": [n for n, _ in POOL]}),
            on="source_row",
        )
        .group_by("enterprise_id")
        .agg(pl.col("pool_name").first(), pl.col("source_row").min())
    )
    j = links.join(names, on="enterprise_id", how="left").sort("qid")
    return [
        None if e is None else f"{n}#{r}"
        for e, n, r in j.select("enterprise_id", "pool_name", "source_row").iter_rows()
    ]


@pytest.mark.parametrize(
    "query,expected",
    [
        # the region written at any level of the hierarchy, or none
        ("赣州创锦环保有限公司", "江西省赣州市赣县区创锦环保有限责任公司#0"),
        ("江西省创锦环保有限公司", "江西省赣州市赣县区创锦环保有限责任公司#0"),
        ("创锦环保有限公司", "江西省赣州市赣县区创锦环保有限责任公司#0"),
        ("赣县创锦环保有限责任公司", "江西省赣州市赣县区创锦环保有限责任公司#0"),
        # traditional characters, 有限公司 for 有限责任公司, a bracketed region
        ("贛縣區創錦環保有限公司", "江西省赣州市赣县区创锦环保有限责任公司#0"),
        ("创锦环保(赣州)有限公司", "江西省赣州市赣县区创锦环保有限责任公司#0"),
        # a disjoint region is another enterprise
        ("信丰县创锦环保有限公司", None),
        # 分公司 kept distinct from its head office, and the head office from it
        ("江西省宏新合果业有限责任公司梅林分公司", "赣县区宏新合果业有限公司梅林分公司#2"),
        ("赣州宏新合果业有限公司", "赣县区宏新合果业有限公司#1"),
        ("赣县区宏新合果业有限公司大田分公司", None),
        # another organisation form is another organisation
        ("赣县诗词研究会", "赣州市赣县区诗词研究会#4"),
        ("赣县区诗词协会", None),
        # several qualify: the same region before regions at two levels
        ("赣县诗词商会", "赣县区诗词商会#3"),
        ("赣州市诗词商会", "赣州诗词商会#5"),
        ("江西省恒兴兴家居有限公司", "江西省恒兴兴家居有限公司#7"),
        ("信丰恒兴兴家居有限公司", "信丰县恒兴兴家居有限公司#6"),
        # ... then a side without a region (赣州 and 江西 alike): the order of registry keys
        ("恒兴兴家居有限公司", "信丰县恒兴兴家居有限公司#6"),
        # ... the enterprise more registries list, before the smaller registry key
        ("明达建材有限公司", "赣县区明达建材有限公司#9"),
        # a 字号 that lost or doubled a character, after every name that agrees
        ("江西省创锦锦环保有限公司", "江西省赣州市赣县区创锦环保有限责任公司#0"),
        ("赣县恒兴家居有限公司", "江西省恒兴兴家居有限公司#7"),  # 信丰 is not 赣县
        ("江西恒兴家居有限公司", "江西省恒兴兴家居有限公司#7"),
        ("赣县区宏合果业有限公司", "赣县区宏新合果业有限公司#1"),
        ("赣县区宏合业有限公司", None),  # two characters apart
        # a short region name leading the name is its region, or begins its 字号: looked up both
        # ways, the look-up's order decides (阳信县's 德通物流 is in the same region)
        ("阳信德通商贸有限公司", "于都县阳信德通商贸有限公司#10"),
        ("阳信德通物流有限公司", "阳信县德通物流有限公司#11"),
        ("阳信县德通商贸有限公司", None),
        ("于都阳信德通物流有限公司", "于都县阳信德通物流有限公司#12"),
    ],
)
def test_lookup(pool, query, expected):
    links = link_to_pool(pl.DataFrame({"qid": [0], "name": [query]}), pool)
    assert _names(pool, links) == [expected]


@pytest.mark.parametrize(
    "names,expected",
    [
        # several names of one thing: the first enterprise in the order over all of them
        (["恒兴兴家居有限公司", "江西省恒兴兴家居有限公司"], "江西省恒兴兴家居有限公司#7"),
        (["江西省恒兴兴家居有限公司", "恒兴兴家居有限公司"], "江西省恒兴兴家居有限公司#7"),
        (["赣县诗词商会", "赣州市诗词商会"], "赣县区诗词商会#3"),
        (["宏新合果业公司", "赣县区宏安新合果业有限公司"], "赣县区宏新合果业有限公司#1"),
        (["众辉鞋业有限公司", "赣县区诗词协会"], None),
        # two names without a region do not share one: the name that gives it decides
        (["企业家协会", "赣州企业家协会"], "赣州企业家协会#14"),
        (["企业家协会"], "企业家协会#13"),
    ],
)
def test_one_query_several_names(pool, names, expected):
    queries = pl.DataFrame({"qid": [7] * len(names), "name": names})
    links = link_to_pool(queries, pool)
    assert links["qid"].to_list() == [7]
    assert _names(pool, links) == [expected]


@pytest.mark.parametrize(
    "unit_name,union_name,names",
    [
        # a 基层工会 is named after its unit: its name less the ending is looked up too
        (
            "祥合纺织有限公司",
            "宁都县祥合纺织有限公司工会委员会",
            ["祥合纺织有限公司", "宁都县祥合纺织有限公司"],
        ),
        ("宏达建材公司", "宏达建材有限公司工会", ["宏达建材公司", "宏达建材有限公司"]),
        ("宏达集团", "宏达集团有限公司工会联合会", ["宏达集团", "宏达集团有限公司"]),
        ("宏达建材有限公司", "宏达建材有限公司工会委员会", ["宏达建材有限公司"]),  # once
        (None, "宏达建材有限公司工会委员会", ["宏达建材有限公司"]),
        ("宏达建材有限公司", "宏达建材有限公司职工之家", ["宏达建材有限公司"]),  # no ending
        ("宏达建材有限公司", "宏达工会", ["宏达建材有限公司"]),  # too short to name a unit
    ],
)
def test_a_union_names_its_unit_twice(unit_name, union_name, names):
    from datapool.coverage.diff import unit_names

    singles = pl.DataFrame(
        {"qid": [0], "unit_name": [unit_name], "union_name": [union_name], "unit_uscc": [None]},
        schema={"qid": pl.UInt32, "unit_name": pl.Utf8, "union_name": pl.Utf8,
                "unit_uscc": pl.Utf8},
    )  # fmt: skip
    assert unit_names(singles)["name"].to_list() == names


def test_no_queries_no_links(pool):
    links = link_to_pool(
        pl.DataFrame({"qid": [], "name": []}, schema={"qid": pl.Int64, "name": pl.Utf8}), pool
    )
    assert links.height == 0 and links.columns == ["qid", "enterprise_id", "rule", "score"]


def test_links_do_not_depend_on_the_key(resolved):
    """The same records under two HMAC keys (so two sets of new enterprise ids) link every union
    unit and member employer of the samples to the same records."""
    from conftest import MONTHS, SAMPLES

    from datapool.connectors.members import read_members

    ing, res = resolved[MONTHS[0]]
    other = resolve(ing.records, None, "another-key-of-sixteen-chars")
    assert set(other.enterprises["enterprise_id"]).isdisjoint(set(res.enterprises["enterprise_id"]))
    orgs, members = read_members(f"sqlite:///{SAMPLES / 'members.sqlite'}")
    names = (
        pl.concat(
            [
                orgs.select(pl.col("unit_name").alias("name")),
                members.select(pl.col("employer_name").alias("name")),
            ]
        )
        .drop_nulls()
        .unique()
        .sort("name")
    )
    queries = names.with_row_index("qid").with_columns(pl.col("qid").cast(pl.Int64))

    def linked(r) -> pl.DataFrame:
        first = r.links.group_by("enterprise_id").agg(
            pl.col("source").min(), pl.col("source_row").min()
        )
        return (
            link_to_pool(queries, r)
            .join(first, on="enterprise_id", how="left")
            .drop("enterprise_id")
        )

    a, b = linked(res), linked(other)
    assert a.filter(pl.col("source").is_not_null()).height > 100
    assert a.equals(b)


# one 字号 + industry in six counties of 赣州 (a province's month holds thousands of such records)
COMMON = ["赣县区", "信丰县", "于都县", "宁都县", "瑞金市", "南康区"]


@pytest.mark.parametrize(
    "query,expected",
    [
        # the block (6 records) is over the bound (3 here): narrowed by the name's region
        ("赣县宏达建材有限公司", "赣县区"),
        ("瑞金市宏达建材有限公司", "瑞金市"),
        ("瑞金市宏达达建材有限公司", "瑞金市"),  # one character apart: the same bound
        # no region, or one holding more records than the bound: no candidate from the block
        ("宏达建材有限公司", None),
        ("赣州宏达建材有限公司", None),
        ("赣州宏达达建材有限公司", None),
    ],
)
def test_a_common_name_is_looked_up_within_its_region(monkeypatch, query, expected):
    """Lookups' blocks are bounded (lookup.LOOKUP_BLOCK, WEAK_BLOCK for a core one character
    apart): a key more pool records hold is
    narrowed by the looked-up name's region, and gives no candidate when that leaves too many,
    so each name is compared with a bounded number of records at any scale."""
    from datapool.matching import lookup

    monkeypatch.setattr(lookup, "LOOKUP_BLOCK", 3)
    monkeypatch.setattr(lookup, "WEAK_BLOCK", 3)
    records = conform(
        pl.DataFrame(
            {
                "source": ["market_supervision"] * len(COMMON),
                "source_row": list(range(len(COMMON))),
                "source_key": [f"K{i}" for i in range(len(COMMON))],
                "name": [f"{c}宏达建材有限公司" for c in COMMON],
            }
        ).with_columns(pl.lit(True).alias("active"), pl.lit("存续").alias("status")),
        RECORD_SCHEMA,
    )
    res = resolve(records, None, TEST_KEY)
    assert res.enterprises.height == len(COMMON)
    links = link_to_pool(pl.DataFrame({"qid": [0], "name": [query]}), res)
    row = res.links.join(links, on="enterprise_id").get_column("source_row").to_list()
    assert [COMMON[r] for r in row] == ([expected] if expected else [])


@pytest.mark.parametrize("block", [None, 2])
def test_looked_up_a_share_of_the_keys_at_a_time(monkeypatch, resolved, block):
    """The pool's key rows bounded and paired in shares (lookup.KEY_ROWS_AT_ONCE, each key in
    one share) give exactly the candidates of one pass over the samples' union units and member
    employers, with blocks over the bound narrowed by region (``block``: a bound of 2) too."""
    from conftest import MONTHS, SAMPLES

    from datapool.connectors.members import read_members
    from datapool.matching import lookup

    if block is not None:
        monkeypatch.setattr(lookup, "LOOKUP_BLOCK", block)
        monkeypatch.setattr(lookup, "WEAK_BLOCK", block)
    _ing, res = resolved[MONTHS[0]]
    orgs, members = read_members(f"sqlite:///{SAMPLES / 'members.sqlite'}")
    names = pl.concat(
        [
            orgs.select(pl.col("unit_name").alias("name")),
            members.select(pl.col("employer_name").alias("name")),
        ]
    )
    queries = names.drop_nulls().unique().sort("name").with_row_index("qid")
    queries = queries.with_columns(pl.col("qid").cast(pl.Int64))
    order = ["qid", "enterprise_id", "rule"]
    whole = lookup.candidates(queries, res).sort(order)
    monkeypatch.setattr(lookup, "KEY_ROWS_AT_ONCE", 1_000)
    shared = lookup.candidates(queries, res).sort(order)
    assert whole.height > 100
    assert shared.equals(whole)
