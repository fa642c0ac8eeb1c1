"""Benchmarks that print figures (never asserted in tests).

* reader: throughput of the generic reader on a generated 1M-row export, peak memory;
* matcher: wall time, peak memory, candidate pairs and quality against the generator's truth
  for N generated enterprises; with Splink installed, a Splink model on the same rows in the
  same run, and the ratios; with ``repeat``, several runs taking turns and their medians.

Each measurement runs in a fresh child process so its peak memory (ru_maxrss) is its own.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import multiprocessing as mp
import random
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from datapool.treepeak import TreePeak

MB = 1024 * 1024
QUALITY_MONTHS = ("2025-05", "2025-06", "2025-07")
QUALITY_SEEDS = {"default": 11, "holdout": 23}  # the holdout world is another world too
MATCHER_SEED = QUALITY_SEEDS["default"]  # the world the speed benchmark matches
TARGET_HEADCOUNT = 25  # the field's rule, as the pipeline's default threshold: more than 25


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_big_export(path: Path, rows: int, seed: int = 1) -> None:
    """A tax-registry export of ``rows`` rows built from the sample generator's noise."""
    from datapool.samples.exports import TAX_HEADERS

    rng = random.Random(seed)
    towns = "梅林镇 茅店镇 江口镇 储潭镇 沙地镇".split()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(TAX_HEADERS)
    for i in range(rows):
        w.writerow(
            [
                f"91360721MA{i:07d}X",
                f"赣州市赣县区{rng.choice('宏达鑫盛华兴隆昌')}{i % 997}建材有限公司",
                "张三",
                f"{rng.choice(towns)}红旗大道{i % 300}号",
                "正常",
                "批发业",
                str(i % 80),
                rng.choice(["2019-03-05", "2019/3/5", "20190305", "2019年3月5日"]),
                "梅林税务所",
            ]
        )
    path.write_bytes(buf.getvalue().encode("utf-8"))


def _reader_child(path: str, out: mp.Queue[dict[str, Any]]) -> None:
    from datapool.connectors.reader import read_export
    from datapool.connectors.specs import TAX
    from datapool.privacy import TEST_KEY

    t = time.perf_counter()
    r = read_export(Path(path), TAX, TEST_KEY)
    out.put({"seconds": time.perf_counter() - t, "rows": r.rows_in, "peak_mb": _peak_mb()})


def _matcher_child(root: str, month: str, out: mp.Queue[dict[str, Any]]) -> None:
    from datapool.matching.blocking import candidate_pairs
    from datapool.matching.engine import finish
    from datapool.matching.scoring import score_pairs
    from datapool.matching.standardise import standardise
    from datapool.matching.weights import learn
    from datapool.privacy import TEST_KEY
    from datapool.settings import Settings
    from datapool.stages import ingest

    t = time.perf_counter()
    ing = ingest(Settings(input_root=Path(root), hmac_key=TEST_KEY), month)
    stages: dict[str, float] = {}
    t_read, peaks = time.perf_counter() - t, {"read": _peak_mb()}
    t = time.perf_counter()
    std = standardise(ing.records)
    rows = ing.records.height
    del ing  # std holds every record column: the records can go
    stages["standardise"], peaks["standardise"] = time.perf_counter() - t, _peak_mb()
    weights = learn(std)
    stages["learn weights"], peaks["learn weights"] = (
        time.perf_counter() - t - sum(stages.values()),
        _peak_mb(),
    )
    pairs = candidate_pairs(std)
    stages["block"], peaks["block"] = time.perf_counter() - t - sum(stages.values()), _peak_mb()
    scored, n_pairs = score_pairs(std, pairs, weights), pairs.height
    del pairs  # as resolve does: the candidate pairs are not held through clustering
    stages["score"], peaks["score"] = time.perf_counter() - t - sum(stages.values()), _peak_mb()
    res = finish(std, scored, None, n_pairs, TEST_KEY, weights)
    stages["cluster, ids, golden"] = time.perf_counter() - t - sum(stages.values())
    peaks["cluster, ids, golden"] = _peak_mb()
    seconds = time.perf_counter() - t
    res.links.select("source", "source_row", "enterprise_id").write_parquet(
        Path(root) / "datapool_links.parquet"
    )
    out.put(
        {
            "seconds": seconds,
            "read": t_read,
            "stages": stages,
            "peaks": peaks,
            "rows": rows,
            "pairs": res.counts["candidate_pairs"],
            "peak_mb": _peak_mb(),
        }
    )


