"""The review queue end to end (../shared/spec/review.md): a small generated world run through the
real Prefect flow into SQLite, decisions taken from the truth, imported, and the months re-run."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import polars as pl
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from datapool.bench import quality
from datapool.cli import cli
from datapool.connectors import warehouse
from datapool.matching import review as rq
from datapool.review import EXPORT_COLUMNS, reviewer
from datapool.schemas import warehouse as wh

MONTHS = ["2025-05", "2025-06"]
DECIDED = 200  # pairs decided from the truth, the first of the month's queue


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """1,500 enterprises, two months (a world whose queue holds some of the matcher's mistakes)."""
    from datapool.samples import generate

    root = tmp_path_factory.mktemp("review_world")
    generate(root, 1500, MONTHS, seed=2)
    return root


@pytest.fixture(scope="module")
def run(prefect_harness, world, tmp_path_factory):
    from datapool.flows.snapshot import snapshot_flow
    from datapool.settings import Settings

    out = tmp_path_factory.mktemp("review_out")
    url = f"sqlite:///{out / 'warehouse.sqlite'}"
    settings = Settings(input_root=world, warehouse_url=url, out_dir=out)

    def month(m: str):
        return snapshot_flow(snapshot=m, settings=settings)

    month(MONTHS[0])
    return {"url": url, "out": out, "month": month, "world": world}


def _table(url: str, name: str, month: str) -> pl.DataFrame:
    return warehouse.read_table(warehouse.engine_for(url), name, month)


def _truth(world: Path, month: str) -> pl.DataFrame:
    return pl.read_csv(
        world / "truth" / month / "rows.csv", schema_overrides={"enterprise_key": pl.Utf8}
    )


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, standalone_mode=False)
    return result.exit_code, result.output


def _main(*args: str) -> tuple[int, str]:
    """Through the console entry point, as a user runs it (errors: one line, exit 2)."""
    import subprocess
    import sys

    p = subprocess.run(
        [sys.executable, "-m", "datapool.cli", *args], capture_output=True, text=True, timeout=300
    )
    return p.returncode, p.stdout + p.stderr


FIND_BY_OLD_ID = """
WITH RECURSIVE current(id) AS (
  SELECT :id
  UNION SELECT a.new_id FROM enterprise_alias a JOIN current c ON a.old_id = c.id
  WHERE a.why = 'merged'
)
SELECT e.enterprise_id, e.name FROM enterprise e JOIN current c ON e.enterprise_id = c.id
WHERE e.snapshot = :month
"""


def decisions_columns() -> tuple[str, ...]:
    return ("left_source", "left_key", "right_source", "right_key", "decision")


def _held(url: str, month: str, decisions: pl.DataFrame) -> pl.DataFrame:
    """Each decision with whether its two rows are together in ``month``."""
    rec = _table(url, "source_record", month).select("source", "source_row", "source_key")
    links = _table(url, "enterprise_link", month).select("source", "source_row", "enterprise_id")
    key_to_e = rec.join(links, on=["source", "source_row"]).select(
        "source", "source_key", "enterprise_id"
    )
    d = decisions
    for side in ("left", "right"):
        d = d.join(
            key_to_e.rename(
                {"source": f"{side}_source", "source_key": f"{side}_key", "enterprise_id": side}
            ),
            on=[f"{side}_source", f"{side}_key"],
        )
    return d.with_columns((pl.col("left") == pl.col("right")).alias("together"))


