"""Golden records ("一企一档"): one row per enterprise, each field with its source.

Field precedence (first registry with a value wins):
- name, status, industry code, founding date: market supervision, civil affairs, tax, social
  insurance (the registering authority's record is the legal one);
- address and coordinates: market supervision, civil affairs, tax (operating address), social
  insurance;
- headcount: 人社 参保人数 (sum over the employer's active accounts), else the tax filing's
  从业人数, else civil affairs' 从业人员数 (docs/design.md, Headcount).
"""

from __future__ import annotations

import polars as pl

from datapool.connectors.specs import HEADCOUNT_ORDER, PRECEDENCE
from datapool.matching.clusters import row_clusters
from datapool.matching.standardise import require_row_ids

# field precedence, first registry first (connectors/specs.py: ExportSpec.precedence)
REGISTRY_ORDER = {source: i for i, source in enumerate(PRECEDENCE)}
_REGISTRY = pl.Enum(list(REGISTRY_ORDER))  # its physical order is the registry order
_BIT = {i: 1 << i for i in range(len(REGISTRY_ORDER))}
# each set of registries (a bit mask over registry order) as its names, sorted and joined by ","
_SOURCES = {
    mask: ",".join(sorted(s for i, s in enumerate(REGISTRY_ORDER) if mask >> i & 1))
    for mask in range(1, 1 << len(REGISTRY_ORDER))
}


def fuse(std: pl.DataFrame, assign: pl.DataFrame) -> pl.DataFrame:
    """The fused row of each cluster, keyed by ``cluster``: the enterprise ids are not needed yet,
    so this runs while ids are given (see :func:`with_ids` for the last step).

    The records are grouped by cluster number and ordered by registry (an Enum in registry
    order) and row. Text fields are not carried through the sort: each cluster picks the
    row (``rid``, the row position in ``std``) its value comes from, and the values are
    gathered for the fused rows only.
    """
    c = pl.col
    require_row_ids(std, "fuse")
    has = {  # the rows each text field can come from
        "uscc_v": c("uscc_valid").fill_null(False) & c("uscc").is_not_null(),
        "uscc_any": c("uscc").is_not_null(),
        "org_code": (c("org_code") != "").fill_null(False),
        "name": c("name").is_not_null(),
        "address": c("address").is_not_null(),
        "status": c("status").is_not_null(),
        "industry": c("industry").is_not_null(),
    }
    df = std.select(
        "rid",
        "source_row",
        c("source").cast(_REGISTRY),
        "active",
        "branch",
        "founded_on",
        "lon",
        "lat",
        "headcount",
        *[e.alias(f"_has_{k}") for k, e in has.items()],
    )
    df = df.with_columns(row_clusters(std, assign)).sort("cluster", "source", "source_row")
    # headcount: per registry in headcount order (ExportSpec.headcount_rank), the sum over the
    # employer's active accounts where the registry counts per account, else its first value
    summed = [sp.source for sp in HEADCOUNT_ORDER if sp.headcount_per_account]
    per_account = [
        df.filter((c("source") == source) & c("active") & c("headcount").is_not_null())
        .group_by("cluster")
        .agg(c("headcount").sum().alias(f"_head_{source}"))
        for source in summed
    ]
    base = df.group_by("cluster").agg(  # the group order is free: the result is sorted at the end
        *[c("rid").filter(c(f"_has_{k}")).first().alias(f"_{k}_rid") for k in has],
        c("branch").any().alias("is_branch"),
        c("founded_on").drop_nulls().first().alias("founded_on"),
        c("lon").drop_nulls().first().alias("lon"),
        c("lat").drop_nulls().first().alias("lat"),
        *[
            c("headcount")
            .filter(c("source") == sp.source)
            .drop_nulls()
            .first()
            .alias(f"_head_{sp.source}")
            for sp in HEADCOUNT_ORDER
            if not sp.headcount_per_account
        ],
        c("source")
        .to_physical()
        .replace_strict(_BIT, return_dtype=pl.UInt8)
        .bitwise_or()
        .alias("_sources"),
        pl.len().alias("n_records"),
    )
    for part in per_account:
        base = base.join(part, on="cluster", how="left")
    del df
    picked = {
        k: std.get_column(col).gather(base.get_column(f"_{k}_rid"))
        for k, col in (
            ("uscc_v", "uscc"),
            ("uscc_any", "uscc"),
            ("org_code", "org_code"),
            ("name", "name"),
            ("address", "address"),
            ("status", "status"),
            ("industry", "industry"),
        )
    }
    sources = {
        f"{k}_source": std.get_column("source").gather(base.get_column(f"_{k}_rid"))
        for k in ("name", "address", "status")
    }
    # the active flag beside the status
    active = std.get_column("active").gather(base.get_column("_status_rid"))
    base = base.with_columns(
        *[v.alias(k) for k, v in picked.items()], *[v.alias(k) for k, v in sources.items()], active
    )
    return base.select(
        "cluster",
        "org_code",
        "name",
        "name_source",
        "address",
        "address_source",
        "status",
        "status_source",
        c("active").fill_null(False),
        "industry",
        "is_branch",
        "founded_on",
        "lon",
        "lat",
        c("_sources").replace_strict(_SOURCES, return_dtype=pl.Utf8).alias("sources"),
        "n_records",
        pl.coalesce("uscc_v", "uscc_any").alias("uscc"),
        c("uscc_v").is_not_null().alias("uscc_valid"),
        pl.coalesce([f"_head_{sp.source}" for sp in HEADCOUNT_ORDER])
        .cast(pl.Int64)
        .alias("headcount"),
        _first_with_headcount(),
    )


def _first_with_headcount() -> pl.Expr:
    """The registry the golden headcount comes from (the first in headcount order with one)."""
    expr: pl.Expr = pl.lit(None, dtype=pl.Utf8)
    for sp in reversed(HEADCOUNT_ORDER):
        expr = (
            pl.when(pl.col(f"_head_{sp.source}").is_not_null())
            .then(pl.lit(sp.source))
            .otherwise(expr)
        )
    return expr.alias("headcount_source")


def with_ids(fused: pl.DataFrame, ids: pl.DataFrame) -> pl.DataFrame:
    """Fused rows named by their enterprise ids (``cluster -> enterprise_id``), sorted by id (no
    work when ``ids`` is sorted already)."""
    return (
        ids.sort("enterprise_id")
        .join(fused, on="cluster", how="inner", maintain_order="left")
        .drop("cluster")
    )
