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


def _first(field: str, out: str | None = None) -> list[pl.Expr]:
    """First non-null ``field`` in registry order, and which registry it came from."""
    ok = pl.col(field).is_not_null()
    name = out or field
    return [pl.col(field).filter(ok).first().alias(name), pl.col("source").filter(ok).first().alias(f"{name}_source")]


def golden(std: pl.DataFrame, ids: pl.DataFrame, assign: pl.DataFrame) -> pl.DataFrame:
    """Fuse the records of each enterprise into one row."""
    used = ("rid", "source", "source_row", "uscc", "uscc_valid", "org_code", "name", "address", "status", "active",
            "industry", "branch", "founded_on", "lon", "lat", "headcount")
    # each record's enterprise, found on the two-column frames and added as a column: std is not copied
    ent = std.select("rid").join(assign.join(ids, on="cluster"), on="rid", how="left", maintain_order="left")
    df = std.select(used).with_columns(ent.get_column("enterprise_id")).with_columns(
        pl.col("source").replace_strict(REGISTRY_ORDER, return_dtype=pl.Int32).alias("_order"),
        pl.when(pl.col("uscc_valid")).then(pl.col("uscc")).otherwise(None).alias("_valid_uscc"),
    ).sort("enterprise_id", "_order", "source_row")
    si = (df.filter((pl.col("source") == "social_insurance") & pl.col("active") & pl.col("headcount").is_not_null())
          .group_by("enterprise_id").agg(pl.col("headcount").sum().alias("_si_head")))
    base = df.group_by("enterprise_id", maintain_order=True).agg(
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
        pl.col("source").unique().sort().str.join(",").alias("sources"),
        pl.len().alias("n_records"),
    ).join(si, on="enterprise_id", how="left")
    return base.with_columns(
        pl.coalesce("uscc_v", "uscc_any").alias("uscc"),
        pl.col("uscc_v").is_not_null().alias("uscc_valid"),
        pl.coalesce("_si_head", "_tax_head", "_ca_head").cast(pl.Int64).alias("headcount"),
        pl.when(pl.col("_si_head").is_not_null()).then(pl.lit("social_insurance"))
        .when(pl.col("_tax_head").is_not_null()).then(pl.lit("tax_registry"))
        .when(pl.col("_ca_head").is_not_null()).then(pl.lit("civil_affairs")).otherwise(None).alias("headcount_source"),
        pl.col("active").fill_null(False),
    ).drop("uscc_v", "uscc_any", "_si_head", "_tax_head", "_ca_head").sort("enterprise_id")
