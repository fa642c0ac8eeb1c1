"""Match quality against the generator's truth: pairwise P/R/F1 and exact resolution."""

from __future__ import annotations

import polars as pl


def _pairs(counts: pl.Series) -> int:
    return int((counts * (counts - 1) // 2).sum())


def pairwise(links: pl.DataFrame, truth: pl.DataFrame) -> dict[str, float]:
    """``links``: source, source_row, enterprise_id; ``truth``: source, source_row, enterprise_key."""
    j = links.join(truth.filter(pl.col("enterprise_key") != "QUARANTINE"), on=["source", "source_row"])
    tp = _pairs(j.group_by("enterprise_id", "enterprise_key").len()["len"])
    pred = _pairs(j.group_by("enterprise_id").len()["len"])
    true = _pairs(j.group_by("enterprise_key").len()["len"])
    p, r = tp / pred if pred else 1.0, tp / true if true else 1.0
    per_key = j.group_by("enterprise_key").agg(pl.col("enterprise_id").n_unique().alias("n"),
                                               pl.col("enterprise_id").first().alias("eid"))
    per_id = j.group_by("enterprise_id").agg(pl.col("enterprise_key").n_unique().alias("k"))
    exact = per_key.join(per_id, left_on="eid", right_on="enterprise_id").filter((pl.col("n") == 1) & (pl.col("k") == 1))
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "exact": exact.height / per_key.height, "enterprises": per_key.height}