@pytest.mark.prefect
@pytest.mark.slow
def test_review_decisions_steer_the_month_and_the_next(run, tmp_path):
    url, world = run["url"], run["world"]
    m1, m2 = MONTHS
    truth1 = _truth(world, m1)
    before = quality(_table(url, "enterprise_link", m1), truth1)

    # export: the queue, most useful first, as CSV and as an analyst's xlsx
    csv_file, xlsx_file = tmp_path / "queue.csv", tmp_path / "queue.xlsx"
    code, out = _invoke(
        "review",
        "export",
        "--snapshot",
        m1,
        "--out",
        str(csv_file),
        "--limit",
        str(DECIDED),
        "--warehouse-url",
        url,
    )
    assert code == 0 and f"{DECIDED} pairs" in out, out
    queue = pl.read_csv(
        csv_file,
        infer_schema_length=None,
        schema_overrides={
            "left_id": pl.Utf8,
            "right_id": pl.Utf8,
            "note": pl.Utf8,
            "decision": pl.Utf8,
        },
    )
    assert tuple(queue.columns) == EXPORT_COLUMNS and queue.height == DECIDED
    assert queue["pair_id"].is_unique().all()
    stored = _table(url, "review_pair", m1).sort(["priority", "pair_id"], descending=[True, False])
    assert queue["pair_id"].to_list() == stored["pair_id"].head(DECIDED).to_list()
    code, _ = _invoke(
        "review",
        "export",
        "--snapshot",
        m1,
        "--out",
        str(xlsx_file),
        "--limit",
        "20",
        "--warehouse-url",
        url,
    )
    ws = openpyxl.load_workbook(xlsx_file).worksheets[0]
    header = [c.value for c in ws[1]]
    assert header[0] == "配对编号\npair_id" and all("\n" in h for h in header)
    assert ws.max_row == 21 and ws.freeze_panes == "B2"

    # decisions from the truth
    key = truth1.select("source", "source_row", "enterprise_key")
    truthy = (
        queue.join(
            key.rename({"source": "left_source", "source_row": "left_row", "enterprise_key": "a"}),
            on=["left_source", "left_row"],
        )
        .join(
            key.rename(
                {"source": "right_source", "source_row": "right_row", "enterprise_key": "b"}
            ),
            on=["right_source", "right_row"],
        )
        .with_columns(
            pl.when(pl.col("a") == pl.col("b"))
            .then(pl.lit("same"))
            .otherwise(pl.lit("different"))
            .alias("decision")
        )
    )
    assert truthy.height == DECIDED
    note = "问过周经理 138-1234-5678"  # a note may name a person and a phone
    truthy = truthy.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(note)).otherwise("note").alias("note")
    )
    filled = tmp_path / "张三-decided.csv"  # a file's name may name its reviewer
    truthy.select(EXPORT_COLUMNS).write_csv(filled)
    code, out = _invoke("review", "import", str(filled), "--by", "张三", "--warehouse-url", url)
    assert code == 0 and f"{DECIDED} decisions recorded" in out, out
    engine = warehouse.engine_for(url)
    dec = warehouse.read_table(engine, "review_decision", m1)
    assert dec.height == DECIDED and dec["superseded_at"].is_null().all()
    assert set(dec["by"]) == {reviewer("张三", "datapool-public-test-key")}
    assert "张三" not in str(dec.to_dicts())
    assert "问过<name>经理 <phone>" in dec["note"].to_list() and "周经理" not in str(dec.to_dicts())
    assert (
        dec["source_file"].str.contains(r"^F[0-9A-F]{12}$").all()
    )  # a keyed label, never the name
    corrections = dec.filter(pl.col("decision") != pl.col("matcher")).height
    assert corrections > 0  # the truth overturns the matcher somewhere in the first 200

    # the next month, built on the month as first published: ids follow the decisions. Two
    # enterprises a `same` merges keep the older id (both first seen in m1 here: the one with
    # more rows, then the smaller id); the other resolves through enterprise_alias
    run["month"](m2)
    merges = dec.filter((pl.col("decision") == "same") & (pl.col("matcher") == "different")).join(
        stored.select("pair_id", "left_enterprise", "right_enterprise"), on="pair_id"
    )
    assert merges.height
    now = _held(url, m2, merges.select(*decisions_columns(), "left_enterprise", "right_enterprise"))
    alias = _table(url, "enterprise_alias", m2)
    ents2 = set(_table(url, "enterprise", m2)["enterprise_id"])
    for r in now.iter_rows(named=True):
        old = {r["left_enterprise"], r["right_enterprise"]}
        assert r["together"] and r["left"] in old, r  # the survivor is one of the two old ids
        (gone,) = old - {r["left"]}
        assert gone not in ents2
        assert alias.filter((pl.col("old_id") == gone) & (pl.col("why") == "merged"))[
            "new_id"
        ].to_list() == [r["left"]]
    with engine.connect() as conn:  # the README's query on an old id finds the enterprise
        found = conn.execute(sa.text(FIND_BY_OLD_ID), {"id": gone, "month": m2}).all()
    assert [f[0] for f in found] == [r["left"]]

    # the month re-run (as backfill --force does): every decision holds, exactness rises
    run["month"](m1)
    decisions = dec.select(*decisions_columns())
    held = _held(url, m1, decisions)
    assert held.height == DECIDED
    assert held.filter(pl.col("decision") == "same")["together"].all()
    assert not held.filter(pl.col("decision") == "different")["together"].any()
    after = quality(_table(url, "enterprise_link", m1), truth1)
    assert after["exact"] > before["exact"], (before, after)
    assert not set(_table(url, "review_pair", m1)["pair_id"]) & set(dec["pair_id"])

    # the next month re-run on it: decisions still hold, and no decided pair is queued again
    run["month"](m2)
    held2 = _held(url, m2, decisions)
    assert held2.height > DECIDED * 0.9
    assert held2.filter(pl.col("decision") == "same")["together"].all()
    assert not held2.filter(pl.col("decision") == "different")["together"].any()
    assert not set(_table(url, "review_pair", m2)["pair_id"]) & set(dec["pair_id"])
    next_file = tmp_path / "next.csv"
    code, _ = _invoke(
        "review", "export", "--snapshot", m2, "--out", str(next_file), "--warehouse-url", url
    )
    with next_file.open(encoding="utf-8-sig") as f:
        assert not {r["pair_id"] for r in csv.DictReader(f)} & set(dec["pair_id"])
    counts = warehouse.latest_runs(engine)[-1]["counts"]["review"]
    assert (
        counts["enforced"]["same_held"] + counts["enforced"]["different_held"]
        == (counts["enforced"]["applicable"])
    )

    from prefect.artifacts import Artifact

    art = Artifact.get(f"datapool-{m2}-review")
    assert art is not None and "pairs waiting" in str(art.data) and "same held" in str(art.data)

    # stats: decided / waiting, agreement per rule and score band
    code, out = _invoke("review", "stats", "--warehouse-url", url)
    assert code == 0 and f"pairs decided: {DECIDED}" in out and "per rule:" in out, out
    assert "rules people overturn most:" in out

    # a new decision supersedes, nothing is deleted
    one = truthy.head(1).with_columns(pl.lit("unsure").alias("decision"))
    again = tmp_path / "again.csv"
    one.select(EXPORT_COLUMNS).write_csv(again)
    code, out = _invoke("review", "import", str(again), "--warehouse-url", url)
    assert code == 0 and "1 earlier decisions superseded" in out, out
    all_rows = warehouse.read_table(engine, "review_decision", m1)
    pid = one["pair_id"][0]
    mine = all_rows.filter(pl.col("pair_id") == pid)
    assert mine.height == 2 and mine["superseded_at"].null_count() == 1


