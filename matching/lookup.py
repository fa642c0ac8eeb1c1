"""Look names up in the resolved pool: a union's unit, a joint-union member's employer.

A looked-up name is a name alone (now and then with a code): the clerk who typed it wrote its
region at any level or none, 有限公司 or 有限责任公司, in traditional characters or not. It is
standardised, blocked and scored as a registry row (the same name parts, the same region
hierarchy, the same rule table, rules.py), and a name alone may also link through the rule
``lookup_name``: the same 字号 + industry, regions that agree at any level, and the same
organisation form.

When several enterprises qualify, the order is stated on the data, never on the enterprise ids
(new ids are keyed hashes, so an order on them would change with the key):

1. a link by identifier first (the rule table's order: USCC, organisation code, 注册号, USCC typo);
2. then by the region: the same region, then a side without one (two names without a region
   do not share one: 企业家协会 is no nearer 企业家协会 than 赣州企业家协会), then regions at
   two levels of the hierarchy (赣县诗词商会 is 赣县区诗词商会 before it is 赣州诗词商会);
3. then the higher score (the names' likeness), then an active enterprise;
4. then the enterprise more registries list, then the one with the smallest registry key.

A name one character apart (rule ``lookup_typo``: 宏新合果业 for 宏安新合果业) comes after every
name that agrees, whatever the region.

One query may come as several names (rows sharing a ``qid``: a union's unit as its clerk typed it
and as the union's own name gives it), and a name led by a short region name (阳信德通商贸) is also
looked up the other way, with those characters as the beginning of its 字号 (a name alone cannot
tell which; standardise.py decides by the USCC when there is one): each query takes the first
enterprise in the order above over all its names and readings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from datapool.matching.blocking import (
    MAX_BLOCK,
    NAMESPACES,
    NEVER_DROPPED,
    ONE_OFF_AT,
    ONE_OFF_MIN,
    USCC_BLOCK,
    WEAK_BLOCK,
    block_keys,
)
from datapool.matching.rules import RULE_RANK
from datapool.matching.scoring import LOOKUP_SOURCE, PREPARED_FROM, score_pairs
from datapool.matching.standardise import other_reading, standardise
from datapool.schemas.records import RECORD_SCHEMA, conform

if TYPE_CHECKING:
    from datapool.matching.engine import Resolution

# the rules that link by an identifier: ranked in the rule table's order, before any name rule
IDENTIFIER_RULES = ("uscc", "org_code", "regno", "uscc_typo")
# a name one character apart comes after every name that agrees
TYPO_RULES = ("lookup_typo",)
_TIER = {
    r: RULE_RANK[r] if r in IDENTIFIER_RULES else len(IDENTIFIER_RULES) + (r in TYPO_RULES)
    for r in RULE_RANK
}
# a lookup's block: a key (or a core one character apart) more of the pool's records hold is
# narrowed by the looked-up name's region, and dropped when that leaves more (_bounded_pairs):
# without a bound a common 字号 paired each name with thousands of records of a province's month
LOOKUP_BLOCK = MAX_BLOCK
# a USCC's block is bounded as in blocking: by USCC_BLOCK
_IDENTIFIER_NS = [NAMESPACES.index(ns) for ns in NEVER_DROPPED]
ONE_OFF_NS = len(NAMESPACES)  # the pool cores one character from a looked-up name's (no town)
# the pool's key rows bounded and paired at once (_bounded_pairs_by_key)
KEY_ROWS_AT_ONCE = 4_000_000
LINK_SCHEMA = {"qid": pl.Int64, "enterprise_id": pl.Utf8, "rule": pl.Utf8, "score": pl.Float64}


def candidates(queries: pl.DataFrame, res: Resolution) -> pl.DataFrame:
    """Every (query, enterprise) a rule links, with what orders them (see the module docstring).

    Columns: ``qid, enterprise_id, rule, score, tier, region_rank, active, sources, first_key``;
    one row per query and enterprise (its best record pair).
    """
    offset = res.std.height
    q = conform(
        queries.with_columns(
            pl.lit(LOOKUP_SOURCE).alias("source"), pl.col("qid").cast(pl.Int64).alias("source_row")
        ),
        RECORD_SCHEMA,
    )
    qstd = standardise(q, readings=True)
    # a name led by a short region name, looked up both ways (a row more, same qid)
    other = (qstd.get_column("lead_region").is_not_null() & ~qstd.get_column("branch")).arg_true()
    if len(other):
        alt = other_reading(qstd, other).select(pl.all().gather(other))
        qstd = pl.concat(
            [
                qstd,
                alt.with_columns(
                    pl.int_range(qstd.height, qstd.height + len(other))
                    .cast(qstd.schema["rid"])
                    .alias("rid")
                ),
            ],
        )
    qstd = qstd.with_columns((pl.col("rid") + offset).alias("rid"))
    # each row's region, pool and names (the rid is the row's place in both)
    region = pl.concat([res.std.select("rid", "region_code"), qstd.select("rid", "region_code")])
    qk = block_keys(qstd)
    # the pool's keys one namespace at a time, only those a query holds: the whole pool's keys
    # (ten or so a record) are never held at once, and a namespace no query has a key in (the
    # town's, as a looked-up name has no town) is not keyed at all
    wanted = qk.select("ns", "key").unique()
    held = set(wanted.get_column("ns").unique().to_list())
    parts = [
        block_keys(res.std, [ns]).join(wanted, on=["ns", "key"], how="semi")
        for i, ns in enumerate(NAMESPACES)
        if i in held
    ]
    pk = pl.concat(parts) if parts else qk.clear()
    oq, op = _one_off_keys(res.std, qstd)
    pairs = _unique_sorted(
        _bounded_pairs_by_key(pl.concat([qk, oq]).unique(), pl.concat([pk, op]), region)
    )
    # only the rows the pairs hold are scored: a few names looked up would otherwise prepare the
    # features of the whole pool (a province's month: gigabytes)
    used = pl.concat([pairs.get_column("rid_a"), pairs.get_column("rid_b")]).unique().sort()
    cols = list(dict.fromkeys(PREPARED_FROM))
    rows = pl.concat(
        [
            res.std.select(cols).select(pl.all().gather(used.filter(used < offset))),
            qstd.select(cols).select(pl.all().gather(used.filter(used >= offset) - offset)),
        ],
        how="diagonal_relaxed",
    )
    scored = score_pairs(
        rows.with_columns(pl.int_range(pl.len()).cast(rows.schema["rid"]).alias("rid")),
        pairs.select(
            used.search_sorted(pairs.get_column("rid_a")).alias("rid_a"),
            used.search_sorted(pairs.get_column("rid_b")).alias("rid_b"),
        ),
        res.weights,
    )
    scored = scored.with_columns(
        used.gather(scored.get_column("rid_a")).alias("rid_a"),
        used.gather(scored.get_column("rid_b")).alias("rid_b"),
    )
    del rows
    rid_to_ent = (  # of the pool rows scored only
        res.std.select("rid", "source", "source_row")
        .select(pl.all().gather(scored.get_column("rid_a").unique()))
        .join(
            res.links.select("source", "source_row", "enterprise_id"), on=["source", "source_row"]
        )
        .select("rid", "enterprise_id")
    )
    c = pl.col
    best = (
        scored.join(rid_to_ent, left_on="rid_a", right_on="rid")
        .join(region, left_on="rid_a", right_on="rid")
        .join(region, left_on="rid_b", right_on="rid", suffix="_b")
        .with_columns(
            c("rule").replace_strict(_TIER, return_dtype=pl.Int32).alias("tier"),
            pl.when((c("region_code") == c("region_code_b")) & (c("region_code") != 0))
            .then(0)
            .when((c("region_code") == 0) | (c("region_code_b") == 0))
            .then(1)
            .otherwise(2)
            .alias("region_rank"),
            (c("rid_b") - offset).cast(pl.Int64).alias("_q"),
        )
        .sort(
            "_q", "enterprise_id", "tier", "region_rank", "score", descending=[*[False] * 4, True]
        )
        .unique(["_q", "enterprise_id"], keep="first")
    )
    ents = best.select("enterprise_id").unique()
    order = (
        res.links.join(ents, on="enterprise_id")
        .group_by("enterprise_id")
        .agg(
            c("source").n_unique().alias("sources"),
            (c("source") + ":" + c("source_key").fill_null("")).min().alias("first_key"),
        )
        .join(res.enterprises.select("enterprise_id", "active"), on="enterprise_id", how="left")
    )
    qid = qstd.select((c("rid") - offset).cast(pl.Int64).alias("_q"), c("source_row").alias("qid"))
    return (
        best.join(order, on="enterprise_id", how="left")
        .join(qid, on="_q")
        .select(
            "qid",
            "enterprise_id",
            "rule",
            "score",
            "tier",
            "region_rank",
            c("active").fill_null(False),
            "sources",
            "first_key",
        )
    )


def _unique_sorted(pairs: pl.DataFrame) -> pl.DataFrame:
    """``pairs.unique().sort("rid_a", "rid_b")``, each pair packed into one 64-bit number first
    (the 16M pairs of a province's month, 7.9M distinct: 0.8 CPU s instead of 5.6)."""
    high = 1 << 32
    packed = (
        pairs.select(pl.col("rid_a").cast(pl.UInt64) * high + pl.col("rid_b").cast(pl.UInt64))
        .to_series()
        .unique()
        .sort()
        .to_frame("p")
    )
    return packed.select(
        (pl.col("p") // high).cast(pl.UInt32).alias("rid_a"),
        (pl.col("p") % high).cast(pl.UInt32).alias("rid_b"),
    )


def _variants(df: pl.DataFrame, keep: pl.Series | None = None) -> pl.DataFrame:
    """``(rid, v)``: the hash of each core of 3+ characters as written and, of 4+, with each of its
    first ``ONE_OFF_AT`` characters left out (the keys of blocking's namespace "d", without the
    town). Each variant's text is hashed as it is made (the pool's distinct cores have about 7
    variants each: held as text, gigabytes at a province's month); ``keep``: only these hashes.

    A hash collision only adds a candidate pair (pairs are scored on their fields).
    """
    core = pl.col("core").fill_null("")
    n = core.str.len_chars()
    parts = []
    for i in range(-1, ONE_OFF_AT):
        at = df.filter(n >= ONE_OFF_MIN - 1) if i < 0 else df.filter((n >= ONE_OFF_MIN) & (n > i))
        v = core if i < 0 else core.str.slice(0, i) + core.str.slice(i + 1)
        part = at.select("rid", v.hash(seed=ONE_OFF_NS).alias("v"))
        parts.append(part if keep is None else part.filter(pl.col("v").is_in(keep.implode())))
    return pl.concat(parts)


def _one_off_keys(std: pl.DataFrame, qstd: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keys ``(rid, ns, key)`` of the looked-up names (``qstd``) and of the pool's records
    (``std``) whose cores are one character apart (a looked-up name has no town to block within):
    the variants of :func:`_variants`, in namespace :data:`ONE_OFF_NS`, so a variant many
    records share is a block bounded like any other (:func:`_bounded_pairs`). The pool's
    variants are made once per distinct core, and only those a looked-up name holds are kept."""
    ns = pl.lit(ONE_OFF_NS, dtype=pl.UInt8).alias("ns")
    qv = _variants(qstd.select("rid", "core"))
    cores = std.select("core").unique().drop_nulls().with_row_index("rid")
    pv = _variants(cores, qv.get_column("v").unique())
    at = pv.join(cores, on="rid").select("core", "v")
    del cores, pv
    p = std.select("rid", "core").join(at, on="core").select("rid", ns, pl.col("v").alias("key"))
    q = qv.select(pl.col("rid").cast(qstd.schema["rid"]), ns, pl.col("v").alias("key"))
    return q, p


def _bounded_pairs_by_key(qk: pl.DataFrame, pk: pl.DataFrame, region: pl.DataFrame) -> pl.DataFrame:
    """:func:`_bounded_pairs` a share of the keys at a time: the pool's key rows in shares of at
    most :data:`KEY_ROWS_AT_ONCE`, each ``(ns, key)`` in one share (by its hash), so that each
    share's blocks are whole and its pairs are exactly the ones the whole would give (a block's
    bound and its narrowing by region look at that block only). One share up to that many rows
    (the 200,000-enterprise month's pool holds 0.9M); at 2M enterprises the regions of every
    pool record in a big block, at every level, were the member diff's peak."""
    shares = -(-pk.height // KEY_ROWS_AT_ONCE)
    if shares <= 1:
        return _bounded_pairs(qk, pk, region)
    share = pl.col("key") % shares
    return pl.concat(
        [
            _bounded_pairs(qk.filter(share == i), pk.filter(share == i), region)
            for i in range(shares)
        ]
    )


def _bounded_pairs(qk: pl.DataFrame, pk: pl.DataFrame, region: pl.DataFrame) -> pl.DataFrame:
    """Candidate pairs ``(rid_a, rid_b)`` of a pool record and a looked-up name sharing a key,
    each block bounded so that the pairs grow linearly with the names looked up.

    A key the pool holds at most ``LOOKUP_BLOCK`` times (a USCC ``USCC_BLOCK`` times, a core
    one character apart ``WEAK_BLOCK`` times, as blocking bounds them) pairs every name holding it
    with all of those records. A bigger block (a common 字号 + industry: in a province's month,
    thousands of records) is narrowed by the name's region: a name with a region pairs with the
    block's records whose region lies within it or
    contains it (a record without a region is left out), and only when those are at most the
    bound; a name without a region, or whose narrowed block is still too big, gets no pair from
    that key.
    """
    size = pk.group_by("ns", "key").agg(pl.len().alias("_n"))
    ns = pl.col("ns")
    bound = (
        pl.when(ns.is_in(_IDENTIFIER_NS))
        .then(USCC_BLOCK)
        .when(ns == ONE_OFF_NS)
        .then(WEAK_BLOCK)
        .otherwise(LOOKUP_BLOCK)
    )
    small = size.filter(pl.col("_n") <= bound).select("ns", "key")
    big = size.filter(pl.col("_n") > bound).select("ns", "key")
    direct = (
        qk.join(small, on=["ns", "key"], how="semi")
        .join(pk, on=["ns", "key"], suffix="_p")
        .select(
            pl.col("rid_p").cast(pl.UInt32).alias("rid_a"),
            pl.col("rid").cast(pl.UInt32).alias("rid_b"),
        )
    )
    if big.height == 0:
        return direct
    c = pl.col
    code = c("region_code").cast(pl.Int64)
    # each pool record of a big block at every level of its region (36, 3607, 360704): ``exact``
    # marks its own level
    pool = (
        pk.join(big, on=["ns", "key"], how="semi")
        .join(region, on="rid")
        .filter(c("region_code") != 0)
    )
    # a name's region, and each level above it: the pool's records within the first, and those
    # whose own region is one of the others
    names = (
        qk.join(big, on=["ns", "key"], how="semi")
        .join(region, on="rid")
        .filter(c("region_code") != 0)
    )
    want = pl.concat(
        [names.select("rid", "ns", "key", code.alias("at"), pl.lit(False).alias("exact"))]
        + [
            names.filter(_digits(code) > d).select(
                "rid", "ns", "key", (code // s * s).alias("at"), pl.lit(True).alias("exact")
            )
            for d, s in ((2, 10_000), (4, 100))
        ]
    )
    # only the levels some name asks for are counted and joined (the others' counts are never
    # read): all of them were the member diff's peak at 5.6M rows (tens of millions of rows
    # grouped by key and level)
    asked = want.select("ns", "key", "at").unique()
    levels = pl.concat(
        [
            pool.filter(_digits(code) >= d)
            .select(
                "rid", "ns", "key", (code // s * s).alias("at"), (_digits(code) == d).alias("exact")
            )
            .join(asked, on=["ns", "key", "at"], how="semi")
            for d, s in ((2, 10_000), (4, 100), (6, 1))
        ]
    )
    del pool, asked
    # the pool's rows at each (key, level), and those whose own level it is, in one pass
    counts = levels.group_by("ns", "key", "at").agg(
        pl.len().alias("_n"), c("exact").sum().cast(pl.UInt32).alias("_own")
    )
    counted = pl.concat(
        [
            want.filter(~c("exact")).join(counts.drop("_own"), on=["ns", "key", "at"]),
            want.filter(c("exact")).join(
                counts.filter(c("_own") > 0).select("ns", "key", "at", c("_own").alias("_n")),
                on=["ns", "key", "at"],
            ),
        ]
    )
    del counts
    fits = counted.filter(c("_n").sum().over("rid", "ns", "key") <= bound)
    narrowed = pl.concat(
        [
            fits.filter(~c("exact")).join(levels, on=["ns", "key", "at"], suffix="_p"),
            fits.filter(c("exact")).join(
                levels.filter("exact"), on=["ns", "key", "at"], suffix="_p"
            ),
        ]
    ).select(c("rid_p").cast(pl.UInt32).alias("rid_a"), c("rid").cast(pl.UInt32).alias("rid_b"))
    return pl.concat([direct, narrowed])


def _digits(code: pl.Expr) -> pl.Expr:
    """A region code's significant digits (regions.significant, as an expression)."""
    return (
        pl.when(code == 0)
        .then(0)
        .when(code % 10_000 == 0)
        .then(2)
        .when(code % 100 == 0)
        .then(4)
        .otherwise(6)
    )


def link_to_pool(queries: pl.DataFrame, res: Resolution) -> pl.DataFrame:
    """Link outside records (e.g. union employers a clerk typed) to resolved enterprises.

    ``queries`` has ``qid``, ``name`` and optionally ``id``; several rows may share a ``qid`` (names
    of one thing). Each query takes its first enterprise in the order the module docstring states.
    Returns ``qid, enterprise_id, rule, score`` (one row per ``qid``, sorted by it) with nulls where
    nothing matched.
    """
    if queries.height == 0:
        return pl.DataFrame(schema=LINK_SCHEMA)
    best = (
        candidates(queries, res)
        .sort(
            ["qid", "tier", "region_rank", "score", "active", "sources", "first_key"],
            descending=[False, False, False, True, True, True, False],
        )
        .unique("qid", keep="first")
    )
    return (
        queries.select(pl.col("qid").cast(pl.Int64))
        .unique()
        .join(best.select("qid", "enterprise_id", "rule", "score"), on="qid", how="left")
        .sort("qid")
    )