def _splink_child(root: str, month: str, out: mp.Queue[dict[str, Any]]) -> None:
    from datapool.bench_splink import run_splink

    out.put(run_splink(Path(root), month))


def _in_child(target: Callable[..., None], *args: object) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q: mp.Queue[dict[str, Any]] = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    assert p.pid is not None
    with TreePeak(p.pid) as tree:  # the child and every process it starts, together
        while True:
            try:
                result: dict[str, Any] = q.get(timeout=2)
                break
            except Exception:  # noqa: BLE001 - queue.Empty: check the child is still alive
                if not p.is_alive():
                    raise RuntimeError(
                        f"benchmark child {target.__name__} died (exit code {p.exitcode})"
                    ) from None
        p.join()
    if tree.peak_bytes is not None:
        result["tree_peak_mb"] = tree.peak_bytes / MB
        result["tree_processes"] = tree.processes
    return result


def quality(links: pl.DataFrame, truth: pl.DataFrame) -> dict[str, float]:
    """Pairwise precision / recall / F1 and the share of enterprises resolved exactly."""
    j = links.join(
        truth.filter(pl.col("enterprise_key") != "QUARANTINE"), on=["source", "source_row"]
    )

    def pairs(s: pl.Series) -> int:
        return int((s * (s - 1) // 2).sum())

    tp = pairs(j.group_by("enterprise_id", "enterprise_key").len()["len"])
    pp, ap = (
        pairs(j.group_by("enterprise_id").len()["len"]),
        pairs(j.group_by("enterprise_key").len()["len"]),
    )
    p, r = (tp / pp if pp else 1.0), (tp / ap if ap else 1.0)
    per_key = j.group_by("enterprise_key").agg(
        pl.col("enterprise_id").n_unique().alias("n"), pl.col("enterprise_id").first()
    )
    per_id = j.group_by("enterprise_id").agg(pl.col("enterprise_key").n_unique().alias("k"))
    exact = (
        per_key.join(per_id, on="enterprise_id")
        .filter((pl.col("n") == 1) & (pl.col("k") == 1))
        .height
    )
    return {
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
        "exact": exact / per_key.height,
    }


def truth_targets(root: Path, month: str) -> set[str]:
    """The enterprises that truly are targets in ``month``: active, the headcount the registries
    give above 25, and no live union (single, or a joint union one of its employees belongs to)."""
    import sqlite3

    from datapool.settings import month_end

    ents = pl.read_csv(
        root / "truth" / month / "enterprises.csv",
        infer_schema_length=None,
        schema_overrides={"enterprise_key": pl.Utf8, "expected_headcount": pl.Int64},
    )
    end = month_end(month).isoformat()
    con = sqlite3.connect(root / "members.sqlite")
    try:
        live = {
            u
            for u, s, f in con.execute("SELECT union_id, status, founded_on FROM union_org")
            if s == "active" and f <= end
        }
        member_union = {
            m: u
            for m, u, s in con.execute("SELECT member_id, union_id, status FROM union_member")
            if s == "active"
        }
    finally:
        con.close()

    def read(name: str) -> pl.DataFrame:
        return pl.read_csv(
            root / "truth" / name, schema_overrides={"enterprise_key": pl.Utf8}
        ).filter(pl.col("enterprise_key").is_not_null())

    covered = {
        k for k, u, kind in read("unions.csv").iter_rows() if kind == "single" and u in live
    } | {k for m, k in read("members.csv").iter_rows() if member_union.get(m) in live}
    t = ents.filter(
        (pl.col("active") == 1) & (pl.col("expected_headcount").fill_null(0) > TARGET_HEADCOUNT)
    )
    return set(t["enterprise_key"].to_list()) - covered


def month_quality(root: Path, months: list[str], hmac_key: str = "bench") -> list[dict[str, Any]]:
    """Resolve each month of a generated sample (each seeded by the month before) and measure it.

    Returns, per month: pairwise ``precision``, ``recall``, ``f1``; ``exact`` (share of
    enterprises resolved exactly); ``kept`` (share of the enterprises present in both this month
    and the one before whose id is the same; 1.0 in the first month); ``target_precision`` and
    ``target_recall`` (targets: active, more than 25 employees, no union; against the truth).
    """
    from datapool.connectors.members import read_members
    from datapool.matching.engine import resolve
    from datapool.settings import Settings
    from datapool.stages import cover, ingest

    orgs, members = read_members(f"sqlite:///{root / 'members.sqlite'}")
    settings = Settings(input_root=root, hmac_key=hmac_key)
    out, prev, prev_ids = [], None, None
    for month in months:
        truth = pl.read_csv(
            root / "truth" / month / "rows.csv", schema_overrides={"enterprise_key": pl.Utf8}
        )
        res = resolve(ingest(settings, month).records, prev, hmac_key)
        q: dict[str, Any] = quality(res.links, truth)
        j = res.links.join(truth, on=["source", "source_row"])
        ids = j.group_by("enterprise_key").agg(pl.col("enterprise_id").mode().min())
        q["kept"] = 1.0
        if prev_ids is not None:
            both = prev_ids.join(ids, on="enterprise_key", suffix="_next")
            same = both.filter(pl.col("enterprise_id") == pl.col("enterprise_id_next")).height
            q["kept"] = same / both.height if both.height else 1.0
        cov, _ = cover(settings, month, res, orgs, members, None)
        key_of = j.group_by("enterprise_id").agg(pl.col("enterprise_key").mode().min())
        predicted = set(
            cov.coverage.filter(pl.col("target"))
            .join(key_of, on="enterprise_id")["enterprise_key"]
            .to_list()
        )
        expected = truth_targets(root, month)
        hit = len(predicted & expected)
        q["target_precision"] = hit / len(predicted) if predicted else 1.0
        q["target_recall"] = hit / len(expected) if expected else 1.0
        q["month"] = month
        out.append(q)
        prev, prev_ids = res.links, ids
    return out


def quality_line(q: dict[str, Any]) -> str:
    """One month's figures on one line."""
    return (
        f"P {q['precision']:.4f} R {q['recall']:.4f} F1 {q['f1']:.4f} exact {q['exact']:.4f} "
        f"ids kept {q['kept']:.4f} targets P {q['target_precision']:.4f} R {q['target_recall']:.4f}"
    )


def run_quality(
    enterprises: int,
    out: Path,
    say: Callable[[str], None],
    months: tuple[str, ...] = QUALITY_MONTHS,
    splink: bool = False,
) -> dict[str, list[dict[str, Any]]]:
    """Match quality on both noise models (generated once under ``out``, then reused).

    ``default`` is the noise the matcher was built on; ``holdout`` (datapool/samples/noise2.py)
    is the independent one, used only to score. With ``splink`` (and Splink installed), Splink's
    pairwise figures on the same rows follow each month's. Returns datapool's figures per model
    and month.
    """
    from datapool.samples import NOISE_MODELS, generate

    if splink and importlib.util.find_spec("splink") is None:
        splink = False
    figures = {}
    for noise in NOISE_MODELS:
        root = out / f"quality-{noise}-{enterprises}"
        if not (root / "members.sqlite").exists():
            say(f"quality: generating {enterprises:,} enterprises, {noise} noise ...")
            generate(root, enterprises, list(months), seed=QUALITY_SEEDS[noise], noise=noise)
        figures[noise] = month_quality(root, list(months))
        for q in figures[noise]:
            say(f"quality, {noise} noise, {q['month']}: {quality_line(q)}")
            if splink:
                _in_child(_splink_child, str(root), q["month"])
                truth = pl.read_csv(
                    root / "truth" / q["month"] / "rows.csv",
                    schema_overrides={"enterprise_key": pl.Utf8},
                )
                sq = quality(pl.read_parquet(root / "splink_links.parquet"), truth)
                say(
                    f"quality, {noise} noise, {q['month']}, splink: P {sq['precision']:.4f} "
                    f"R {sq['recall']:.4f} F1 {sq['f1']:.4f} exact {sq['exact']:.4f}"
                )
    return figures


def run_bench(
    enterprises: int,
    reader_rows: int,
    splink: bool,
    out: Path,
    say: Callable[[str], None],
    repeat: int = 1,
) -> None:
    """Run the benchmarks and print the figures; with ``repeat`` > 1 the matcher (and Splink) run
    that many times, taking turns, and the medians are printed too."""
    from datapool.samples import generate

    out.mkdir(parents=True, exist_ok=True)
    big = out / "tax_registry_big.csv"
    say(f"reader: writing a {reader_rows:,}-row export ...")
    make_big_export(big, reader_rows)
    r = _in_child(_reader_child, str(big))
    say(
        f"reader: {r['rows']:,} rows in {r['seconds']:.2f}s = "
        f"{r['rows'] / r['seconds']:,.0f} rows/s; "
        f"peak {r['peak_mb']:,.0f} MB (goal >= 500,000 rows/s on one core)"
    )
    root, month = out / f"samples-{enterprises}", "2025-05"
    if not (root / month).exists():
        say(f"matcher: generating {enterprises:,} enterprises ...")
        generate(root, enterprises, [month], seed=MATCHER_SEED, members=False)
    truth = pl.read_csv(
        root / "truth" / month / "rows.csv", schema_overrides={"enterprise_key": pl.Utf8}
    )
    if splink and importlib.util.find_spec("splink") is None:
        say("splink: not installed (pip install '.[bench]') - no comparison run")
        splink = False
    # datapool's seconds, its seconds after standardising, Splink's seconds
    ours, after, theirs = [], [], []
    for i in range(repeat):
        run = f"run {i + 1}/{repeat}: " if repeat > 1 else ""
        m = _in_child(_matcher_child, str(root), month)
        q = quality(pl.read_parquet(root / "datapool_links.parquet"), truth)
        split = ", ".join(f"{k} {v:.1f}s" for k, v in m["stages"].items())
        say(
            f"{run}datapool: {m['rows']:,} rows (read in {m['read']:.1f}s, not counted), "
            f"{m['pairs']:,} candidate pairs, "
            f"{m['seconds']:.1f}s ({split}), peak {m['peak_mb']:,.0f} MB incl. reading "
            f"(peak MB after {', '.join(f'{k} {v:,.0f}' for k, v in m['peaks'].items())}); "
            f"P {q['precision']:.4f} R {q['recall']:.4f} F1 {q['f1']:.4f} exact {q['exact']:.4f}"
        )
        ours.append(m["seconds"])
        after.append(m["seconds"] - m["stages"]["standardise"])
        if not splink:
            continue
        s = _in_child(_splink_child, str(root), month)
        sq = quality(pl.read_parquet(root / "splink_links.parquet"), truth)
        say(
            f"{run}splink: {s['seconds']:.1f}s, peak {s['peak_mb']:,.0f} MB, "
            f"{s.get('pairs', 0):,} pairs compared; "
            f"P {sq['precision']:.4f} R {sq['recall']:.4f} F1 {sq['f1']:.4f} "
            f"exact {sq['exact']:.4f}"
        )
        theirs.append(s["seconds"])
        say(
            f"{run}ratio: Splink time / datapool time = "
            f"{s['seconds'] / m['seconds']:.2f} end to end, "
            f"{s['seconds'] / after[-1]:.2f} on the same standardised input "
            "(Splink is given datapool's standardisation); "
            f"F1 {q['f1']:.4f} vs {sq['f1']:.4f}"
        )
    if repeat > 1:
        med = statistics.median
        line = (
            f"median of {repeat} runs: datapool {med(ours):.2f}s "
            f"(runs {min(ours):.2f}-{max(ours):.2f})"
        )
        if theirs:
            each = [t / o for o, t in zip(ours, theirs, strict=True)]
            line += (
                f", splink {med(theirs):.2f}s (runs {min(theirs):.2f}-{max(theirs):.2f}); "
                f"ratio of the medians {med(theirs) / med(ours):.2f} end to end "
                f"(per run {min(each):.2f}-{max(each):.2f}), "
                f"{med(theirs) / med(after):.2f} on the same standardised input"
            )
        say(line)
