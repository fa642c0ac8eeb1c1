"""The review queue in the warehouse: export it, import people's decisions, report on them.

The queue itself is made by the monthly run (:func:`month_queue`, matching/review.py) and stored
in ``review_pair``; decisions live in ``review_decision``, which no run replaces: a new decision
on a pair supersedes the old one (``superseded_at``) and nothing is deleted. The run reads the
current decisions (:func:`current_decisions`) and clustering enforces them (matching/clusters.py).

``by`` (who decided) is a person's name, and names of people are personal data by this project's
rules (datapool/privacy.py): it is stored as a keyed pseudonym, ``R`` + 12 hex digits of an
HMAC under ``DATAPOOL_HMAC_KEY`` (:func:`reviewer`), so one person's decisions stay together and
whoever holds the key can check a name against it, but the table never shows one.
"""

from __future__ import annotations

import csv
import hmac
import io
import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa

from datapool.connectors import warehouse
from datapool.errors import InputError
from datapool.matching import review as rq
from datapool.privacy import file_label, redact
from datapool.schemas import warehouse as wh

EXPORT_COLUMNS = (
    "pair_id",
    "left_source",
    "left_row",
    "right_source",
    "right_row",
    "left_name",
    "right_name",
    "left_address",
    "right_address",
    "left_id",
    "right_id",
    "score",
    "rule",
    "evidence",
    "decision",
    "note",
)
LABELS_ZH = {
    "pair_id": "配对编号",
    "left_source": "左：来源",
    "left_row": "左：行号",
    "right_source": "右：来源",
    "right_row": "右：行号",
    "left_name": "左：名称",
    "right_name": "右：名称",
    "left_address": "左：地址",
    "right_address": "右：地址",
    "left_id": "左：证照号码",
    "right_id": "右：证照号码",
    "score": "同一企业的概率",
    "rule": "匹配规则",
    "evidence": "依据（各项比较及权重）",
    "decision": "判定（same/different/unsure）",
    "note": "备注",
}
SOURCE_ZH = {
    "market_supervision": "市场监管",
    "civil_affairs": "民政",
    "social_insurance": "人社",
    "tax_registry": "税务",
}
RULE_ZH = {
    "none": "未链接",
    "name": "名称相同且地址或电话佐证",
    "name_only": "名称相同",
    "name_fuzzy": "名称相近且地址或电话佐证",
    "uscc_typo": "信用代码仅差一位且名称相近",
    "brand": "字号仅差一字，其他信息佐证",
    "weights": "综合权重达到阈值",
}
# what an analyst may write: the contract's words, and their Chinese
DECISION_WORDS = {
    "same": "same",
    "different": "different",
    "unsure": "unsure",
    "相同": "same",
    "同一": "same",
    "同一企业": "same",
    "是": "same",
    "不同": "different",
    "不是": "different",
    "否": "different",
    "不确定": "unsure",
}
_FORMULA_START = re.compile(r"^[=+\-@\t\r]")
_PAIR_ID = re.compile(rf"^{rq.PAIR_PREFIX}[0-9A-F]{{{rq.PAIR_HEX}}}$")
REVIEWER_PREFIX, REVIEWER_HEX = "R", 12


def reviewer(name: str, key: str) -> str:
    """A person's keyed pseudonym (see the module docstring); the name itself is never stored."""
    mac = hmac.new(key.encode("utf-8"), b"reviewer\x1f" + name.strip().encode("utf-8"), "sha256")
    return REVIEWER_PREFIX + mac.hexdigest()[:REVIEWER_HEX].upper()


# --- the run's side ---------------------------------------------------------------------------


def current_decisions(engine: sa.Engine) -> pl.DataFrame:
    """Every pair's current decision (not superseded), oldest first."""
    t = wh.review_decision
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t).where(t.c.superseded_at.is_(None)).order_by(t.c.at, t.c.pair_id)
        ).all()
    return pl.DataFrame(
        [tuple(r) for r in rows],
        schema={c.name: _polars_type(c) for c in t.columns},
        orient="row",
    )


