"""三查三记 records back into the pool: the fifth source (../shared/spec/visits.md).

Grid workers hand back the filled visit sheets (or CSV with the same headers) in
``<snapshot>/visit_records/*.xlsx|csv``, in the month the visits were made. This module

* **reads** every file with the one generic reader (:mod:`datapool.connectors.reader`, spec
  :data:`datapool.connectors.specs.VISIT_RECORDS`): physical-record counting, encodings, streamed
  workbooks (title rows above the header skipped), exact duplicates, quarantine with file, row
  and reason. Then it checks what the reader cannot: a row with nothing filled in beyond the
  printed columns, a missing or future 走访日期, a 经营状态 or 是否已建会 outside the contract's
  values, a row naming no enterprise;
* **links** each record to an enterprise of the month: by 企业ID (ids are kept month to month, so
  an id printed on an earlier month's sheet still links; an id a later month merged into another
  enterprise, ``enterprise_alias`` ``why = 'merged'``, links to the enterprise that took it over,
  ``link_rule = 'enterprise_alias'``), else by 企业名称 + 地址 through the
  matcher (:func:`datapool.matching.lookup.link_to_pool`, as the member database's employer
  names are linked). A record that links to nothing is quarantined with its reason, as is a
  second copy of one visit handed in twice (in two files);
* derives the **effects**, from the month a record arrives until a newer registry fact
  overrides it (:func:`effects`): an observed status (停业 / 注销 / 迁出 / 查无此企业: not a
  target), an observed headcount (source ``visit``), a union established on the visit (covered,
  ``covered_by = 'visit'``, until the member database confirms it);
* gives the **follow-ups** (a concern or need recorded at the latest visit) and the monthly
  summary per grid (``grid_month``).

Earlier months' records follow the same merges: a record keeps the id it was linked to in its
month in ``visit_record``, and its effects go to the enterprise that id was merged into since
(:func:`follow_merges`), so a review merge or a registry that joins two enterprises does not
drop a visit's observation.

**What "a newer registry fact" is.** The registries carry no date for a status or headcount
beyond the month of their export, and they lag what a worker sees by months. So each record
keeps what the registries said of its enterprise in the month it arrived
(``visit_record.registry_status``, ``registry_active``, ``registry_headcount``). An observation
stays in force while the registries still say the same; once they say something else (a new
status or active flag for an observed status, a new headcount for an observed headcount), that
registry fact is newer than the visit and wins. Among visits, the latest (by 走访日期, then arrival
month, file and row) wins per field. A union reported on a visit is not a registry fact: it
lasts until the member database covers the enterprise (then ``covered_by = 'member_db'``) or a
later visit answers 否 / 筹建中.

**Personal data.** 网格员 is kept only as a keyed pseudonym (``visitor_key``, HMAC under the run's
key); the free-text fields (场所环境, 企业顾虑, 职工急难愁盼, 可利用资源) have phone numbers, ID
numbers and e-mail addresses replaced (:func:`datapool.privacy.redact_series`) before anything is
stored, and are never logged. Names of people written in free text cannot be told from other
words and stay: the residual risk the README names.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import polars as pl
import sqlalchemy as sa

from datapool.connectors.reader import read_export
from datapool.connectors.specs import VISIT_RECORDS
from datapool.errors import InputError
from datapool.matching.engine import Resolution
from datapool.matching.lookup import link_to_pool
from datapool.privacy import file_label as file_label_of
from datapool.privacy import redact_series
from datapool.schemas import warehouse as wh
from datapool.settings import month_end

log = logging.getLogger("datapool")

FOLDER = "visit_records"
SOURCE = VISIT_RECORDS.source
CLOSED = ("停业", "注销", "迁出", "查无此企业")
STATUSES = ("正常", *CLOSED)
UNION_ANSWERS = ("是", "否", "筹建中")
FORMATS = (".xlsx", ".csv")
# the fields a worker fills in on the visit; a row with none of them was not visited
FILLED = (
    "visited_on",
    "visitor_key",
    "operating_status",
    "observed_headcount",
    "site_condition",
    "union_status",
    "concerns",
    "needs",
    "resources",
)
FREE_TEXT = ("site_condition", "concerns", "needs", "resources")
HEADERS = {c.field: c.header for c in VISIT_RECORDS.columns}
RECORD_COLUMNS = [c.name for c in wh.visit_record.columns if c.name != "snapshot"]
ORDER = ["visited_on", "snapshot", "file", "source_row"]  # the latest record is the last
BY_ID = ("enterprise_id", "enterprise_alias")  # link rules of a record linked by its 企业ID
# the merges records follow: the month an id was merged into another (enterprise_alias)
MERGE_SCHEMA = pl.Schema({"snapshot": pl.Utf8(), "old_id": pl.Utf8(), "new_id": pl.Utf8()})

RECORD_SCHEMA = pl.Schema(
    {
        c.name: pl.Date()
        if isinstance(c.type, sa.Date)
        else pl.Int64()
        if isinstance(c.type, sa.Integer)
        else pl.Float64()
        if isinstance(c.type, sa.Float)
        else pl.Boolean()
        if isinstance(c.type, sa.Boolean)
        else pl.Utf8()
        for c in wh.visit_record.columns
    }
)
QUARANTINE = pl.Schema(
    {"source": pl.Utf8(), "source_row": pl.Int64(), "reason": pl.Utf8(), "raw": pl.Utf8(),
     "file": pl.Utf8()}
)  # fmt: skip


class VisitFileCount(TypedDict):
    """One file's accounting: ``rows_in == accepted + quarantined == physical_rows``.

    ``quarantined`` counts the reader's rejects and the rows this module turned away.
    """

    rows_in: int
    accepted: int
    quarantined: int
    physical_rows: int
    duplicates: int
    encoding: str


@dataclass
class VisitFiles:
    """What ``<snapshot>/visit_records/`` gave: readable rows (with ``file``), the reader's
    quarantine, per file accounting. An absent folder gives no rows."""

    rows: pl.DataFrame
    quarantine: pl.DataFrame
    files: dict[str, VisitFileCount] = field(default_factory=dict)


@dataclass
class VisitLoop:
    """The month's records linked to the pool, with every earlier month's, and their effects."""

    snapshot: str
    records: pl.DataFrame  # visit_record rows that arrived this month
    # visit_record rows of every month up to and including this one, under today's ids
    history: pl.DataFrame
    quarantine: pl.DataFrame  # every visit row turned away this month (QUARANTINE + file)
    files: dict[str, VisitFileCount]
    status: pl.DataFrame  # enterprise_id, observed_status, observed_on, observed_record
    headcount: pl.DataFrame  # enterprise_id, observed_headcount, headcount_record
    union: pl.DataFrame  # enterprise_id, visit_union, union_record

    def counts(self) -> dict[str, Any]:
        """The figures ``pipeline_run.counts.visit_records`` records."""
        rules = self.records.get_column("link_rule")
        return {
            "files": self.files,
            "accepted": self.records.height,
            "quarantined": self.quarantine.height,
            "linked_by_id": int(rules.is_in(BY_ID).sum()),
            "linked_by_match": int((~rules.is_in(BY_ID)).sum()),
            "earlier_records": self.history.height - self.records.height,
            "observed_closed": int(self.status["observed_status"].is_in(CLOSED).sum()),
            "observed_headcount": self.headcount.height,
            "union_on_visit": int((self.union["visit_union"] == "是").sum()),
        }


def _files(folder: Path) -> tuple[list[Path], list[str]]:
    """The readable files of the folder (sorted by name) and the names of the others."""
    found: list[Path] = []
    other: list[str] = []
    for p in sorted(folder.iterdir()):
        if p.name.startswith((".", "~$")):  # hidden files, Excel's lock files
            continue
        if p.is_file() and p.suffix.lower() in FORMATS:
            found.append(p)
        else:
            other.append(p.name)
    return found, other


def file_label(name: str, hmac_key: str) -> str:
    """The label a visit-record file is stored under: a keyed hash of its name."""
    return file_label_of(name, hmac_key, "visit-file")


def read_visit_files(snapshot_dir: Path, hmac_key: str) -> VisitFiles:
    """Read every file of ``<snapshot_dir>/visit_records/`` (none when the folder is absent).

    A file that cannot be used at all (a missing column, not a CSV/xlsx) stops the month with one
    line naming it, as any export does; so does any other file in the folder (hidden files and
    Excel's lock files aside), whose records would otherwise be lost. Files are stored under
    :func:`file_label`, a keyed hash of the name, which may hold a grid worker's name.
    """
    folder = snapshot_dir / FOLDER
    empty = VisitFiles(pl.DataFrame(), pl.DataFrame(schema=QUARANTINE))
    if not folder.is_dir():
        return empty
    paths, other = _files(folder)
    if other:
        # a record nobody reads is a record lost: stop, as for any export, and say what to do
        raise InputError(
            f"{folder / other[0]}: not a .xlsx or .csv file; save it as one of those "
            f"(or move it out of {FOLDER}/)"
            + (f"; {len(other) - 1} more like it" if len(other) > 1 else "")
        )
    rows: list[pl.DataFrame] = []
    quar: list[pl.DataFrame] = []
    files: dict[str, VisitFileCount] = {}
    for path in paths:
        # the file's name may hold its grid worker's name (the printed sheets are named so): the
        # warehouse keeps a keyed label of it, never the name
        label = file_label(path.name, hmac_key)
        if path.stat().st_size <= 4096 and not path.read_bytes().lstrip(
            b"\xef\xbb\xbf\xff\xfe \t\r\n\x00"
        ):
            files[label] = VisitFileCount(
                rows_in=0, accepted=0, quarantined=0, physical_rows=0, duplicates=0, encoding=""
            )
            continue
        r = read_export(path, VISIT_RECORDS, hmac_key)
        rows.append(r.records.with_columns(pl.lit(label).alias("file")))
        quar.append(
            r.quarantine.with_columns(pl.lit(SOURCE).alias("source"), pl.lit(label).alias("file"))
        )
        files[label] = VisitFileCount(
            rows_in=r.rows_in,
            accepted=r.records.height,
            quarantined=r.quarantine.height,
            physical_rows=r.physical_rows if r.physical_rows is not None else r.rows_in,
            duplicates=r.duplicates,
            encoding=r.encoding,
        )
    return VisitFiles(
        pl.concat(rows, how="diagonal_relaxed") if rows else pl.DataFrame(),
        pl.concat([q.select(QUARANTINE.names()).cast(QUARANTINE) for q in quar])
        if quar
        else pl.DataFrame(schema=QUARANTINE),
        files,
    )


def _raw(rows: pl.DataFrame) -> list[str]:
    """What a row turned away here keeps in ``quarantine.raw``: its columns as the reader keeps
    them (free text and names redacted, the 网格员 pseudonym left out), as JSON."""
    kept = [
        f
        for f in (
            "enterprise_id",
            "name",
            "address",
            "visited_on",
            "operating_status",
            "observed_headcount",
            "site_condition",
            "union_status",
            "concerns",
            "needs",
            "resources",
        )
        if f in rows.columns
    ]
    if "sheet_enterprise_id" in rows.columns:  # linked: the id as the sheet wrote it
        rows = rows.with_columns(pl.col("sheet_enterprise_id").alias("enterprise_id"))
    text = rows.select(
        [
            redact_series(rows.get_column(f).cast(pl.Utf8).fill_null(""))
            if f not in ("enterprise_id", *FREE_TEXT)
            else rows.get_column(f).cast(pl.Utf8).fill_null("")
            for f in kept
        ]
    )
    return [
        json.dumps({HEADERS[f]: v for f, v in zip(kept, r, strict=True)}, ensure_ascii=False)[:4000]
        for r in text.iter_rows()
    ]


def _turn_away(rows: pl.DataFrame, reason: pl.Expr | str) -> pl.DataFrame:
    reasons = rows.select(reason if isinstance(reason, pl.Expr) else pl.lit(reason)).to_series()
    return pl.DataFrame(
        {
            "source": [SOURCE] * rows.height,
            "source_row": rows.get_column("source_row"),
            "reason": reasons,
            "raw": _raw(rows),
            "file": rows.get_column("file"),
        },
        schema=QUARANTINE,
    )


def _checks(snapshot: str) -> list[tuple[pl.Expr, str]]:
    """The contract's checks the reader cannot make, first failing names the reason."""
    end = month_end(snapshot)
    filled = pl.any_horizontal([pl.col(f).is_not_null() for f in FILLED])
    return [
        (~filled, "no visit recorded: only the printed columns are filled in"),
        (pl.col("visited_on").is_null(), f"{HEADERS['visited_on']}: required value is blank"),
        (pl.col("visited_on") > end, f"{HEADERS['visited_on']}: after the end of {snapshot}"),
        (
            pl.col("operating_status").is_not_null() & ~pl.col("operating_status").is_in(STATUSES),
            f"{HEADERS['operating_status']}: not one of {' / '.join(STATUSES)}",
        ),
        (
            pl.col("union_status").is_not_null() & ~pl.col("union_status").is_in(UNION_ANSWERS),
            f"{HEADERS['union_status']}: not one of {' / '.join(UNION_ANSWERS)}",
        ),
        (
            pl.col("enterprise_id").is_null() & pl.col("name").is_null(),
            f"{HEADERS['enterprise_id']} and {HEADERS['name']} are both blank: "
            "the record names no enterprise",
        ),
    ]


def link_visits(
    snapshot: str,
    read: VisitFiles,
    res: Resolution,
    earlier: pl.DataFrame | None = None,
    merges: pl.DataFrame | None = None,
) -> VisitLoop:
    """Check and link the month's records, and derive the effects of every record so far.

    ``res`` is the month's resolution (registry view: before any visit's effect), ``earlier``
    the ``visit_record`` rows of the months before (:func:`earlier_records`), ``merges`` every
    id merged into another up to this month (:data:`MERGE_SCHEMA`: the published
    ``enterprise_alias`` rows with ``why = 'merged'`` and this month's), which earlier records
    and ids printed on sheets follow (:func:`follow_merges`).
    """
    merges = merges if merges is not None else pl.DataFrame(schema=MERGE_SCHEMA)
    quarantine = [read.quarantine]
    rows = read.rows
    if rows.height:
        checks = _checks(snapshot)
        reason = pl.coalesce(
            [pl.when(c).then(pl.lit(i, dtype=pl.UInt8)) for i, (c, _) in enumerate(checks)]
        ).replace_strict({i: t for i, (_, t) in enumerate(checks)}, return_dtype=pl.Utf8)
        rows = rows.with_columns(
            reason.alias("_reason"), pl.col("enterprise_id").str.to_uppercase()
        )
        quarantine.append(
            _turn_away(rows.filter(pl.col("_reason").is_not_null()), pl.col("_reason"))
        )
        rows = rows.filter(pl.col("_reason").is_null()).drop("_reason")
    records = (
        _link(snapshot, rows, res, quarantine, merges).with_columns(
            pl.lit(snapshot).alias("snapshot")
        )
        if rows.height
        else pl.DataFrame(schema=RECORD_SCHEMA)
    )
    records = records.select(RECORD_SCHEMA.names()).cast(RECORD_SCHEMA).sort("file", "source_row")
    quar = pl.concat(quarantine).sort("file", "source_row")
    files = {
        name: VisitFileCount(
            **{
                **count,
                "accepted": int((records["file"] == name).sum()),
                "quarantined": int((quar["file"] == name).sum()),
            }
        )
        for name, count in read.files.items()
    }
    before = (
        earlier.filter(pl.col("snapshot") < snapshot)
        .select(RECORD_SCHEMA.names())
        .cast(RECORD_SCHEMA)
        if earlier is not None and earlier.height
        else pl.DataFrame(schema=RECORD_SCHEMA)
    )
    # earlier records under the ids that took theirs over since (their visit_record rows keep
    # the id of their month)
    history = follow_merges(pl.concat([before, records]), "enterprise_id", merges, "snapshot")
    history = history.sort(ORDER)
    status, headcount, union = effects(history, res.enterprises)
    return VisitLoop(snapshot, records, history, quar, files, status, headcount, union)


def follow_merges(
    frame: pl.DataFrame, col: str, merges: pl.DataFrame, month: str | None = None
) -> pl.DataFrame:
    """``frame`` with the ids in ``col`` that a merge retired replaced by the id that took them
    over, merge month by merge month (so a chain A -> B -> C ends at C).

    With ``month`` (a column of ``frame``: the month an id was written in) a merge applies only
    to ids written before it; without, every merge applies (an id printed on a sheet).
    """
    if frame.height == 0 or merges.height == 0:
        return frame
    for (when,), step in merges.sort("snapshot", "old_id").group_by(
        "snapshot", maintain_order=True
    ):
        step = step.unique("old_id", keep="first", maintain_order=True)
        old, new = step.get_column("old_id"), step.get_column("new_id")
        applies = pl.col(col).is_in(old.implode())
        if month is not None:
            applies = applies & (pl.col(month) < pl.lit(when))
        frame = frame.with_columns(
            pl.when(applies).then(pl.col(col).replace(old, new)).otherwise(pl.col(col)).alias(col)
        )
    return frame


def merges_so_far(published: pl.DataFrame, this_month: pl.DataFrame, snapshot: str) -> pl.DataFrame:
    """:data:`MERGE_SCHEMA` rows: the published ``enterprise_alias`` merges of the months before
    ``snapshot`` (``snapshot, old_id, new_id, why``) and this month's (``old_id, new_id, why``,
    :func:`datapool.matching.ids.aliases`)."""
    now = this_month.filter(pl.col("why") == "merged").select(
        pl.lit(snapshot).alias("snapshot"), "old_id", "new_id"
    )
    before = published.filter((pl.col("why") == "merged") & (pl.col("snapshot") < snapshot)).select(
        "snapshot", "old_id", "new_id"
    )
    return pl.concat([before, now]).cast(MERGE_SCHEMA).sort("snapshot", "old_id")


def _link(
    snapshot: str,
    rows: pl.DataFrame,
    res: Resolution,
    quarantine: list[pl.DataFrame],
    merges: pl.DataFrame,
) -> pl.DataFrame:
    """Records with their enterprise (by id, else by name + address); the rest quarantined."""
    known = res.enterprises.get_column("enterprise_id").implode()
    rows = (
        rows.rename({"enterprise_id": "sheet_enterprise_id"})
        .with_row_index("qid")
        .with_columns(pl.col("qid").cast(pl.Int64), pl.col("sheet_enterprise_id").alias("_id"))
    )
    rows = follow_merges(rows, "_id", merges)
    on_sheet = pl.col("_id").is_in(known).fill_null(False)
    by_id = rows.filter(on_sheet).with_columns(
        pl.col("_id").alias("enterprise_id"),
        pl.when(pl.col("_id") == pl.col("sheet_enterprise_id"))
        .then(pl.lit("enterprise_id"))
        .otherwise(pl.lit("enterprise_alias"))
        .alias("link_rule"),
        pl.lit(1.0).alias("link_score"),
    )
    rest = rows.filter(~on_sheet)
    matched = link_to_pool(rest.select("qid", "name", "address"), res).select(
        "qid",
        "enterprise_id",
        pl.col("rule").alias("link_rule"),
        pl.col("score").alias("link_score"),
    )
    rest = rest.join(matched, on="qid", how="left")
    unmatched = rest.filter(pl.col("enterprise_id").is_null())
    if unmatched.height:
        quarantine.append(
            _turn_away(
                unmatched,
                pl.when(pl.col("sheet_enterprise_id").is_not_null())
                .then(
                    pl.format(
                        "{} {} is in no enterprise of this month, and {} + {} match none",
                        pl.lit(HEADERS["enterprise_id"]),
                        pl.col("sheet_enterprise_id"),
                        pl.lit(HEADERS["name"]),
                        pl.lit(HEADERS["address"]),
                    )
                )
                .otherwise(
                    pl.lit(
                        f"{HEADERS['name']} + {HEADERS['address']} match no enterprise of this "
                        f"month (no {HEADERS['enterprise_id']})"
                    )
                ),
            )
        )
    linked = pl.concat(
        [by_id, rest.filter(pl.col("enterprise_id").is_not_null())], how="diagonal_relaxed"
    ).sort("file", "source_row")
    # one visit handed in twice (in two files, or a sheet and its CSV): the first copy counts
    first = linked.select(
        pl.col("file").first().over(pl.struct("enterprise_id", *FILLED)).alias("_file"),
        pl.col("source_row").first().over(pl.struct("enterprise_id", *FILLED)).alias("_row"),
    )
    linked = linked.with_columns(first)
    again = (pl.col("_file") != pl.col("file")) | (pl.col("_row") != pl.col("source_row"))
    dup = linked.filter(again)
    if dup.height:
        quarantine.append(
            _turn_away(dup, pl.format("the same visit as {} row {}", "_file", "_row"))
        )
    linked = linked.filter(~again).drop("_file", "_row")
    reg = res.enterprises.select(
        "enterprise_id",
        pl.col("status").alias("registry_status"),
        pl.col("active").alias("registry_active"),
        pl.col("headcount").cast(pl.Int64).alias("registry_headcount"),
    )
    return linked.join(reg, on="enterprise_id", how="left").with_columns(
        pl.format("{}/{}#{}", pl.lit(snapshot), "file", "source_row").alias("record_id")
    )


def effects(
    history: pl.DataFrame, enterprises: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The effects in force: ``(status, headcount, union)``, one row per enterprise each.

    ``history`` is every record so far (:data:`RECORD_SCHEMA`), ``enterprises`` the month's
    enterprises as the registries give them. Per field, the latest record that fills it in
    wins; an observed status or headcount yields to a registry that says something else than it
    said when the record arrived (see the module docstring). Records of enterprises the month
    does not hold have no effect.
    """
    reg = enterprises.select(
        "enterprise_id",
        pl.col("status").alias("_status"),
        pl.col("active").alias("_active"),
        pl.col("headcount").cast(pl.Int64).alias("_headcount"),
    )
    hist = history.sort(ORDER).join(reg, on="enterprise_id", how="inner")

    def latest(col: str) -> pl.DataFrame:
        return hist.filter(pl.col(col).is_not_null()).group_by("enterprise_id").last()

    same_status = pl.col("_status").eq_missing(pl.col("registry_status")) & pl.col(
        "_active"
    ).eq_missing(pl.col("registry_active"))
    status = (
        latest("operating_status")
        .filter(same_status)
        .select(
            "enterprise_id",
            pl.col("operating_status").alias("observed_status"),
            pl.col("visited_on").alias("observed_on"),
            pl.col("record_id").alias("observed_record"),
        )
        .sort("enterprise_id")
    )
    headcount = (
        latest("observed_headcount")
        .filter(pl.col("_headcount").eq_missing(pl.col("registry_headcount")))
        .select(
            "enterprise_id",
            "observed_headcount",
            pl.col("record_id").alias("headcount_record"),
        )
        .sort("enterprise_id")
    )
    union = (
        latest("union_status")
        .select(
            "enterprise_id",
            pl.col("union_status").alias("visit_union"),
            pl.col("record_id").alias("union_record"),
        )
        .sort("enterprise_id")
    )
    return status, headcount, union


def apply_to_enterprises(enterprises: pl.DataFrame, loop: VisitLoop | None) -> pl.DataFrame:
    """The month's enterprises with the visits' effects: ``observed_status`` (+ ``observed_on``,
    ``observed_record``), and an observed headcount in ``headcount`` (``headcount_source`` =
    ``visit``, ``headcount_record``) with the registries' own in ``registry_headcount`` (+
    ``registry_headcount_source``). Without records the new columns are null but the registry
    ones."""
    out = enterprises.with_columns(
        pl.col("headcount").alias("registry_headcount"),
        pl.col("headcount_source").alias("registry_headcount_source"),
    )
    if loop is None:
        return out.with_columns(
            pl.lit(None, pl.Utf8).alias("observed_status"),
            pl.lit(None, pl.Date).alias("observed_on"),
            pl.lit(None, pl.Utf8).alias("observed_record"),
            pl.lit(None, pl.Utf8).alias("headcount_record"),
        )
    seen = loop.headcount.rename({"observed_headcount": "_seen"})
    return (
        out.join(loop.status, on="enterprise_id", how="left")
        .join(seen, on="enterprise_id", how="left")
        .with_columns(
            pl.coalesce(pl.col("_seen").cast(out.schema["headcount"]), pl.col("headcount")).alias(
                "headcount"
            ),
            pl.when(pl.col("_seen").is_not_null())
            .then(pl.lit("visit"))
            .otherwise(pl.col("headcount_source"))
            .alias("headcount_source"),
        )
        .drop("_seen")
    )


def in_operation(enterprises: pl.DataFrame) -> pl.DataFrame:
    """The enterprises no visit in force found closed, moved or gone (停业 / 注销 / 迁出 /
    查无此企业): the watch list and the joint-union groups take only these."""
    if "observed_status" not in enterprises.columns:
        return enterprises
    return enterprises.filter(~pl.col("observed_status").is_in(CLOSED).fill_null(False))


def apply_to_coverage(coverage: pl.DataFrame, loop: VisitLoop | None) -> pl.DataFrame:
    """Coverage with the visits' effects: ``covered_by`` (``member_db``, or ``visit`` when only a
    visit says a union was established), ``visit_union`` (the latest visit's answer), and no
    target that a visit found closed, moved or gone (its headcount is already the observed one)."""
    if loop is None:
        return coverage.with_columns(
            pl.when(pl.col("covered"))
            .then(pl.lit("member_db"))
            .otherwise(None)
            .alias("covered_by"),
            pl.lit(None, pl.Utf8).alias("visit_union"),
        )
    closed = loop.status.filter(pl.col("observed_status").is_in(CLOSED)).get_column("enterprise_id")
    on_visit = pl.col("visit_union") == "是"
    return (
        coverage.join(loop.union.drop("union_record"), on="enterprise_id", how="left")
        .with_columns(
            pl.when(pl.col("covered"))
            .then(pl.lit("member_db"))
            .when(on_visit.fill_null(False))
            .then(pl.lit("visit"))
            .otherwise(None)
            .alias("covered_by"),
        )
        .with_columns((pl.col("covered") | on_visit.fill_null(False)).alias("covered"))
        .with_columns(
            (
                pl.col("target")
                & ~pl.col("covered")
                & ~pl.col("enterprise_id").is_in(closed.implode())
            ).alias("target")
        )
    )


def visit_changes(
    loop: VisitLoop | None, coverage: pl.DataFrame, previous: pl.DataFrame | None
) -> pl.DataFrame:
    """``union_change`` rows the visits make: ``closed_on_visit`` (a record of this month found
    the enterprise closed, moved or gone), ``covered_by_visit`` (a union reported on a visit is
    in force, and was not last month), ``union_confirmed`` (last month only a visit said so,
    now the member database does)."""
    schema = pl.Schema(
        {
            "enterprise_id": pl.Utf8(),
            "change": pl.Utf8(),
            "headcount": pl.Int64(),
            "previous_headcount": pl.Int64(),
        }
    )
    if loop is None:
        return pl.DataFrame(schema=schema)
    prev = (
        previous.select(
            "enterprise_id",
            (
                pl.col("covered_by")
                if "covered_by" in previous.columns
                else pl.when(pl.col("covered")).then(pl.lit("member_db")).otherwise(None)
            ).alias("_prev_by"),
            pl.col("headcount").cast(pl.Int64).alias("previous_headcount"),
        )
        if previous is not None and previous.height
        else pl.DataFrame(
            schema={"enterprise_id": pl.Utf8, "_prev_by": pl.Utf8, "previous_headcount": pl.Int64}
        )
    )
    cur = coverage.select("enterprise_id", "covered_by", pl.col("headcount").cast(pl.Int64)).join(
        prev, on="enterprise_id", how="left"
    )
    closed_now = loop.status.filter(
        pl.col("observed_status").is_in(CLOSED)
        & pl.col("observed_record").str.starts_with(loop.snapshot + "/")
    ).get_column("enterprise_id")
    parts = [
        cur.filter(pl.col("enterprise_id").is_in(closed_now.implode())).with_columns(
            pl.lit("closed_on_visit").alias("change")
        ),
        cur.filter(
            (pl.col("covered_by") == "visit") & ~pl.col("_prev_by").eq_missing(pl.lit("visit"))
        ).with_columns(pl.lit("covered_by_visit").alias("change")),
        cur.filter(
            (pl.col("covered_by") == "member_db") & (pl.col("_prev_by") == "visit")
        ).with_columns(pl.lit("union_confirmed").alias("change")),
    ]
    return pl.concat([p.select(schema.names()) for p in parts]).cast(schema)


def follow_ups(history: pl.DataFrame) -> pl.DataFrame:
    """The enterprises to visit again next month: a concern (企业顾虑) or need (职工急难愁盼)
    recorded at their latest visit, unless that visit found them closed, moved or gone.

    Returns ``enterprise_id, record_id, visited_on`` (the visit that raised them), by id.
    """
    latest = history.sort(ORDER).group_by("enterprise_id").last()
    return (
        latest.filter(
            (pl.col("concerns").is_not_null() | pl.col("needs").is_not_null())
            & ~pl.col("operating_status").is_in(CLOSED).fill_null(False)
        )
        .select("enterprise_id", "record_id", "visited_on")
        .sort("enterprise_id")
    )


def earlier_records(engine: sa.Engine, snapshot: str) -> pl.DataFrame:
    """Every published ``visit_record`` row of the months before ``snapshot``."""
    t = wh.visit_record
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(*(t.c[n] for n in RECORD_SCHEMA.names()))
            .where(t.c.snapshot < snapshot)
            .order_by(t.c.snapshot, t.c.file, t.c.source_row)
        ).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=RECORD_SCHEMA, orient="row")


def published_merges(engine: sa.Engine, snapshot: str) -> pl.DataFrame:
    """The ``enterprise_alias`` merges published for the months before ``snapshot``, with the
    month of each (:data:`MERGE_SCHEMA` plus ``why``)."""
    t = wh.enterprise_alias
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.c.snapshot, t.c.old_id, t.c.new_id, t.c.why)
            .where((t.c.snapshot < snapshot) & (t.c.why == "merged"))
            .order_by(t.c.snapshot, t.c.old_id)
        ).all()
    schema = {**dict(MERGE_SCHEMA), "why": pl.Utf8()}
    return pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")


def grid_month(
    loop: VisitLoop | None,
    coverage: pl.DataFrame,
    changes: pl.DataFrame,
    placement: pl.DataFrame,
    previous: pl.DataFrame | None,
) -> pl.DataFrame:
    """The month's summary per grid (``grid_month``; docs/warehouse.md says what each figure
    counts). Grids whose figures are all zero are left out."""
    grid = placement.select("enterprise_id", "grid_id").filter(pl.col("grid_id").is_not_null())
    cov = coverage.select("enterprise_id", "target", "covered_by")
    prev_targets = (
        previous.filter(pl.col("target")).get_column("enterprise_id")
        if previous is not None and previous.height
        else pl.Series("enterprise_id", [], pl.Utf8)
    )
    if loop is not None:
        now = loop.records
        ever = loop.history.get_column("enterprise_id").unique()
        observed_now = loop.headcount.filter(
            pl.col("headcount_record").str.starts_with(loop.snapshot + "/")
        ).get_column("enterprise_id")
    else:
        now = pl.DataFrame(schema=RECORD_SCHEMA)
        ever = observed_now = pl.Series("enterprise_id", [], pl.Utf8)
    visits = now.group_by("enterprise_id").len("_visits")
    change = changes.group_by("enterprise_id").agg(pl.col("change"))
    per = (
        grid.join(cov, on="enterprise_id", how="left")
        .join(visits, on="enterprise_id", how="left")
        .join(change, on="enterprise_id", how="left")
        .with_columns(
            pl.col("target").fill_null(False),
            pl.col("_visits").fill_null(0),
            pl.col("change").fill_null([]),
            pl.col("enterprise_id").is_in(prev_targets.implode()).alias("_planned"),
            pl.col("enterprise_id").is_in(ever.implode()).alias("_ever"),
        )
    )
    out = (
        per.group_by("grid_id")
        .agg(
            pl.col("target").sum().alias("targets"),
            pl.col("_planned").sum().alias("planned"),
            (pl.col("_planned") & (pl.col("_visits") > 0)).sum().alias("planned_visited"),
            pl.col("_visits").sum().alias("visits"),
            (pl.col("_visits") > 0).sum().alias("enterprises_visited"),
            pl.col("change").list.contains("closed_on_visit").sum().alias("closed_on_visit"),
            pl.col("enterprise_id").is_in(observed_now.implode()).sum().alias("headcount_observed"),
            (pl.col("change").list.contains("newly_covered") & pl.col("_ever"))
            .sum()
            .alias("unions_after_visit"),
            (pl.col("covered_by") == "visit").fill_null(False).sum().alias("covered_by_visit"),
            (pl.col("target") & pl.col("_planned") & ~pl.col("_ever")).sum().alias("unvisited_2m"),
        )
        .sort("grid_id")
    )
    figures = [c for c in out.columns if c != "grid_id"]
    return out.with_columns(pl.col(figures).cast(pl.Int64)).filter(
        pl.any_horizontal([pl.col(c) > 0 for c in figures])
    )
