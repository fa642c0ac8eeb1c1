"""Great Expectations (GX Core 1.x) suites for each canonical source and for the pool.

Every expectation carries ``meta.severity``: ``critical`` stops the snapshot
before anything is published; ``warning`` is recorded and the run goes on.
Derived columns (check-character results, per-enterprise USCC counts, row
accounting) are computed in polars first, so the suites stay plain GX.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from datapool.connectors.specs import HEADCOUNT_ORDER, SPECS
from datapool.errors import ValidationFailed
from datapool.inert import escape_html_columns
from datapool.matching.identifiers import uscc_valid_expr

USCC_REGEX = r"^[0-9A-HJ-NP-RTUWXY]{2}\d{6}[0-9A-Z]{10}$"
STATUS = {s.source: list(s.status_values) for s in SPECS}  # connectors/specs.py
HEADCOUNT_PLAUSIBLE = 100_000
# Which rows each expectation sees. Every row: every critical expectation (identifiers, links,
# accounting, nulls, bounds) and every uniqueness check, whatever the size. A frame of more than
# SAMPLE_ROWS rows has its other warning expectations (distribution checks: USCC format and check
# characters, plausible headcounts, dates, status values) run on a seeded sample of SAMPLE_ROWS
# rows in row order, said in the result's details; a smaller frame is checked whole.
SAMPLE_ROWS = 200_000
SAMPLE_SEED = 20
EVERY_ROW_KINDS = frozenset({"ExpectColumnValuesToBeUnique", "ExpectTableRowCountToEqual"})


@dataclass
class Check:
    """One expectation to run: GX class name, its kwargs, severity."""

    kind: str
    kwargs: dict[str, Any]
    severity: str = "critical"


def source_frame(records: pl.DataFrame, today: date) -> pl.DataFrame:
    """A source's records with the derived columns its suite checks."""
    ids = records.get_column("id").fill_null("").str.to_uppercase()
    return records.select(
        "source_row",
        "name",
        "status",
        "headcount",
        pl.when(ids.str.len_chars() == 18).then(ids).otherwise(None).alias("uscc"),
        pl.when(ids.str.len_chars() == 18)
        .then(uscc_valid_expr(pl.lit(ids)))
        .otherwise(None)
        .alias("uscc_check_ok"),
        (pl.col("founded_on") > today).alias("date_in_future"),
    )


def source_checks(source: str) -> list[Check]:
    """The suite for one canonical source."""
    return [
        Check("ExpectColumnValuesToBeUnique", {"column": "source_row"}),
        Check("ExpectColumnValuesToNotBeNull", {"column": "name"}),
        Check("ExpectColumnValuesToBeBetween", {"column": "headcount", "min_value": 0}),
        Check(
            "ExpectColumnValuesToBeBetween",
            {"column": "headcount", "max_value": HEADCOUNT_PLAUSIBLE},
            "warning",
        ),
        Check("ExpectColumnValuesToMatchRegex", {"column": "uscc", "regex": USCC_REGEX}, "warning"),
        Check(
            "ExpectColumnValuesToBeInSet",
            {"column": "uscc_check_ok", "value_set": [True], "mostly": 0.95},
            "warning",
        ),
        Check(
            "ExpectColumnValuesToBeInSet",
            {"column": "date_in_future", "value_set": [False]},
            "warning",
        ),
        Check(
            "ExpectColumnValuesToBeInSet",
            {"column": "status", "value_set": STATUS[source]},
            "warning",
        ),
    ]


def pool_frame(enterprises: pl.DataFrame, std: pl.DataFrame, links: pl.DataFrame) -> pl.DataFrame:
    """Enterprises with the number of distinct valid USCCs among their records."""
    valid = (
        std.filter(pl.col("uscc_valid").fill_null(False))
        .select("source", "source_row", "uscc")
        .join(links.select("source", "source_row", "enterprise_id"), on=["source", "source_row"])
        .group_by("enterprise_id")
        .agg(pl.col("uscc").n_unique().alias("valid_usccs"))
    )
    return enterprises.join(valid, on="enterprise_id", how="left").select(
        "enterprise_id",
        "headcount",
        "headcount_source",
        "active",
        "uscc",
        pl.col("valid_usccs").fill_null(0),
        pl.when(pl.col("uscc_valid")).then(pl.col("uscc")).alias("valid_uscc"),
    )