def _polars_type(col: sa.Column[Any]) -> Any:
    if isinstance(col.type, sa.DateTime):
        return pl.Datetime("us")
    if isinstance(col.type, sa.Float):
        return pl.Float64
    return pl.Utf8


def overturned_by_rule(decisions: pl.DataFrame) -> dict[str, tuple[int, int]]:
    """Per rule: (pairs people overturned, pairs they decided), over same/different decisions."""
    d = decisions.filter(
        pl.col("decision").is_in(["same", "different"]) & pl.col("rule").is_not_null()
    )
    if d.height == 0:
        return {}
    g = d.group_by("rule").agg(
        (pl.col("decision") != pl.col("matcher")).sum().alias("over"), pl.len().alias("n")
    )
    return {r: (int(o), int(n)) for r, o, n in g.iter_rows()}


def month_queue(
    std: pl.DataFrame,
    links: pl.DataFrame,
    weights: Any,
    unsure: pl.DataFrame,
    coverage: pl.DataFrame,
    key: str,
    decisions: pl.DataFrame | None,
) -> pl.DataFrame:
    """The month's ``review_pair`` rows: its undecided candidate pairs (matching/review.py), from
    the unsure pairs matching's scoring kept (engine.Resolution.unsure)."""
    targets = coverage.filter(pl.col("target")).get_column("enterprise_id")
    decided = decisions.get_column("pair_id") if decisions is not None else None
    overturned = overturned_by_rule(decisions) if decisions is not None else None
    return rq.queue(std, links, weights, key, unsure, targets, decided, overturned)


def month_figures(
    queue: pl.DataFrame, held: dict[str, Any], decisions: pl.DataFrame | None
) -> dict[str, Any]:
    """The review figures a run records (``pipeline_run.counts.review``) and shows (artifact)."""
    d = decisions if decisions is not None else pl.DataFrame(schema={"decision": pl.Utf8})
    by = {k: int(v) for k, v in d.group_by("decision").len().iter_rows()} if d.height else {}
    return {
        "waiting": queue.height,
        "decided": by,
        "enforced": held,
        "agreement": rq.agreement(d) if "matcher" in d.columns else {},
    }


def markdown(snapshot: str, figures: dict[str, Any]) -> str:
    """The review figures as Markdown (the month's Prefect artifact ``datapool-<month>-review``)."""
    decided = figures.get("decided", {})
    held = figures.get("enforced", {})
    agree = figures.get("agreement", {})
    lines = [
        f"# Review {snapshot}",
        "",
        f"* pairs waiting for a decision: {figures.get('waiting', 0)}",
        "* pairs decided: " + (", ".join(f"{k} {v}" for k, v in sorted(decided.items())) or "none"),
        f"* decisions on this month's rows: {held.get('applicable', 0)}; same held "
        f"{held.get('same_held', 0)}, different held {held.get('different_held', 0)}",
    ]
    for why, n in (held.get("refused") or {}).items():
        lines.append(f"* same not applied, identifier constraints win: {n} ({why})")
    if agree.get("decided"):
        lines += [
            f"* matcher agreed with people on {agree['agreed']} of {agree['decided']} pairs",
            "",
            "| rule | decided | agreed | agreement |",
            "|---|---|---|---|",
            *(
                f"| {r['rule']} | {r['decided']} | {r['agreed']} | {r['agreement']} |"
                for r in agree["per_rule"]
            ),
            "",
            "| score band | decided | agreed | agreement |",
            "|---|---|---|---|",
            *(
                f"| {r['score_band']} | {r['decided']} | {r['agreed']} | {r['agreement']} |"
                for r in agree["per_score_band"]
            ),
        ]
        if agree["overturned"]:
            lines += [
                "",
                "Rules people overturn most: "
                + ", ".join(
                    f"{r['rule']} ({r['overturned']}/{r['decided']})" for r in agree["overturned"]
                ),
            ]
    return "\n".join(lines) + "\n"


# --- export -----------------------------------------------------------------------------------


