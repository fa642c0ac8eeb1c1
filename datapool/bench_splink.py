"""The Splink side of the benchmark: a fair Fellegi-Sunter model on the same rows.

Splink gets the same standardised columns datapool's scorer sees (cleaned USCC, organisation
code, folded name and name core, normalised address, phone hash), its own EM training, and the
same kind of blocking (identifier keys and name core); only Splink's own work is timed.
"""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

import polars as pl


def run_splink(root: Path, month: str) -> dict[str, Any]:
    """Train, predict and cluster with Splink (DuckDB); writes ``splink_links.parquet``."""
    import logging

    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    from datapool.matching.standardise import standardise
    from datapool.settings import Settings
    from datapool.stages import ingest

    std = standardise(ingest(Settings(input_root=root, hmac_key="bench"), month).records)
    df = std.select(
        pl.col("rid").cast(pl.Int64).alias("unique_id"),
        "source",
        "source_row",
        pl.col("uscc"),
        pl.when(pl.col("org_code") == "")
        .then(None)
        .otherwise(pl.col("org_code"))
        .alias("org_code"),
        pl.col("name_clean"),
        pl.when(pl.col("core") == "").then(None).otherwise(pl.col("core")).alias("core"),
        pl.col("addr_norm"),
        "phone_hash",
    ).to_pandas()
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.ExactMatch("uscc"),
            cl.ExactMatch("org_code"),
            cl.JaroWinklerAtThresholds("name_clean", [0.95, 0.88]),
            cl.JaroWinklerAtThresholds("core", [0.95, 0.88]),
            cl.LevenshteinAtThresholds("addr_norm", [1, 3]),
            cl.ExactMatch("phone_hash"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("uscc"),
            block_on("org_code"),
            block_on("core"),
            block_on("phone_hash"),
            block_on("addr_norm"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    logging.getLogger("splink").setLevel(logging.ERROR)
    t = time.perf_counter()
    linker = Linker(df, settings, db_api=DuckDBAPI())
    linker.training.estimate_probability_two_random_records_match([block_on("uscc")], recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("core"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("uscc"))
    pred = linker.inference.predict(threshold_match_probability=0.5)
    pairs = len(pred.as_pandas_dataframe(limit=None)) if hasattr(pred, "as_pandas_dataframe") else 0
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        pred, 0.95
    ).as_pandas_dataframe()
    seconds = time.perf_counter() - t
    out = pl.from_pandas(clusters[["unique_id", "cluster_id"]]).join(
        std.select(pl.col("rid").cast(pl.Int64).alias("unique_id"), "source", "source_row"),
        on="unique_id",
    )
    out.select(
        "source", "source_row", pl.col("cluster_id").cast(pl.Utf8).alias("enterprise_id")
    ).write_parquet(root / "splink_links.parquet")
    return {
        "seconds": seconds,
        "pairs": pairs,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