def pool_checks() -> list[Check]:
    """The suite for the resolved pool."""
    return [
        Check("ExpectColumnValuesToNotBeNull", {"column": "enterprise_id"}),
        Check("ExpectColumnValuesToBeUnique", {"column": "enterprise_id"}),
        Check("ExpectColumnValuesToBeBetween", {"column": "valid_usccs", "max_value": 1}),
        Check("ExpectColumnValuesToBeUnique", {"column": "valid_uscc"}, "warning"),
        Check("ExpectColumnValuesToBeBetween", {"column": "headcount", "min_value": 0}),
        Check(
            "ExpectColumnValuesToBeBetween",
            {"column": "headcount", "max_value": HEADCOUNT_PLAUSIBLE},
            "warning",
        ),
        Check(
            "ExpectColumnValuesToBeInSet",
            {
                "column": "headcount_source",
                "value_set": [s.source for s in HEADCOUNT_ORDER],
            },
        ),
        Check("ExpectColumnValuesToNotBeNull", {"column": "active"}),
    ]


def links_frame(links: pl.DataFrame) -> pl.DataFrame:
    """Links keyed by their source row."""
    return links.select(
        (pl.col("source") + ":" + pl.col("source_row").cast(pl.Utf8)).alias("row_key"),
        "enterprise_id",
    )


def links_checks(accepted: int) -> list[Check]:
    """Every accepted row linked to exactly one enterprise."""
    return [
        Check("ExpectColumnValuesToBeUnique", {"column": "row_key"}),
        Check("ExpectColumnValuesToNotBeNull", {"column": "enterprise_id"}),
        Check("ExpectTableRowCountToEqual", {"value": accepted}),
    ]


def accounting_checks() -> list[Check]:
    """rows_in == accepted + quarantined for every file."""
    return [Check("ExpectColumnValuesToBeInSet", {"column": "balanced", "value_set": [True]})]


def warm_up() -> None:
    """Import Great Expectations now (its import alone takes about 3 s of CPU), e.g. in a thread
    beside reading; :class:`Validator` then finds it loaded."""
    import great_expectations  # noqa: F401


