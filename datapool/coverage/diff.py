"""Pool x member database -> union_coverage, union_orphan, member_link, union_change.

A single union covers the employer its clerk named (unit_name / unit_uscc); a
joint union (联合工会, 楼宇工会, 商圈工会, 行业工会) covers each small employer
its members name. Both are matched to the pool with the same engine as the
registries. A branch is its own employer: its head office's union does not
cover it. Member identities never leave this module: a member is known only
by a keyed hash of its member_id.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from datapool.matching.engine import Resolution
from datapool.matching.lookup import link_to_pool
from datapool.privacy import keyed_hashes
from datapool.settings import month_end


@dataclass
class Coverage:
    """The diff's tables."""

    coverage: pl.DataFrame
    orphans: pl.DataFrame
    member_links: pl.DataFrame


def live_unions(orgs: pl.DataFrame, snapshot: str) -> pl.DataFrame:
    """Active unions founded by the end of the snapshot month."""
    end = month_end(snapshot).isoformat()
    return orgs.filter(
        (pl.col("status") == "active")
        & (pl.col("founded_on").is_null() | (pl.col("founded_on").str.slice(0, 10) <= end))
    )


# how a 基层工会's own name ends: its unit's full name goes before it (XX有限公司工会委员会)
UNION_NAME_ENDING = r"(?:工会委员会|工会联合会|联合工会|工会)$"


def unit_names(singles: pl.DataFrame) -> pl.DataFrame:
    """The names a single union gives its unit, as look-up queries (``qid, name, id``).

    The unit's name as the clerk typed it (``unit_name``), and the union's own name less its
    ending (赣州市赣县区祥合纺织有限公司工会委员会 -> 赣州市赣县区祥合纺织有限公司): a 基层工会 is
    named after its unit's full name, so its name gives the unit too, often with the region the
    clerk left out of ``unit_name``. Both are looked up (link_to_pool: the first enterprise in the
    look-up's order over both names), with the unit's code when there is one.
    """
    own = pl.col("union_name").str.replace(UNION_NAME_ENDING, "")
    ids = pl.col("unit_uscc").alias("id")
    return (
        pl.concat(
            [
                singles.select("qid", pl.col("unit_name").alias("name"), ids),
                singles.filter(
                    pl.col("union_name").str.contains(UNION_NAME_ENDING)
                    & (own.str.len_chars() >= 4)
                ).select("qid", own.alias("name"), ids),
            ]
        )
        .filter(pl.col("name").is_not_null())
        .unique(maintain_order=True)
    )


def diff_members(
    res: Resolution,
    orgs: pl.DataFrame,
    members: pl.DataFrame,
    snapshot: str,
    threshold: int,
    hmac_key: str,
) -> Coverage:
    """Match unions and joint-union members to enterprises; derive coverage, targets, orphans."""
    unions = live_unions(orgs, snapshot)
    singles = unions.filter(pl.col("union_kind") != "joint").sort("union_id").with_row_index("qid")
    active_members = members.filter(pl.col("status") == "active")
    joint_ids = unions.filter(pl.col("union_kind") == "joint").get_column("union_id")
    jm = active_members.filter(pl.col("union_id").is_in(joint_ids.implode()))
    # a joint union's employers are queries after the single unions' units (qid from
    # singles.height on): both are looked up at once, so the pool's keys are made once
    employers = (
        jm.select("union_id", "employer_name")
        .unique()
        .sort("union_id", "employer_name")
        .with_row_index("qid", offset=singles.height)
    )
    links = link_to_pool(
        pl.concat(
            [
                unit_names(singles),
                employers.select("qid", pl.col("employer_name").alias("name")),
            ],
            how="diagonal_relaxed",
        ),
        res,
    )
    singles = singles.with_columns(pl.col("qid").cast(pl.Int64)).join(links, on="qid", how="left")
    employers = employers.with_columns(pl.col("qid").cast(pl.Int64)).join(
        links, on="qid", how="left"
    )
    jm = jm.join(employers.drop("qid"), on=["union_id", "employer_name"], how="left")

    per_union = active_members.group_by("union_id").len("members")
    single_cov = (
        singles.filter(pl.col("enterprise_id").is_not_null())
        .join(per_union, on="union_id", how="left")
        .select(
            "enterprise_id",
            "union_id",
            pl.col("members").fill_null(0),
            pl.col("rule").alias("match_rule"),
        )
    )
    joint_cov = (
        jm.filter(pl.col("enterprise_id").is_not_null())
        .group_by("enterprise_id", "union_id")
        .agg(pl.len().alias("members"), pl.col("rule").min().alias("match_rule"))
    )
    cov = (
        pl.concat(
            [
                single_cov.with_columns(pl.lit(0).alias("_k")),
                joint_cov.with_columns(pl.lit(1).alias("_k")),
            ],
            how="diagonal_relaxed",
        )
        .sort("enterprise_id", "_k", "union_id")
        .group_by("enterprise_id", maintain_order=True)
        .agg(pl.col("union_id").first(), pl.col("members").sum(), pl.col("match_rule").first())
    )
    ents = res.enterprises.select("enterprise_id", "active", "headcount")
    coverage = (
        ents.join(cov, on="enterprise_id", how="left")
        .with_columns(
            pl.col("union_id").is_not_null().alias("covered"),
            pl.col("members").fill_null(0).cast(pl.Int64),
        )
        .with_columns(
            pl.when(pl.col("headcount") > 0)
            .then(pl.col("members") / pl.col("headcount"))
            .otherwise(None)
            .alias("members_ratio"),
            (
                pl.col("active")
                & (pl.col("headcount").fill_null(0) > threshold)
                & ~pl.col("covered")
            ).alias("target"),
        )
        .sort("enterprise_id")
    )

    orphans = _orphans(singles, employers, jm, ents)
    member_links = jm.select(
        keyed_hashes(jm.get_column("member_id"), hmac_key).alias("member_key"),
        "union_id",
        "enterprise_id",
        "rule",
        "score",
    ).sort("union_id", "member_key")
    return Coverage(coverage, orphans, member_links)


