"""Warehouse tables (docs/warehouse.md) as SQLAlchemy Core metadata.

Every table carries ``snapshot``; column names are the analysts' contract:
add, never rename. Table and column names come from here only, never from
user text.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
S = sa.String


def _snap() -> sa.Column[str]:
    return sa.Column("snapshot", S(7), nullable=False, index=True)


source_record = sa.Table(
    "source_record",
    metadata,
    _snap(),
    sa.Column("source", S(32), nullable=False),
    sa.Column("source_row", sa.Integer, nullable=False),
    sa.Column("source_key", S(64)),
    sa.Column("id_clean", S(64)),
    sa.Column("id_kind", S(16)),
    sa.Column("uscc", S(18)),
    sa.Column("uscc_valid", sa.Boolean),
    sa.Column("org_code", S(9)),
    sa.Column("regno", S(32)),
    sa.Column("name", sa.Text),
    sa.Column("name_clean", sa.Text),
    sa.Column("kind", sa.Text),
    sa.Column("status", sa.Text),
    sa.Column("active", sa.Boolean),
    sa.Column("address", sa.Text),
    sa.Column("industry", sa.Text),
    sa.Column("headcount", sa.Integer),
    sa.Column("founded_on", sa.Date),
    sa.Column("lon", sa.Float),
    sa.Column("lat", sa.Float),
    sa.Column("phone_hash", S(32)),
    sa.Column("account", S(64)),
    sa.Column("extra", sa.Text),
    sa.Column("carried_from", S(7)),  # the month whose export this row was carried from
)
quarantine = sa.Table(
    "quarantine",
    metadata,
    _snap(),
    sa.Column("source", S(32), nullable=False),
    sa.Column("source_row", sa.Integer, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("raw", sa.Text),
    sa.Column("file", sa.Text),  # the file's name, for sources of several files (visit_records)
)
enterprise_link = sa.Table(
    "enterprise_link",
    metadata,
    _snap(),
    sa.Column("source", S(32), nullable=False),
    sa.Column("source_row", sa.Integer, nullable=False),
    sa.Column("source_key", S(64)),
    sa.Column("enterprise_id", S(32), nullable=False, index=True),
    sa.Column("rule", S(32), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("agreed", sa.Text),
)
enterprise = sa.Table(
    "enterprise",
    metadata,
    _snap(),
    sa.Column("enterprise_id", S(32), nullable=False, index=True),
    sa.Column("uscc", S(18)),
    sa.Column("uscc_valid", sa.Boolean),
    sa.Column("org_code", S(9)),
    sa.Column("name", sa.Text),
    sa.Column("name_source", S(32)),
    sa.Column("address", sa.Text),
    sa.Column("address_source", S(32)),
    sa.Column("status", sa.Text),
    sa.Column("status_source", S(32)),
    sa.Column("active", sa.Boolean),
    sa.Column("headcount", sa.Integer),
    sa.Column("headcount_source", S(32)),
    sa.Column("industry", sa.Text),
    sa.Column("is_branch", sa.Boolean),
    sa.Column("founded_on", sa.Date),
    sa.Column("lon", sa.Float),
    sa.Column("lat", sa.Float),
    sa.Column("grid_id", S(32)),
    sa.Column("grid_method", S(64)),
    sa.Column("sources", sa.Text),
    sa.Column("n_records", sa.Integer),
    # name and address are in display form (simplified, half-width digits); as fused, here:
    sa.Column("name_raw", sa.Text),
    sa.Column("address_raw", sa.Text),
    # what grid workers saw on a visit, in force until a newer registry fact (visits/records.py)
    sa.Column("observed_status", S(16)),
    sa.Column("observed_on", sa.Date),
    sa.Column("observed_record", S(200)),
    sa.Column("registry_headcount", sa.Integer),
    sa.Column("registry_headcount_source", S(32)),
    sa.Column("headcount_record", S(200)),
)
union_coverage = sa.Table(
    "union_coverage",
    metadata,
    _snap(),
    sa.Column("enterprise_id", S(32), nullable=False, index=True),
    sa.Column("union_id", S(32)),
    sa.Column("covered", sa.Boolean, nullable=False),
    sa.Column("members", sa.Integer, nullable=False),
    sa.Column("members_ratio", sa.Float),
    sa.Column("headcount", sa.Integer),
    sa.Column("active", sa.Boolean),
    sa.Column("target", sa.Boolean, nullable=False),
    sa.Column("match_rule", S(32)),
    sa.Column("covered_by", S(16)),  # member_db / visit (a visit says so, not yet confirmed)
    sa.Column("visit_union", S(8)),  # the latest visit's 是否已建会: 是 / 否 / 筹建中
)
union_orphan = sa.Table(
    "union_orphan",
    metadata,
    _snap(),
    sa.Column("union_id", S(32), nullable=False),
    sa.Column("union_kind", S(16)),
    sa.Column("unit_name", sa.Text),
    sa.Column("reason", S(16), nullable=False),
    sa.Column("enterprise_id", S(32)),
    sa.Column("members", sa.Integer),
)
union_change = sa.Table(
    "union_change",
    metadata,
    _snap(),
    sa.Column("enterprise_id", S(32), nullable=False),
    sa.Column("change", S(32), nullable=False),
    sa.Column("headcount", sa.Integer),
    sa.Column("previous_headcount", sa.Integer),
)
member_link = sa.Table(
    "member_link",
    metadata,
    _snap(),
    sa.Column("member_key", S(32), nullable=False),
    sa.Column("union_id", S(32), nullable=False),
    sa.Column("enterprise_id", S(32)),
    sa.Column("rule", S(32)),
    sa.Column("score", sa.Float),
)
visit_target = sa.Table(
    "visit_target",
    metadata,
    _snap(),
    sa.Column("enterprise_id", S(32), nullable=False),
    sa.Column("grid_id", S(32)),
    sa.Column("route_order", sa.Integer),
    sa.Column("headcount", sa.Integer),
    sa.Column("name", sa.Text),
    sa.Column("address", sa.Text),
    sa.Column("distance_to_next_m", sa.Float),
    sa.Column("placed_by", S(32)),
)
visit_plan = sa.Table(  # the month's weekly plan (visits.md): one row per planned visit
    "visit_plan",
    metadata,
    _snap(),
    sa.Column("grid_id", S(32), nullable=False),
    sa.Column("week", sa.Integer, nullable=False),
    sa.Column("outing", sa.Integer, nullable=False),
    sa.Column("stop", sa.Integer, nullable=False),
    sa.Column("enterprise_id", S(32), nullable=False, index=True),
    sa.Column("reason", S(16), nullable=False),
    sa.Column("distance_to_next_m", sa.Float),
)
validation_result = sa.Table(
    "validation_result",
    metadata,
    _snap(),
    sa.Column("suite", S(64), nullable=False),
    sa.Column("expectation", S(128), nullable=False),
    sa.Column("column_name", S(64)),
    sa.Column("severity", S(16), nullable=False),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Column("unexpected_count", sa.Integer),
    sa.Column("details", sa.Text),
)
pipeline_run = sa.Table(
    "pipeline_run",
    metadata,
    _snap(),
    sa.Column("run_id", S(64), nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("status", S(16), nullable=False),
    sa.Column("rows_in", sa.Integer),
    sa.Column("rows_accepted", sa.Integer),
    sa.Column("rows_quarantined", sa.Integer),
    sa.Column("counts", sa.Text),
    sa.Column("message", sa.Text),
)
snapshot_lock = sa.Table(
    "snapshot_lock",
    metadata,
    sa.Column("snapshot", S(7), primary_key=True),
    sa.Column("run_id", S(64), nullable=False),
    sa.Column("locked_at", sa.DateTime, nullable=False),
)

match_weight = sa.Table(
    "match_weight",
    metadata,
    _snap(),
    sa.Column("comparison", S(32), nullable=False),
    sa.Column("level", S(64), nullable=False),
    sa.Column("m", sa.Float),
    sa.Column("u", sa.Float),
    sa.Column("weight", sa.Float, nullable=False),
    sa.Column("matches", sa.Integer, nullable=False),
    sa.Column("non_matches", sa.Integer, nullable=False),
)

# joint-union groups of small employers with no union (visits/groups.py)
joint_group = sa.Table(
    "joint_group",
    metadata,
    _snap(),
    sa.Column("group_id", S(32), nullable=False),
    sa.Column("reason", S(16), nullable=False),  # building | street | industry
    sa.Column("reason_text", sa.Text, nullable=False),
    sa.Column("town", sa.Text),
    sa.Column("grid_id", S(32)),
    sa.Column("place", sa.Text),
    sa.Column("members", sa.Integer, nullable=False),
    sa.Column("workers", sa.Integer, nullable=False),
    sa.Column("lon", sa.Float),
    sa.Column("lat", sa.Float),
)
joint_group_member = sa.Table(
    "joint_group_member",
    metadata,
    _snap(),
    sa.Column("group_id", S(32), nullable=False),
    sa.Column("enterprise_id", S(32), nullable=False),
    sa.Column("workers", sa.Integer, nullable=False),
)
visit_record = sa.Table(
    "visit_record",
    metadata,
    _snap(),  # the month the record arrived in (<snapshot>/visit_records/)
    sa.Column("record_id", S(200), nullable=False),
    sa.Column("file", sa.Text, nullable=False),
    sa.Column("source_row", sa.Integer, nullable=False),
    sa.Column("enterprise_id", S(32), nullable=False, index=True),
    sa.Column("link_rule", S(32), nullable=False),
    sa.Column("link_score", sa.Float),
    sa.Column("sheet_enterprise_id", S(64)),
    sa.Column("name", sa.Text),
    sa.Column("address", sa.Text),
    sa.Column("visited_on", sa.Date, nullable=False),
    sa.Column("visitor_key", S(32)),
    sa.Column("operating_status", S(16)),
    sa.Column("observed_headcount", sa.Integer),
    sa.Column("site_condition", sa.Text),
    sa.Column("union_status", S(8)),
    sa.Column("concerns", sa.Text),
    sa.Column("needs", sa.Text),
    sa.Column("resources", sa.Text),
    sa.Column("registry_status", sa.Text),
    sa.Column("registry_active", sa.Boolean),
    sa.Column("registry_headcount", sa.Integer),
)
grid_month = sa.Table(
    "grid_month",
    metadata,
    _snap(),
    sa.Column("grid_id", S(32), nullable=False),
    sa.Column("targets", sa.Integer, nullable=False),
    sa.Column("planned", sa.Integer, nullable=False),
    sa.Column("planned_visited", sa.Integer, nullable=False),
    sa.Column("visits", sa.Integer, nullable=False),
    sa.Column("enterprises_visited", sa.Integer, nullable=False),
    sa.Column("closed_on_visit", sa.Integer, nullable=False),
    sa.Column("headcount_observed", sa.Integer, nullable=False),
    sa.Column("unions_after_visit", sa.Integer, nullable=False),
    sa.Column("covered_by_visit", sa.Integer, nullable=False),
    sa.Column("unvisited_2m", sa.Integer, nullable=False),
)
# the month's review queue: undecided candidate pairs, most useful first (matching/review.py)
review_pair = sa.Table(
    "review_pair",
    metadata,
    _snap(),
    sa.Column("pair_id", S(32), nullable=False, index=True),
    sa.Column("priority", sa.Float, nullable=False),
    sa.Column("left_source", S(32), nullable=False),
    sa.Column("left_row", sa.Integer, nullable=False),
    sa.Column("left_key", S(64), nullable=False),
    sa.Column("right_source", S(32), nullable=False),
    sa.Column("right_row", sa.Integer, nullable=False),
    sa.Column("right_key", S(64), nullable=False),
    sa.Column("left_enterprise", S(32)),
    sa.Column("right_enterprise", S(32)),
    sa.Column("together", sa.Boolean),
    sa.Column("rule", S(32)),
    sa.Column("score", sa.Float),
    sa.Column("margin", sa.Float),
    sa.Column("rows", sa.Integer),
    sa.Column("target", sa.Boolean),
    sa.Column("evidence", sa.Text),
)
# people's decisions on pairs: never replaced by a run; a new one supersedes, nothing is deleted
review_decision = sa.Table(
    "review_decision",
    metadata,
    _snap(),  # the month whose queue the pair was decided from
    sa.Column("pair_id", S(32), nullable=False, index=True),
    sa.Column("left_source", S(32), nullable=False),
    sa.Column("left_key", S(64), nullable=False),
    sa.Column("right_source", S(32), nullable=False),
    sa.Column("right_key", S(64), nullable=False),
    sa.Column("decision", S(16), nullable=False),
    sa.Column("by", S(32)),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("superseded_at", sa.DateTime),
    sa.Column("note", sa.Text),
    sa.Column("matcher", S(16)),  # what the matcher had done: same (together) or different
    sa.Column("rule", S(32)),
    sa.Column("score", sa.Float),
    sa.Column("source_file", sa.Text),
)
# ids that no longer name an enterprise of the month, and the id that does
enterprise_alias = sa.Table(
    "enterprise_alias",
    metadata,
    _snap(),
    sa.Column("old_id", S(32), nullable=False, index=True),
    sa.Column("new_id", S(32), nullable=False),
    sa.Column("why", S(32), nullable=False),
)

SNAPSHOT_TABLES = (
    "source_record",
    "quarantine",
    "enterprise_link",
    "enterprise",
    "union_coverage",
    "union_orphan",
    "union_change",
    "member_link",
    "visit_target",
    "visit_plan",
    "validation_result",
    "match_weight",
    "joint_group",
    "joint_group_member",
    "visit_record",
    "grid_month",
    "review_pair",
    "enterprise_alias",
)