def export(url: str, snapshot: str, out: Path, limit: int | None = None) -> int:
    """Write ``snapshot``'s undecided pairs to ``out`` (.xlsx or .csv); returns how many."""
    suffix = out.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise InputError(f"{out}: the review file must end in .xlsx or .csv")
    engine = warehouse.open_existing(url)
    if snapshot not in warehouse.published_snapshots(engine):
        raise InputError(f"snapshot {snapshot} is not published in {warehouse.describe_url(url)}")
    if "review_pair" not in sa.inspect(engine).get_table_names():
        raise InputError(
            f"{warehouse.describe_url(url)} holds no review queue: run {snapshot} again"
        )
    q = warehouse.read_table(engine, "review_pair", snapshot)
    decided = _decided_ids(engine)
    q = q.filter(~pl.col("pair_id").is_in(decided.implode())).sort(
        ["priority", "pair_id"], descending=[True, False]
    )
    if limit is not None:
        q = q.head(limit)
    recs = warehouse.read_table(engine, "source_record", snapshot).select(
        "source", "source_row", "name", "address", "id_clean"
    )
    frame = q
    for side in ("left", "right"):
        frame = frame.join(
            recs.rename(
                {
                    "source": f"{side}_source",
                    "source_row": f"{side}_row",
                    "name": f"{side}_name",
                    "address": f"{side}_address",
                    "id_clean": f"{side}_id",
                }
            ),
            on=[f"{side}_source", f"{side}_row"],
            how="left",
            maintain_order="left",
        )
    frame = frame.with_columns(pl.lit("").alias("decision"), pl.lit("").alias("note")).select(
        EXPORT_COLUMNS
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        _write_csv(frame, out)
    else:
        _write_xlsx(frame, out, snapshot)
    return frame.height


def _decided_ids(engine: sa.Engine) -> pl.Series:
    t = wh.review_decision
    with engine.connect() as conn:
        if "review_decision" not in sa.inspect(conn).get_table_names():
            return pl.Series("pair_id", [], dtype=pl.Utf8)
        ids = conn.execute(sa.select(t.c.pair_id).where(t.c.superseded_at.is_(None))).scalars()
        return pl.Series("pair_id", list(ids), dtype=pl.Utf8)


def _inert(value: object) -> object:
    """Agency text opened in a spreadsheet is never a formula."""
    if isinstance(value, str) and _FORMULA_START.match(value):
        return "'" + value
    return value


def _write_csv(frame: pl.DataFrame, out: Path) -> None:
    texts = [c for c, t in frame.schema.items() if t == pl.Utf8]
    frame.with_columns(
        pl.when(pl.col(c).str.contains(_FORMULA_START.pattern))
        .then("'" + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in texts
    ).write_csv(out, include_bom=True)


def _write_xlsx(frame: pl.DataFrame, out: Path, snapshot: str) -> None:
    import xlsxwriter

    from datapool.visits.sheets import INERT

    wb = xlsxwriter.Workbook(str(out), INERT)
    head = wb.add_format({"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#DDEBF7"})
    wrap = wb.add_format({"text_wrap": True, "valign": "top"})
    fill = wb.add_format({"bg_color": "#FFF2CC", "valign": "top"})
    ws = wb.add_worksheet("待审核")
    widths = {
        "pair_id": 20,
        "left_name": 30,
        "right_name": 30,
        "left_address": 30,
        "right_address": 30,
        "left_id": 20,
        "right_id": 20,
        "evidence": 60,
        "note": 24,
    }
    for j, col in enumerate(EXPORT_COLUMNS):
        # the Chinese label, then the column's name, which the import reads
        ws.write_string(0, j, f"{LABELS_ZH[col]}\n{col}", head)
        ws.set_column(j, j, widths.get(col, 12), wrap)
    for i, row in enumerate(frame.iter_rows(named=True), start=1):
        for j, col in enumerate(EXPORT_COLUMNS):
            v = row[col]
            if col.endswith("_source") and v:
                v = f"{SOURCE_ZH.get(v, v)} {v}"
            elif col == "rule" and v:
                v = f"{RULE_ZH.get(v, v)} ({v})"
            if v is None or v == "":
                if col in ("decision", "note"):
                    ws.write_blank(i, j, None, fill)
                continue
            if isinstance(v, int | float) and not isinstance(v, bool):
                ws.write_number(i, j, v)
            else:
                ws.write_string(i, j, str(v))
    n = frame.height
    d = EXPORT_COLUMNS.index("decision")
    if n:
        ws.data_validation(
            1,
            d,
            n,
            d,
            {"validate": "list", "source": ["same", "different", "unsure"], "ignore_blank": True},
        )
    ws.freeze_panes(1, 1)
    ws.autofilter(0, 0, max(n, 1), len(EXPORT_COLUMNS) - 1)
    ws.set_landscape()
    ws.set_paper(9)
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(0)
    info = wb.add_worksheet("说明")
    notes = [
        ("月份 snapshot", snapshot),
        ("共 pairs", str(n)),
        (
            "怎么填",
            "在“判定”列填 same（同一企业）、different（不是同一企业）或 unsure（拿不准）；"
            "也可填 相同/不同/不确定。不要改动配对编号。",
        ),
        ("导入", "datapool review import 本文件 --by 姓名（姓名只以加密化名保存）"),
        ("排序", "按判定会改变多少排序：改变的可能性 ×（1 + log2 涉及的记录数）× 涉及走访目标时 2"),
        ("同一企业的概率", "由本月学得的权重算出；阈值处为 0.99"),
    ]
    info.set_column(0, 0, 18)
    info.set_column(1, 1, 100, wrap)
    for i, (k, v) in enumerate(notes):
        info.write_string(i, 0, k, head)
        info.write_string(i, 1, v)
    wb.close()


# --- import -----------------------------------------------------------------------------------


@dataclass
class Imported:
    """What an import recorded."""

    recorded: int
    superseded: int
    by_decision: dict[str, int]


def _read_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """The file's data rows as (row number as a person sees it, {column: text})."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = path.read_text(encoding="gb18030")
            except UnicodeDecodeError:
                raise InputError(f"{path}: not UTF-8 or GB18030 text") from None
        try:  # newline="": a quoted cell may hold line breaks
            table = list(csv.reader(io.StringIO(text, newline="")))
        except csv.Error as exc:
            raise InputError(f"{path}: not a readable CSV file ({exc})") from None
        first = 1
    elif suffix == ".xlsx":
        import openpyxl

        try:
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception:  # noqa: BLE001
            raise InputError(f"{path}: not a readable .xlsx workbook") from None
        ws = wb.worksheets[0]
        table = [
            ["" if v is None else str(v) for v in row] for row in ws.iter_rows(values_only=True)
        ]
        wb.close()
        first = 1
    else:
        raise InputError(f"{path}: the review file must end in .xlsx or .csv")
    if not table:
        raise InputError(f"{path}: empty file")
    header = [h.strip().splitlines()[-1].strip() if h.strip() else "" for h in table[0]]
    for need in ("pair_id", "decision"):
        if need not in header:
            raise InputError(f"{path}: row {first}: no {need} column in the header")
    rows = []
    for n, cells in enumerate(table[1:], start=first + 1):
        if not any(c.strip() for c in cells):
            continue
        rows.append(
            (n, {h: (cells[j] if j < len(cells) else "") for j, h in enumerate(header) if h})
        )
    return rows


def import_file(url: str, path: Path, by: str | None, key: str | None) -> Imported:
    """Record every filled decision of ``path`` in ``review_decision``, all or nothing.

    Raises InputError (one line: file, row, problem) on a bad row, an unknown pair, or a ``same``
    that would join two different valid USCCs; then nothing of the file is recorded.
    """
    rows = _read_rows(path)
    filled: dict[str, tuple[int, str, str]] = {}
    for n, r in rows:
        word = (r.get("decision") or "").strip()
        if not word:
            continue
        decision = DECISION_WORDS.get(word.lower(), DECISION_WORDS.get(word))
        if decision is None:
            raise InputError(f"{path}: row {n}: decision {word!r} is not same, different or unsure")
        pair = (r.get("pair_id") or "").strip()
        if not _PAIR_ID.match(pair):
            raise InputError(f"{path}: row {n}: pair_id {pair[:40]!r} is not a pair id")
        if pair in filled and filled[pair][1] != decision:
            raise InputError(
                f"{path}: row {n}: pair {pair} is decided twice, differently "
                f"(row {filled[pair][0]})"
            )
        # a note is free text: phone numbers, ID numbers, e-mails and people named by title or
        # role are masked before it is kept
        filled[pair] = (n, decision, redact((r.get("note") or "").strip(), persons=True))
    warehouse.open_existing(url).dispose()  # a missing warehouse is said, never created
    engine = warehouse.engine_for(url)
    pairs = _lookup(engine, list(filled))
    for pair, (n, _, _) in filled.items():
        if pair not in pairs:
            raise InputError(
                f"{path}: row {n}: pair {pair} is in no review queue of this warehouse"
            )
    for pair, (n, decision, _) in filled.items():
        if decision == "same":
            clash = _two_usccs(engine, pairs[pair])
            if clash:
                raise InputError(
                    f"{path}: row {n}: pair {pair} refused as same: it would join two different "
                    f"valid USCCs ({clash[0]}, {clash[1]}); nothing of {path.name} was recorded"
                )
    if by and not key:
        raise InputError("--by needs DATAPOOL_HMAC_KEY: a name is stored only as a keyed pseudonym")
    who = reviewer(by, key) if by and key else None
    now = datetime.now().replace(microsecond=0)
    t = wh.review_decision
    superseded = 0
    with engine.begin() as conn:
        for pair, (_, decision, note) in filled.items():
            p = pairs[pair]
            superseded += conn.execute(
                t.update()
                .where(t.c.pair_id == pair, t.c.superseded_at.is_(None))
                .values(superseded_at=now)
            ).rowcount
            conn.execute(
                t.insert(),
                [
                    {
                        "snapshot": p["snapshot"],
                        "pair_id": pair,
                        "left_source": p["left_source"],
                        "left_key": p["left_key"],
                        "right_source": p["right_source"],
                        "right_key": p["right_key"],
                        "decision": decision,
                        "by": who,
                        "at": now,
                        "superseded_at": None,
                        "note": note or None,
                        "matcher": p.get("matcher"),
                        "rule": p.get("rule"),
                        "score": p.get("score"),
                        "source_file": file_label(path.name, key, "review-file") if key else None,
                    }
                ],
            )
    counts: dict[str, int] = {}
    for _, decision, _ in filled.values():
        counts[decision] = counts.get(decision, 0) + 1
    return Imported(len(filled), superseded, counts)


def _lookup(engine: sa.Engine, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each pair's rows and the matcher's view: from the latest queue holding it, else from an
    earlier decision on it."""
    out: dict[str, dict[str, Any]] = {}
    if not ids:
        return out
    q, d = wh.review_pair, wh.review_decision
    with engine.connect() as conn:
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            for r in conn.execute(
                sa.select(q).where(q.c.pair_id.in_(chunk)).order_by(q.c.snapshot)
            ).mappings():
                out[r["pair_id"]] = {
                    **dict(r),
                    "matcher": "same" if r["together"] else "different",
                }
            for r in conn.execute(
                sa.select(d).where(d.c.pair_id.in_(chunk)).order_by(d.c.at)
            ).mappings():
                if r["pair_id"] not in out:
                    out[r["pair_id"]] = dict(r)
    return out


def _two_usccs(engine: sa.Engine, p: dict[str, Any]) -> tuple[str, str] | None:
    """Two different valid USCCs the pair's sides hold (their rows, and the enterprises they were
    in that month), or None."""
    s, e = wh.source_record, wh.enterprise
    sides: list[set[str]] = []
    with engine.connect() as conn:
        for side in ("left", "right"):
            found: set[str] = set()
            for (u,) in conn.execute(
                sa.select(s.c.uscc).where(
                    s.c.snapshot == p["snapshot"],
                    s.c.source == p[f"{side}_source"],
                    s.c.source_key == p[f"{side}_key"],
                    s.c.uscc_valid.is_(True),
                )
            ):
                found.add(u)
            ent = p.get(f"{side}_enterprise")
            if ent:
                for (u,) in conn.execute(
                    sa.select(e.c.uscc).where(
                        e.c.snapshot == p["snapshot"],
                        e.c.enterprise_id == ent,
                        e.c.uscc_valid.is_(True),
                    )
                ):
                    found.add(u)
            sides.append({u for u in found if u})
    for a in sorted(sides[0]):
        for b in sorted(sides[1]):
            if a != b:
                return a, b
    return None


# --- stats ------------------------------------------------------------------------------------


def stats(url: str) -> dict[str, Any]:
    """Pairs decided and waiting, and how often the matcher agreed with people."""
    engine = warehouse.open_existing(url)
    names = set(sa.inspect(engine).get_table_names())
    decisions = (
        current_decisions(engine)
        if "review_decision" in names
        else pl.DataFrame(schema={c.name: _polars_type(c) for c in wh.review_decision.columns})
    )
    months = sorted(warehouse.published_snapshots(engine))
    waiting = 0
    latest = months[-1] if months else None
    if latest and "review_pair" in names:
        q = warehouse.read_table(engine, "review_pair", latest)
        waiting = q.filter(~pl.col("pair_id").is_in(decisions["pair_id"].implode())).height
    by = {k: int(v) for k, v in decisions.group_by("decision").len().iter_rows()}
    with engine.connect() as conn:
        superseded = (
            conn.execute(
                sa.select(sa.func.count())
                .select_from(wh.review_decision)
                .where(wh.review_decision.c.superseded_at.is_not(None))
            ).scalar()
            if "review_decision" in names
            else 0
        )
    refused: dict[str, int] = {}
    runs = warehouse.latest_runs(engine)
    if runs:
        refused = ((runs[-1]["counts"].get("review") or {}).get("enforced") or {}).get(
            "refused"
        ) or {}
    return {
        "snapshot": latest,
        "refused": refused,
        "waiting": waiting,
        "decided": by,
        "superseded": int(superseded or 0),
        "agreement": rq.agreement(decisions),
    }


def stats_text(s: dict[str, Any]) -> str:
    """:func:`stats` as lines for people."""
    decided = s["decided"]
    total = sum(decided.values())
    lines = [
        f"pairs decided: {total}"
        + (" (" + ", ".join(f"{k} {v}" for k, v in sorted(decided.items())) + ")" if total else "")
        + f"; superseded decisions kept: {s['superseded']}",
        f"pairs waiting in the queue of {s['snapshot'] or 'no month'}: {s['waiting']}",
    ]
    for why, n in (s.get("refused") or {}).items():
        lines.append(
            f"same not applied in {s['snapshot']}, identifier constraints win: {n} ({why})"
        )
    a = s["agreement"]
    if a["decided"]:
        lines.append(f"matcher agreed with people on {a['agreed']} of {a['decided']} pairs")
        lines.append("per rule:")
        lines += [
            f"  {r['rule']:<12} {r['agreed']:>5} / {r['decided']:<5} {r['agreement']:.3f}"
            for r in a["per_rule"]
        ]
        lines.append("per score band (chance of one enterprise):")
        lines += [
            f"  {r['score_band']:<12} {r['agreed']:>5} / {r['decided']:<5} {r['agreement']:.3f}"
            for r in a["per_score_band"]
        ]
        over = a["overturned"]
        lines.append(
            "rules people overturn most: "
            + (", ".join(f"{r['rule']} {r['overturned']}/{r['decided']}" for r in over) or "none")
        )
    return "\n".join(lines)


def stats_json(s: dict[str, Any]) -> str:
    """:func:`stats` as JSON."""
    return json.dumps(s, ensure_ascii=False, sort_keys=True, indent=2)