def _orphans(
    singles: pl.DataFrame, employers: pl.DataFrame, jm: pl.DataFrame, ents: pl.DataFrame
) -> pl.DataFrame:
    jcount = jm.group_by("union_id", "employer_name").len("members")
    rows = pl.concat(
        [
            singles.select(
                "union_id", pl.lit("single").alias("union_kind"), "unit_name", "enterprise_id"
            ),
            employers.join(jcount, on=["union_id", "employer_name"], how="left").select(
                "union_id",
                pl.lit("joint").alias("union_kind"),
                pl.col("employer_name").alias("unit_name"),
                "enterprise_id",
                pl.col("members").cast(pl.Int64),
            ),
        ],
        how="diagonal_relaxed",
    ).join(ents.select("enterprise_id", "active"), on="enterprise_id", how="left")
    return (
        rows.filter(pl.col("enterprise_id").is_null() | ~pl.col("active").fill_null(False))
        .with_columns(
            pl.when(pl.col("enterprise_id").is_null())
            .then(pl.lit("not_found"))
            .otherwise(pl.lit("deregistered"))
            .alias("reason"),
        )
        .select("union_id", "union_kind", "unit_name", "reason", "enterprise_id", "members")
        .sort("union_id", "unit_name")
    )


def month_changes(
    coverage: pl.DataFrame, previous: pl.DataFrame | None, threshold: int
) -> pl.DataFrame:
    """Month-over-month changes of coverage.

    Kinds: new_target, newly_covered, closed, crossed_up, crossed_down, no_longer_target.
    """
    schema = pl.Schema(
        {
            "enterprise_id": pl.Utf8,
            "change": pl.Utf8,
            "headcount": pl.Int64,
            "previous_headcount": pl.Int64,
        }
    )
    if previous is None or previous.height == 0:
        return pl.DataFrame(schema=schema)
    prev = previous.select(
        "enterprise_id",
        pl.col("target").alias("p_target"),
        pl.col("covered").alias("p_covered"),
        pl.col("active").alias("p_active"),
        pl.col("headcount").cast(pl.Int64).alias("previous_headcount"),
    )
    cur = coverage.select(
        "enterprise_id", "target", "covered", "active", pl.col("headcount").cast(pl.Int64)
    )
    j = cur.join(prev, on="enterprise_id", how="full", coalesce=True)
    t = threshold
    checks = {
        "new_target": pl.col("target").fill_null(False) & ~pl.col("p_target").fill_null(False),
        "no_longer_target": ~pl.col("target").fill_null(False)
        & pl.col("p_target").fill_null(False),
        "newly_covered": pl.col("covered").fill_null(False)
        & pl.col("p_covered").is_not_null()
        & ~pl.col("p_covered").fill_null(True),
        "closed": pl.col("p_active").fill_null(False) & ~pl.col("active").fill_null(False),
        "crossed_up": (pl.col("headcount").fill_null(0) > t)
        & (pl.col("previous_headcount").fill_null(0) <= t)
        & pl.col("p_active").is_not_null(),
        "crossed_down": (pl.col("headcount").fill_null(0) <= t)
        & (pl.col("previous_headcount").fill_null(0) > t)
        & pl.col("active").is_not_null(),
    }
    parts = [
        j.filter(cond).select(
            "enterprise_id", pl.lit(name).alias("change"), "headcount", "previous_headcount"
        )
        for name, cond in checks.items()
    ]
    return pl.concat(parts).cast(schema).sort("enterprise_id", "change")
