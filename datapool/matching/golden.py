"""Golden records ("一企一档"): one row per enterprise, each field with its source.

Field precedence (first registry with a value wins):
- name, status, industry code, founding date: market supervision, civil affairs, tax, social insurance
  (the registering authority's record is the legal one);
- address and coordinates: market supervision, civil affairs, tax (operating address), social insurance;
- headcount: 人社 参保人数 (sum over the employer's active accounts), else the tax filing's
  从业人数, else civil affairs' 从业人员数 (shared/domain.md, Headcount).
"""

from __future__ import annotations

import polars as pl

REGISTRY_ORDER = {"market_supervision": 0, "civil_affairs": 1, "tax_registry": 2, "social_insurance": 3}
HEADCOUNT_ORDER = {"social_insurance": 0, "tax_registry": 1, "civil_affairs": 2}
_REGISTRY = pl.Enum(list(REGISTRY_ORDER))  # its physical order is the registry order
_BIT = {i: 1 << i for i in range(len(REGISTRY_ORDER))}
# each set of registries (a bit mask over registry order) as its names, sorted and joined by ","
_SOURCES = {mask: ",".join(sorted(s for i, s in enumerate(REGISTRY_ORDER) if mask >> i & 1))
            for mask in range(1, 1 << len(REGISTRY_ORDER))}


def _first(field: str, out: str | None = None) -> list[pl.Expr]:
    """First non-null ``field`` in registry order, and which registry it came from."""
    ok = pl.col(field).is_not_null()
    name = out or field
    return [pl.col(field).filter(ok).first().alias(name), pl.col("source").filter(ok).first().alias(f"{name}_source")]


def golden(std: pl.DataFrame, ids: pl.DataFrame, assign: pl.DataFrame) -> pl.DataFrame:
    """Fuse the records of each enterprise into one row (see :func:`fuse` and :func:`with_ids`)."""
    return with_ids(fuse(std, assign), ids)


def fuse(std: pl.DataFrame, assign: pl.DataFrame) -> pl.DataFrame:
    """The fused row of each cluster, keyed by ``cluster`` (the enterprise ids are not needed yet).

    The records are grouped by cluster number and ordered by registry (an Enum in registry
    order) and row.
    """
    used = ("rid", "source_row", "uscc", "uscc_valid", "org_code", "name", "address", "status", "active",
            "industry", "branch", "founded_on", "lon", "lat", "headcount")
    df = std.select(*used, pl.col("source").cast(_REGISTRY))
    if assign.get_column("rid").equals(df.get_column("rid")):
        df = df.with_columns(assign.get_column("cluster"))
    else:
        df = df.join(assign, on="rid", how="left", maintain_order="left")
    df = df.with_columns(pl.when(pl.col("uscc_valid")).then(pl.col("uscc")).otherwise(None).alias("_valid_uscc")) \
        .sort("cluster", "source", "source_row")
    si = (df.filter((pl.col("source") == "social_insurance") & pl.col("active") & pl.col("headcount").is_not_null())
          .group_by("cluster").agg(pl.col("headcount").sum().alias("_si_head")))
    base = df.group_by("cluster").agg(  # the group order is free: the result is sorted at the end
        pl.col("_valid_uscc").drop_nulls().first().alias("uscc_v"),
        pl.col("uscc").drop_nulls().first().alias("uscc_any"),
        pl.col("org_code").filter(pl.col("org_code") != "").first().alias("org_code"),
        *_first("name"), *_first("address"), *_first("status"),
        pl.col("active").filter(pl.col("status").is_not_null()).first().alias("active"),
        pl.col("industry").filter(pl.col("industry").is_not_null()).first().alias("industry"),
        pl.col("branch").any().alias("is_branch"),
        pl.col("founded_on").drop_nulls().first().alias("founded_on"),
        pl.col("lon").drop_nulls().first().alias("lon"), pl.col("lat").drop_nulls().first().alias("lat"),
        pl.col("headcount").filter(pl.col("source") == "tax_registry").drop_nulls().first().alias("_tax_head"),
        pl.col("headcount").filter(pl.col("source") == "civil_affairs").drop_nulls().first().alias("_ca_head"),
        pl.col("source").to_physical().replace_strict(_BIT, return_dtype=pl.UInt8).bitwise_or().alias("_sources"),
        pl.len().alias("n_records"),
    ).join(si, on="cluster", how="left")
    return base.select(
        "cluster", "org_code", "name", "name_source", "address", "address_source", "status", "status_source",
        pl.col("active").fill_null(False), "industry", "is_branch", "founded_on", "lon", "lat",
        pl.col("_sources").replace_strict(_SOURCES, return_dtype=pl.Utf8).alias("sources"), "n_records",
        pl.coalesce("uscc_v", "uscc_any").alias("uscc"), pl.col("uscc_v").is_not_null().alias("uscc_valid"),
        pl.coalesce("_si_head", "_tax_head", "_ca_head").cast(pl.Int64).alias("headcount"),
        pl.when(pl.col("_si_head").is_not_null()).then(pl.lit("social_insurance"))
        .when(pl.col("_tax_head").is_not_null()).then(pl.lit("tax_registry"))
        .when(pl.col("_ca_head").is_not_null()).then(pl.lit("civil_affairs")).otherwise(None).alias("headcount_source"),
    ).with_columns(pl.col(f"{f}_source").cast(pl.Utf8) for f in ("name", "address", "status"))


def with_ids(fused: pl.DataFrame, ids: pl.DataFrame) -> pl.DataFrame:
    """Fused rows named by their enterprise ids (``cluster -> enterprise_id``), sorted by id."""
    return ids.join(fused, on="cluster", how="inner").drop("cluster").sort("enterprise_id")
