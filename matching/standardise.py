"""Standardise canonical records for matching: identifiers, name parts, address parts.

Vectorised in polars: names and addresses are parsed once per distinct value,
identifier check characters are computed over whole columns.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import polars as pl

from datapool.columns import dedupe
from datapool.connectors.specs import REGNO_IDS
from datapool.matching.addresses import address_texts, parse_texts, with_bare_towns
from datapool.matching.identifiers import clean_codes, identifier_columns, regno_valid
from datapool.matching.names import FORM_FAMILY_CODE, name_bodies, name_fronts
from datapool.matching.regions import compatible, lookup, uscc_region

_Part = TypeVar("_Part", pl.DataFrame, pl.Series)  # what a batch job gives

# the registries whose 15-digit ids are 注册号 (elsewhere a valid tax id is read first)
REGNO_FIRST = REGNO_IDS
# Name parts carried to every row: name_clean and core as text; those only compared for equality (or
# used as blocking keys) as 64-bit hashes (column name + "_h"), since gathering a hash per row is
# far cheaper. names.name_fronts makes the first kind of key, names.name_bodies the second.
NAME_FRONT_KEYS = ("branch_place", "former_key")
NAME_BODY_KEYS = ("core_key", "brand_key")
KEY_SEED = 7


def hash_key(col: str | pl.Expr) -> pl.Expr:
    """A 64-bit hash of a text key; null stays null, '' hashes to ``EMPTY_KEY``.

    Two distinct values share a hash with probability 2^-64 per comparison: far below any
    other source of error, so equal hashes are read as equal values.
    """
    expr = pl.col(col) if isinstance(col, str) else col
    return pl.when(expr.is_not_null()).then(expr.hash(seed=KEY_SEED))


EMPTY_KEY = pl.select(hash_key(pl.lit("", dtype=pl.Utf8))).item()


def require_row_ids(std: pl.DataFrame, what: str) -> None:
    """Raise unless ``std`` is as :func:`standardise` leaves it: sorted by ``rid`` with rid = row
    position (``what`` names the step that gathers rows by rid)."""
    n = std.height
    if n and (std["rid"][0] != 0 or std["rid"][n - 1] != n - 1):
        raise ValueError(f"{what} needs std sorted by rid with rid = row position")


BATCH = (
    100_000  # distinct values (or rows) parsed at a time: bounds the working memory at any scale
)


def _name_fronts(names: pl.Series) -> pl.DataFrame:
    """The parts of distinct names that matching reads and :func:`names.name_fronts` gives (text, or
    hashed when only compared for equality), and the ``body``."""
    return name_fronts(names).select(
        "name_clean",
        "branch",
        "region_code",
        *[hash_key(k).alias(f"{k}_h") for k in NAME_FRONT_KEYS],
        "body",
        "lead_body",
        "lead_region",
        "lead_shared",
    )


def _name_bodies(bodies: pl.Series) -> pl.DataFrame:
    """The parts of distinct name bodies that matching reads (see :func:`names.name_bodies`)."""
    return name_bodies(bodies).select(
        "core",
        *[hash_key(k).alias(f"{k}_h") for k in NAME_BODY_KEYS],
        pl.col("form")
        .replace_strict(FORM_FAMILY_CODE, default=0, return_dtype=pl.UInt8)
        .alias("form_family"),
    )


def _address_parts(texts: pl.Series) -> pl.DataFrame:
    """``addr_norm`` and the hashed town, town + road + number (null without a numbered road) and
    town + road (null without a town or a road) of distinct address texts (see
    :func:`addresses.parse_texts`)."""
    town, road, number = pl.col("town"), pl.col("road"), pl.col("road_no")
    return parse_texts(texts).select(
        "addr_norm",
        hash_key("town").alias("town_h"),
        hash_key(
            pl.when((road != "") & (number != "")).then(town + road + number).otherwise(None)
        ).alias("addr_key_h"),
        hash_key(pl.when((road != "") & (town != "")).then(town + road).otherwise(None)).alias(
            "road_key_h"
        ),
    )


def _id_parts(rows: pl.DataFrame, hint: pl.Expr) -> pl.DataFrame:
    """The identifier columns of ``rows`` (see ``identifier_columns``), ``regno`` completed (its own
    column, else a 注册号 read from the id) and ``regno_valid``."""
    ids = identifier_columns(rows, "id", hint)
    regno = clean_codes(rows.get_column("regno"))
    regno = pl.select(
        pl.when(regno != "").then(regno).otherwise(ids.get_column("id_regno")).alias("regno")
    ).to_series()
    valid = pl.select(
        pl.when(regno_valid(regno.fill_null(""))).then(regno).otherwise(None).alias("regno_valid")
    )
    # the division code of each valid USCC, read once per distinct code (a few thousand)
    division = ids.select(
        pl.when(pl.col("uscc_valid").fill_null(False)).then(pl.col("uscc").str.slice(2, 6))
    ).to_series()
    codes, at = dedupe(division)
    usccs = (
        pl.select(pl.when(codes.is_not_null()).then(uscc_region(pl.lit("00") + codes)).otherwise(0))
        .to_series()
        .cast(pl.Int32)
        .gather(at)
        .alias("uscc_region")
    )
    return ids.drop("id_regno").with_columns(regno, valid.to_series(), usccs)


def _parse_all(df: pl.DataFrame) -> list[pl.DataFrame]:
    """The name parts, address parts and identifier columns of each row.

    Names and addresses are parsed in two steps, each once per distinct value: names'
    fronts per distinct name, then the 字号, industry and form per distinct body (names.parse_names'
    two steps: many names share a body); addresses folded and stripped of their prefixes per
    distinct address, then split into parts per distinct text (a town written bare, 梅林 for 梅林镇,
    read over all the texts first: addresses.with_bare_towns). All the work is cut into jobs
    run on a thread per core (polars releases the GIL): finding the distinct values, then
    batches of ``BATCH`` values (rows for identifiers); many small jobs keep every core busy to
    the end. The market-supervision export's 15-digit ids are read as 注册号 first.
    """
    hint = pl.col("source").is_in(list(REGNO_FIRST))

    def batches(values: pl.Series, parse: Callable[[pl.Series], _Part]) -> list[Future[_Part]]:
        return [
            pool.submit(parse, values.slice(i, BATCH)) for i in range(0, max(len(values), 1), BATCH)
        ]

    def joined(jobs: list[Future[_Part]]) -> _Part:
        # one chunk per column: gathering rows from many chunks is several times slower
        return pl.concat([f.result() for f in jobs], rechunk=True)

    with ThreadPoolExecutor(max_workers=max(pl.thread_pool_size(), 1)) as pool:
        distinct = {col: pool.submit(dedupe, df.get_column(col)) for col in ("name", "address")}
        names, name_at = distinct["name"].result()
        fronts = batches(names, _name_fronts)
        addresses, address_at = distinct["address"].result()
        text_jobs = batches(addresses, address_texts)
        ids = [
            pool.submit(_id_parts, df.slice(i, BATCH), hint)
            for i in range(0, max(df.height, 1), BATCH)
        ]
        front = joined(fronts)
        bodies, body_at = dedupe(front.get_column("body"))
        backs = batches(bodies, _name_bodies)
        texts, text_at = dedupe(joined(text_jobs))
        texts = with_bare_towns(texts)  # over all the month's texts: a town's bare name is learned
        address_parts = batches(texts, _address_parts)
        # each row takes the parts of its value (they come in the order of the distinct values)
        out = [
            front.drop("body").select(pl.all().gather(name_at)),
            joined(backs).select(pl.all().gather(body_at.gather(name_at))),
            joined(address_parts).select(pl.all().gather(text_at.gather(address_at))),
        ]
        return [*out, joined(ids)]


def other_reading(std: pl.DataFrame, rows: pl.Series) -> pl.DataFrame:
    """Rows ``rows`` of ``std`` read the other way: the short region name leading the name as the
    beginning of its 字号 (``lead_body``, ``lead_region``: see :func:`names.name_fronts`)."""
    parts = _name_bodies(std.get_column("lead_body").gather(rows))
    return std.with_columns(
        *[std.get_column(col).scatter(rows, parts.get_column(col)) for col in parts.columns],
        std.get_column("region_code").scatter(rows, std.get_column("lead_region").gather(rows)),
        std.get_column("lead_body").scatter(rows, None),
        std.get_column("lead_region").scatter(rows, None),
    )


def _shared_by_uscc(std: pl.DataFrame) -> pl.DataFrame:
    """A name led by a spelling that divisions in several provinces share (南山区: 深圳's and
    鹤岗's), read as no region, takes the one its valid USCC's authority lies in (a name gives the
    region it is registered in, or one above: 企业名称登记管理规定). Not for a branch, whose name
    leads with its head office's region."""
    shared = std.get_column("lead_shared")
    usccs = std.get_column("uscc_region")
    rows = (shared.is_not_null() & ~std.get_column("branch") & (usccs != 0)).arg_true()
    if not len(rows):
        return std.drop("lead_shared")
    spelled, authority = shared.gather(rows), usccs.gather(rows).cast(pl.Int64)
    best = np.zeros(len(rows), np.int64)
    for scale in (10_000, 100):  # inside the authority's province, then its prefecture
        code = lookup(spelled, (authority // scale * scale).cast(pl.Int32))["code"].to_numpy()
        ok = (code != 0) & compatible(code, authority.to_numpy())
        best = np.where(ok, code, best)
    found = best != 0
    rows = rows.filter(pl.Series(found))
    region = std.get_column("region_code").scatter(rows, pl.Series(best[found], dtype=pl.Int32))
    return std.with_columns(region).drop("lead_shared")


def _reread_by_uscc(std: pl.DataFrame) -> pl.DataFrame:
    """A name led by a short region name (阳信德通商贸) whose valid USCC was issued by an authority
    outside that region (于都县's) is read with the short name as the beginning of its 字号: an
    enterprise's name gives the region of the place it is registered in, or one above it, never
    a disjoint one (企业名称登记管理规定), so those characters cannot be its region here. A branch's
    name leads with its head office's region, which its own authority need not be in: kept."""
    lead = std.get_column("lead_region")
    at = lead.is_not_null() & ~std.get_column("branch") & (std.get_column("uscc_region") != 0)
    rows = at.arg_true()
    if not len(rows):
        return std
    usccs = std.get_column("uscc_region").gather(rows).to_numpy()
    disjoint = ~compatible(std.get_column("region_code").gather(rows).to_numpy(), usccs)
    agrees = compatible(lead.gather(rows).to_numpy(), usccs)
    rows = rows.filter(pl.Series(disjoint & agrees))
    return other_reading(std, rows) if len(rows) else std


def standardise(records: pl.DataFrame, readings: bool = False) -> pl.DataFrame:
    """Add matching columns to canonical records and a row id ``rid`` (0..n-1, deterministic order).

    The columns added: the identifier columns (see ``identifier_columns``); of the name parts
    (see ``parse_names``) ``name_clean``, ``core``, ``branch``, ``region_code`` (the name's region
    as a division code, 0 for none: see regions.py) and, hashed (see :func:`hash_key`),
    ``branch_place_h``, ``core_key_h``, ``former_key_h``, ``brand_key_h``, and ``form_family``
    (the organisation form's family, names.FORM_FAMILY; 0 for none); of the address,
    ``addr_norm`` and the hashes ``town_h``, ``road_key_h`` (town + road, null without either) and
    ``addr_key_h`` (town + road + number, null without a numbered road); ``regno_valid``;
    ``uscc_region`` (the division code of a valid USCC, 0 for none); with ``readings``,
    ``lead_body`` and ``lead_region``, the other reading of a name led by a short region name
    (null for the others; lookup.py looks a name up both ways). Either way a row whose USCC rules
    out the first reading takes the other (:func:`_reread_by_uscc`).
    ``regno`` and ``source_key`` are completed.
    """
    s, r = pl.col("source"), pl.col("source_row")
    ordered = records.select(
        ((s > s.shift()) | ((s == s.shift()) & (r > r.shift()))).fill_null(True).all()
    ).item()
    # no copy when sorted
    df = (records if ordered else records.sort("source", "source_row")).with_row_index("rid")
    df = _reread_by_uscc(
        _shared_by_uscc(df.with_columns(*[col for part in _parse_all(df) for col in part]))
    )
    if not readings:
        df = df.drop("lead_body", "lead_region")
    key = df.get_column("source_key")
    missing = key.is_null()
    if missing.any():  # a row without a key of its own: its 注册号, else its name
        fill = (
            df.filter(missing)
            .select(pl.coalesce("regno", pl.lit("N:") + pl.col("name_clean")))
            .to_series()
        )
        df = df.with_columns(key.scatter(missing.arg_true(), fill))
    return df.rechunk()  # columns built from batches come in pieces; later row gathers want one