@pytest.mark.prefect
@pytest.mark.slow
def test_same_on_two_valid_usccs_is_refused_and_nothing_recorded(run, tmp_path):
    url = run["url"]
    m1 = MONTHS[0]
    engine = warehouse.engine_for(url)
    pairs = _table(url, "review_pair", m1).filter(~pl.col("together"))
    ents = (
        _table(url, "enterprise", m1)
        .filter(pl.col("uscc_valid").fill_null(False))
        .select("enterprise_id", "uscc")
    )
    clashing = (
        pairs.join(ents, left_on="left_enterprise", right_on="enterprise_id")
        .join(ents, left_on="right_enterprise", right_on="enterprise_id", suffix="_r")
        .filter(pl.col("uscc") != pl.col("uscc_r"))
    )
    assert clashing.height == 0, "a pair of two enterprises with valid USCCs is never asked"
    # ... but a queue filled in late may hold one (its rows' enterprises took USCCs since): plant
    # such a pair as that queue would hold it
    a = ents.row(0, named=True)
    b = ents.filter(pl.col("uscc") != a["uscc"]).row(0, named=True)
    both = pairs.head(1).with_columns(
        pl.lit("P00000000000000AB").alias("pair_id"),
        pl.lit(a["enterprise_id"]).alias("left_enterprise"),
        pl.lit(b["enterprise_id"]).alias("right_enterprise"),
    )
    with engine.begin() as conn:
        conn.execute(wh.review_pair.insert(), both.to_dicts())
    with engine.connect() as conn:
        count = sa.select(sa.func.count()).select_from(sa.table("review_decision"))
        n_before = conn.execute(count).scalar()
    rows = [
        {c: "" for c in EXPORT_COLUMNS} | {"pair_id": pid, "decision": d}
        for pid, d in [(both["pair_id"][0], "same")]
    ]
    other = pairs.filter(pl.col("pair_id") != both["pair_id"][0])["pair_id"][0]
    rows.insert(0, {c: "" for c in EXPORT_COLUMNS} | {"pair_id": other, "decision": "different"})
    bad = tmp_path / "bad.csv"
    pl.DataFrame(rows).select(EXPORT_COLUMNS).write_csv(bad)
    code, out = _main("review", "import", str(bad), "--warehouse-url", url)
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1, out
    assert "row 3" in lines[0] and both["pair_id"][0] in lines[0] and "USCC" in lines[0]
    with engine.connect() as conn:
        assert conn.execute(count).scalar() == n_before
    with engine.begin() as conn:
        conn.execute(
            sa.delete(wh.review_pair).where(wh.review_pair.c.pair_id == "P00000000000000AB")
        )

    # the analyst's xlsx, filled in a spreadsheet, imports too (Chinese words accepted)
    book = tmp_path / "book.xlsx"
    code, _ = _invoke(
        "review",
        "export",
        "--snapshot",
        MONTHS[1],
        "--out",
        str(book),
        "--limit",
        "2",
        "--warehouse-url",
        url,
    )
    wb = openpyxl.load_workbook(book)
    ws = wb.worksheets[0]
    ws.cell(row=2, column=EXPORT_COLUMNS.index("decision") + 1, value="不确定")
    wb.save(book)
    code, out = _invoke("review", "import", str(book), "--warehouse-url", url)
    assert code == 0 and "1 decisions recorded (unsure 1)" in out, out

    # a bad file: one line naming the file, the row and the problem
    typo = tmp_path / "typo.csv"
    rows[0]["decision"] = "maybe"
    pl.DataFrame(rows).select(EXPORT_COLUMNS).write_csv(typo)
    code, out = _main("review", "import", str(typo), "--warehouse-url", url)
    assert code == 2 and "typo.csv: row 2: decision 'maybe'" in out, out