class Validator:
    """Runs suites on frames in one ephemeral GX context and keeps Data Docs on disk."""

    def __init__(self, docs_dir: Path) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        for name in ("great_expectations", "great_expectations.data_context.types.base"):
            # after the import, which sets its own levels
            logging.getLogger(name).setLevel(logging.ERROR)

        self.gx = gx
        # GX's own default for an ephemeral context, with analytics off (no environment variable
        # needed, so library callers such as a Prefect worker get it too)
        self.ctx = gx.get_context(
            mode="ephemeral",
            project_config=DataContextConfig(
                analytics_enabled=False,
                store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=True),
            ),
        )
        self.ctx.variables.progress_bars = ProgressBarsConfig(
            globally=False, metric_calculations=False
        )
        self.docs_dir = docs_dir = docs_dir.resolve()  # GX wants an absolute path
        self.ctx.add_data_docs_site(
            site_name="datapool",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
        self.source = self.ctx.data_sources.add_pandas("datapool")
        self.results: list[dict[str, Any]] = []

    def run(self, name: str, frame: pl.DataFrame, checks: list[Check]) -> list[dict[str, Any]]:
        """Validate ``frame`` against ``checks``; record and return one dict per expectation.

        A frame of more than :data:`SAMPLE_ROWS` rows has its sampled checks (see there) run on a
        seeded sample, as the suite ``<name> (sample)`` in Data Docs; their results are recorded
        under ``name`` too, with ``details.sampled`` giving the rows checked and of how many.
        """
        whole = [c for c in checks if c.severity == "critical" or c.kind in EVERY_ROW_KINDS]
        sampled = [c for c in checks if c not in whole]
        if frame.height <= SAMPLE_ROWS or not sampled:
            return self._run(name, name, frame, checks)
        sample = (
            frame.with_row_index("__row")
            .sample(SAMPLE_ROWS, seed=SAMPLE_SEED)
            .sort("__row")
            .drop("__row")
        )
        rows = self._run(name, name, frame, whole) if whole else []
        more = self._run(f"{name} (sample)", name, sample, sampled)
        for r in more:
            details = json.loads(r["details"])
            details["sampled"] = {"rows": sample.height, "of": frame.height}
            r["details"] = json.dumps(details, ensure_ascii=False, default=str)
        return rows + more

    def _run(
        self, suite_name: str, name: str, frame: pl.DataFrame, checks: list[Check]
    ) -> list[dict[str, Any]]:
        """One GX suite ``suite_name`` on ``frame``; its results recorded under suite ``name``."""
        gx = self.gx
        asset = self.source.add_dataframe_asset(suite_name)
        batch = asset.add_batch_definition_whole_dataframe(f"{suite_name}-batch")
        suite = self.ctx.suites.add(gx.ExpectationSuite(name=suite_name))
        for check in checks:
            suite.add_expectation(
                getattr(gx.expectations, check.kind)(
                    **check.kwargs, meta={"severity": check.severity}
                )
            )
        vd = self.ctx.validation_definitions.add(
            gx.ValidationDefinition(data=batch, suite=suite, name=f"{suite_name}-vd")
        )
        cp = self.ctx.checkpoints.add(
            gx.Checkpoint(
                name=f"{suite_name}-cp",
                validation_definitions=[vd],
                actions=[],  # Data Docs are built once, after the last suite (build_docs)
            )
        )
        # only the columns the checks read go to pandas; Data Docs put unexpected values into
        # HTML as they are: agency text goes in escaped
        used = [c for c in frame.columns if any(ch.kwargs.get("column") == c for ch in checks)]
        frame = frame.select(used) if used else frame
        result = cp.run(batch_parameters={"dataframe": escape_html_columns(frame).to_pandas()})
        self._forget_batches()
        rows = []
        for vr in result.run_results.values():
            for r in vr.results:
                cfg = r.expectation_config
                assert cfg is not None  # GX returns each result with its expectation
                res = r.result or {}
                rows.append(
                    {
                        "suite": name,
                        "expectation": cfg.type,
                        "column_name": cfg.kwargs.get("column"),
                        "severity": (cfg.meta or {}).get("severity", "critical"),
                        "success": bool(r.success),
                        "unexpected_count": res.get("unexpected_count"),
                        "details": json.dumps(
                            {
                                "kwargs": {k: v for k, v in cfg.kwargs.items() if k != "batch_id"},
                                "examples": [
                                    str(x) for x in (res.get("partial_unexpected_list") or [])[:5]
                                ],
                                "observed": str(res.get("observed_value", "")),
                            },
                            ensure_ascii=False,
                            default=str,
                        ),
                    }
                )
        self.results.extend(rows)
        return rows

    def table(self) -> pl.DataFrame:
        """All results so far, as the ``validation_result`` table."""
        schema = {
            "suite": pl.Utf8,
            "expectation": pl.Utf8,
            "column_name": pl.Utf8,
            "severity": pl.Utf8,
            "success": pl.Boolean,
            "unexpected_count": pl.Int64,
            "details": pl.Utf8,
        }
        return (
            pl.DataFrame(self.results, schema=schema)
            if self.results
            else pl.DataFrame(schema=schema)
        )

    def _forget_batches(self) -> None:
        """Drop the pandas frames GX keeps of every batch validated (its execution engine caches
        each batch's data for the life of the context): a suite's frame is not needed once its
        results are in, and at 500k rows each is hundreds of MB of Python strings."""
        for source in self.ctx.data_sources.all().values():
            manager = source.get_execution_engine().batch_manager
            manager.batch_data_cache.clear()
            manager.reset_batch_cache()

    def build_docs(self) -> None:
        """Write the Data Docs of every suite run so far (once: a build renders every page)."""
        self.ctx.build_data_docs(site_names=["datapool"])

    def close(self) -> None:
        """Let go of the context: GX keeps the last one made as the process's current project,
        with its stores, until another is made."""
        from great_expectations.data_context.data_context.context_factory import set_context

        self._forget_batches()
        set_context(None)

    def raise_for_critical(self) -> None:
        """Raise ValidationFailed naming the first failed critical expectation and some values."""
        failed = [r for r in self.results if r["severity"] == "critical" and not r["success"]]
        if failed:
            f = failed[0]
            info = json.loads(f["details"])
            more = f" (and {len(failed) - 1} more critical failures)" if len(failed) > 1 else ""
            count = f["unexpected_count"]
            raise ValidationFailed(
                f"critical expectation failed in suite '{f['suite']}': {f['expectation']}"
                f"{' on column ' + f['column_name'] if f['column_name'] else ''}; "
                f"{count if count is not None else info.get('observed')} offending, "
                f"e.g. {info['examples'][:3] or info.get('observed')}{more}; nothing was published"
            )
