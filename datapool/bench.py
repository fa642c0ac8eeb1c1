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

import polars as pl


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


def _reader_child(path: str, out: mp.Queue) -> None:
    from datapool.connectors.reader import read_export
    from datapool.connectors.specs import TAX

    t = time.perf_counter()
    r = read_export(Path(path), TAX, "bench")
    out.put({"seconds": time.perf_counter() - t, "rows": r.rows_in, "peak_mb": _peak_mb()})


def _matcher_child(root: str, month: str, out: mp.Queue) -> None:
    from datapool.matching.blocking import candidate_pairs
    from datapool.matching.engine import finish
    from datapool.matching.scoring import score_pairs
    from datapool.matching.standardise import standardise
    from datapool.stages import ingest

    t = time.perf_counter()
    ing = ingest(Path(root) / month, "bench")
    t_read, stages, peaks = time.perf_counter() - t, {}, {"read": _peak_mb()}
    t = time.perf_counter()
    std = standardise(ing.records)
    rows, ing = ing.records.height, None  # std holds every record column: the records can go
    stages["standardise"], peaks["standardise"] = time.perf_counter() - t, _peak_mb()
    pairs = candidate_pairs(std)
    stages["block"], peaks["block"] = time.perf_counter() - t - sum(stages.values()), _peak_mb()
    scored, n_pairs = score_pairs(std, pairs), pairs.height
    del pairs  # as resolve does: the candidate pairs are not held through clustering
    stages["score"], peaks["score"] = time.perf_counter() - t - sum(stages.values()), _peak_mb()
    res = finish(std, scored, None, n_pairs)
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


def _splink_child(root: str, month: str, out: mp.Queue) -> None:
    from datapool.bench_splink import run_splink

    out.put(run_splink(Path(root), month))


def _in_child(target: Callable, *args: object) -> dict:
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    while True:
        try:
            result = q.get(timeout=2)
            break
        except Exception:  # noqa: BLE001 - queue.Empty: check the child is still alive
            if not p.is_alive():
                raise RuntimeError(
                    f"benchmark child {target.__name__} died (exit code {p.exitcode})"
                ) from None
    p.join()
    return result


def quality(links: pl.DataFrame, truth: pl.DataFrame) -> dict[str, float]:
    """Pairwise precision / recall / F1 and the share of enterprises resolved exactly."""
    j = links.join(
        truth.filter(pl.col("enterprise_key") != "QUARANTINE"), on=["source", "source_row"]
    )
    pairs = lambda s: int((s * (s - 1) // 2).sum())  # noqa: E731
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


def run_bench(
    enterprises: int,
    reader_rows: int,
    splink: bool,
    out: Path,
    say: Callable[[str], None],
    repeat: int = 1,
) -> None:
    """Run the benchmarks and print the figures; with ``repeat`` > 1 the matcher (and Splink) run that
    many times, taking turns, and the medians are printed too."""
    from datapool.samples import generate

    out.mkdir(parents=True, exist_ok=True)
    big = out / "tax_registry_big.csv"
    say(f"reader: writing a {reader_rows:,}-row export ...")
    make_big_export(big, reader_rows)
    r = _in_child(_reader_child, str(big))
    say(
        f"reader: {r['rows']:,} rows in {r['seconds']:.2f}s = {r['rows'] / r['seconds']:,.0f} rows/s; "
        f"peak {r['peak_mb']:,.0f} MB (goal >= 500,000 rows/s on one core)"
    )
    root, month = out / f"samples-{enterprises}", "2025-05"
    if not (root / month).exists():
        say(f"matcher: generating {enterprises:,} enterprises ...")
        generate(root, enterprises, [month], seed=11, members=False)
    truth = pl.read_csv(
        root / "truth" / month / "rows.csv", schema_overrides={"enterprise_key": pl.Utf8}
    )
    if splink and importlib.util.find_spec("splink") is None:
        say("splink: not installed (pip install '.[bench]') - no comparison run")
        splink = False
    ours, after, theirs = (
        [],
        [],
        [],
    )  # datapool's seconds, its seconds after standardising, Splink's seconds
    for i in range(repeat):
        run = f"run {i + 1}/{repeat}: " if repeat > 1 else ""
        m = _in_child(_matcher_child, str(root), month)
        q = quality(pl.read_parquet(root / "datapool_links.parquet"), truth)
        split = ", ".join(f"{k} {v:.1f}s" for k, v in m["stages"].items())
        say(
            f"{run}datapool: {m['rows']:,} rows (read in {m['read']:.1f}s, not counted), {m['pairs']:,} candidate pairs, "
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
            f"{run}splink: {s['seconds']:.1f}s, peak {s['peak_mb']:,.0f} MB, {s.get('pairs', 0):,} pairs compared; "
            f"P {sq['precision']:.4f} R {sq['recall']:.4f} F1 {sq['f1']:.4f} exact {sq['exact']:.4f}"
        )
        theirs.append(s["seconds"])
        say(
            f"{run}ratio: Splink time / datapool time = {s['seconds'] / m['seconds']:.2f} end to end, "
            f"{s['seconds'] / after[-1]:.2f} on the same standardised input (Splink is given datapool's standardisation); "
            f"F1 {q['f1']:.4f} vs {sq['f1']:.4f}"
        )
    if repeat > 1:
        med = statistics.median
        line = f"median of {repeat} runs: datapool {med(ours):.2f}s (runs {min(ours):.2f}-{max(ours):.2f})"
        if theirs:
            each = [t / o for o, t in zip(ours, theirs, strict=True)]
            line += (
                f", splink {med(theirs):.2f}s (runs {min(theirs):.2f}-{max(theirs):.2f}); ratio of the medians "
                f"{med(theirs) / med(ours):.2f} end to end (per run {min(each):.2f}-{max(each):.2f}), "
                f"{med(theirs) / med(after):.2f} on the same standardised input"
            )
        say(line)