@pytest.mark.parametrize(
    ("left", "right"),
    [("market_supervision:A1", "tax_registry:B2"), ("tax_registry:B2", "market_supervision:A1")],
)
def test_pair_id_does_not_depend_on_order(left, right):
    a = rq.pair_ids(pl.Series([left]), pl.Series([right]), "k" * 20)
    b = rq.pair_ids(pl.Series(["market_supervision:A1"]), pl.Series(["tax_registry:B2"]), "k" * 20)
    assert a.to_list() == b.to_list() and a[0].startswith("P") and len(a[0]) == 17


def _rows(n: int, usccs: dict[int, str] | None = None) -> pl.DataFrame:
    """``n`` rows of social_insurance (a registry that may list an entity twice), no branches."""
    usccs = usccs or {}
    return pl.DataFrame(
        {
            "rid": pl.Series(range(n), dtype=pl.UInt32),
            "source": ["social_insurance"] * n,
            "source_key": [f"K{i}" for i in range(n)],
            "uscc": [usccs.get(i) for i in range(n)],
            "uscc_valid": [i in usccs for i in range(n)],
            "branch": [False] * n,
        }
    )


def _edges(pairs: list[tuple[int, int, str, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "rid_a": pl.Series([a for a, *_ in pairs], dtype=pl.UInt32),
            "rid_b": pl.Series([b for _, b, *_ in pairs], dtype=pl.UInt32),
            "rule": [r for *_, r, _ in pairs],
            "score": [s for *_, s in pairs],
            "agreed": pl.Series([0] * len(pairs), dtype=pl.UInt16),
        }
    )


def _decide(*items: tuple[int, int, str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "left_source": ["social_insurance"] * len(items),
            "left_key": [f"K{a}" for a, _, _ in items],
            "right_source": ["social_insurance"] * len(items),
            "right_key": [f"K{b}" for _, b, _ in items],
            "decision": [d for *_, d in items],
        }
    )


@pytest.mark.parametrize(
    ("edges", "usccs", "decisions", "together", "apart"),
    [
        # different: 0 and 3 never together, nor the clusters they are in ({0,1} and {2,3})
        (
            [(0, 1, "uscc", 1.0), (2, 3, "uscc", 1.0), (1, 2, "name", 0.9)],
            {},
            [(0, 3, "different")],
            [(0, 1), (2, 3)],
            [(0, 3), (1, 2), (0, 2)],
        ),
        # a different between two rows of one chain: the weaker link breaks
        ([(0, 1, "uscc", 1.0), (1, 2, "name", 0.9)], {}, [(0, 2, "different")], [(0, 1)], [(1, 2)]),
        # same: a must-link joins rows no rule linked
        ([(0, 1, "name", 0.9)], {}, [(1, 2, "same")], [(0, 1), (1, 2)], []),
        # same loses to two valid USCCs (identifier constraints still win)
        ([], {0: "91360000000000000A", 1: "91360000000000001B"}, [(0, 1, "same")], [], [(0, 1)]),
        # same and different: a must-link is taken first, the cannot-link keeps 2 out
        ([(1, 2, "uscc", 1.0)], {}, [(0, 1, "same"), (0, 2, "different")], [(0, 1)], [(0, 2)]),
    ],
)
def test_decisions_are_clustering_constraints(edges, usccs, decisions, together, apart):
    from datapool.matching.clusters import cluster
    from datapool.matching.review import constrain, enforcement

    std, must = constrain(_rows(4, usccs), _decide(*decisions))
    all_edges = pl.concat([must, _edges(edges)], how="vertical_relaxed") if edges else must
    assign, _ = cluster(std, all_edges)
    c = assign["cluster"].to_list()
    assert all(c[a] == c[b] for a, b in together), c
    assert all(c[a] != c[b] for a, b in apart), c
    links = pl.DataFrame({"enterprise_id": [f"E{x}" for x in c]})
    held = enforcement(std, links, _decide(*decisions))
    if usccs:
        assert held["refused"] == {"two valid USCCs": 1}
    else:
        assert held["same_held"] + held["different_held"] == len(decisions)


def test_run_summary_states_why_a_decision_did_not_hold():
    from test_summary import counts

    from datapool.review import markdown
    from datapool.summary import RunSummary

    review = {
        "waiting": 12,
        "decided": {"same": 3},
        "enforced": {
            "applicable": 3,
            "same_held": 2,
            "different_held": 0,
            "refused": {"two valid USCCs": 1},
        },
        "agreement": {},
    }
    line = RunSummary("2025-06", counts(review=review)).line()
    assert line.endswith(
        "\nreview: 12 pairs waiting; 3 decisions on this month's rows, 2 same and 0 different "
        "held; same not applied, identifier constraints win: 1 (two valid USCCs)"
    )
    assert "identifier constraints win: 1 (two valid USCCs)" in markdown("2025-06", review)


def test_pair_ids_survive_a_re_export_in_another_row_order(world):
    """The registries re-export their rows in another order: every pair keeps its id."""
    from datapool.matching.engine import resolve
    from datapool.privacy import TEST_KEY
    from datapool.settings import Settings
    from datapool.stages import ingest

    records = ingest(Settings(input_root=world, hmac_key=TEST_KEY), MONTHS[0]).records
    shuffled = records.with_columns(
        # each export written backwards: other row numbers, the same rows
        (pl.col("source_row").max().over("source") + 1 - pl.col("source_row")).alias("source_row")
    ).sort("source", "source_row")
    ids, rows = [], []
    for recs in (records, shuffled):
        res = resolve(recs, None, TEST_KEY)
        assert res.unsure is not None
        q = rq.queue(res.std, res.links, res.weights, TEST_KEY, res.unsure)
        ids.append(set(q["pair_id"]))
        rows.append(set(zip(q["left_row"], q["right_row"], strict=True)))
    assert ids[0] and ids[0] == ids[1]
    assert rows[0] != rows[1]  # the same pairs, under other row numbers


def _compared_again(std: pl.DataFrame, weights) -> pl.DataFrame:
    """The queue's pairs as the review queue once made them itself: every candidate pair blocked
    and compared again, those no identifier decides kept."""
    from datapool.matching import rules
    from datapool.matching.blocking import candidate_pairs
    from datapool.matching.scoring import UNSURE_SCHEMA, compare, prepare
    from datapool.matching.weights import COMPARISONS

    compared = compare(prepare(std), candidate_pairs(std))
    return (
        compared.with_columns(
            weights.total().alias("match_weight"),
            pl.lit(weights.threshold).alias("weight_threshold"),
        )
        .with_columns(rules.decision().alias("rule"))
        .filter(~pl.col("rule").is_in(["uscc", "org_code", "regno"]).fill_null(False))
        .select(
            "rid_a", "rid_b", "rule", "match_weight",
            *(comp.level().alias(comp.column) for comp in COMPARISONS),
        )
        .cast(UNSURE_SCHEMA)
    )  # fmt: skip


@pytest.mark.parametrize("chunks", [1, 3])
def test_the_queue_is_made_of_the_pairs_scoring_kept(world, chunks):
    """Matching's scoring keeps the pairs the queue needs (Resolution.unsure), in any number of
    chunks: exactly the pairs, levels and weights a second blocking and comparison would give, so
    the queue is made without blocking or comparing again."""
    from datapool.matching.engine import resolve
    from datapool.privacy import TEST_KEY
    from datapool.settings import Settings
    from datapool.stages import ingest

    records = ingest(Settings(input_root=world, hmac_key=TEST_KEY), MONTHS[0]).records
    res = resolve(records, None, TEST_KEY, score_chunks=chunks)
    again = _compared_again(res.std, res.weights)
    assert res.unsure is not None and res.unsure.height > 0
    assert res.unsure.equals(again)
    assert res.unsure["rule"].is_null().sum() > 0  # the pairs no rule accepted are there too
    q = rq.queue(res.std, res.links, res.weights, TEST_KEY, res.unsure)
    assert q.height > 0
    assert q.equals(rq.queue(res.std, res.links, res.weights, TEST_KEY, again))


def _crosswalk(ids: dict[str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "source": ["tax_registry"] * len(ids),
            "source_key": list(ids),
            "enterprise_id": list(ids.values()),
        }
    )


@pytest.mark.parametrize(
    ("before", "after", "want"),
    [
        # a merge: B's rows went into A, which survives
        (
            {"k1": "A", "k2": "A", "k3": "B"},
            {"k1": "A", "k2": "A", "k3": "A"},
            [("B", "A", "merged")],
        ),
        # a split: k3 left A and got a new id; A keeps its id
        (
            {"k1": "A", "k2": "A", "k3": "A"},
            {"k1": "A", "k2": "A", "k3": "N"},
            [("A", "N", "split")],
        ),
        # nothing moved
        ({"k1": "A", "k2": "B"}, {"k1": "A", "k2": "B"}, []),
    ],
)
def test_aliases_follow_merges_and_splits(before, after, want):
    from datapool.matching.ids import aliases

    got = aliases(_crosswalk(before), _crosswalk(after))
    assert got.rows() == want


def test_a_merge_keeps_the_older_id():
    from datapool.matching.ids import assign_ids

    std = _rows(3).with_columns(
        pl.lit(None, pl.Utf8).alias("uscc"), pl.lit(False).alias("uscc_valid")
    )
    assign = pl.DataFrame(
        {
            "rid": pl.Series([0, 1, 2], dtype=pl.UInt32),
            "cluster": pl.Series([0, 0, 0], dtype=pl.UInt32),
        }
    )
    # two rows carried B (first seen 2025-05), one carried A (first seen 2025-03): A is older
    prev = pl.DataFrame(
        {
            "source": ["social_insurance"] * 3,
            "source_key": ["K0", "K1", "K2"],
            "enterprise_id": ["B", "B", "A"],
            "first_seen": ["2025-05", "2025-05", "2025-03"],
        }
    )
    assert assign_ids(std, assign, prev, "k" * 20)["enterprise_id"].to_list() == ["A"]
    # without first_seen the most rows win, as before
    assert assign_ids(std, assign, prev.drop("first_seen"), "k" * 20)[
        "enterprise_id"
    ].to_list() == ["B"]


def test_a_note_with_line_breaks_stays_in_its_row(tmp_path):
    """A quoted cell may hold line breaks (a spreadsheet's Alt+Enter): still one row."""
    from datapool.review import _read_rows

    f = tmp_path / "q.csv"
    f.write_text('pair_id,decision,note\nP0000000000000001,same,"第一行\n第二行"\n', "utf-8")
    rows = _read_rows(f)
    assert [(n, r["note"]) for n, r in rows] == [(2, "第一行\n第二行")]
