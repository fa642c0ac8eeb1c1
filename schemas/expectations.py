"""Great Expectations (GX Core 1.x) suites for each canonical source and for the pool.

Every expectation carries ``meta.severity``: ``critical`` stops the snapshot
before anything is published; ``warning`` is recorded and the run goes on.
Derived columns (check-character results, per-enterprise USCC counts, row
accounting) are computed in polars first, so the suites stay plain GX.

The every-row expectations are measured in polars where the month is (:func:`prepare`, in the
run's process): for each, the figures Great Expectations' pandas engine would compute (rows,
missing values, offending rows and the first :data:`PARTIAL` of them, values and positions), and
GX validates those figures with the expectation's own logic (``Expectation.metrics_validate``),
so the results, ``mostly`` and Data Docs are GX's, and no every-row frame crosses to the
validation process. The other expectations run in GX on the frame itself: the whole frame up to
:data:`SAMPLE_ROWS` rows, a seeded sample of it above.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
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
# accounting, nulls, bounds) and every uniqueness check, whatever the size; these are measured in
# polars in the run (prepare/measure: counts and the first PARTIAL offending rows) and GX
# validates the figures, so their cost in the validation process does not grow with the month.
# A frame of more than SAMPLE_ROWS rows has its other warning expectations (distribution checks:
# USCC format and check characters, plausible headcounts, dates, status values) run by GX on a
# seeded sample of SAMPLE_ROWS rows in row order, drawn in the run, said in the result's
# details; a smaller frame has them run by GX on the whole frame.
SAMPLE_ROWS = 200_000
SAMPLE_SEED = 20
EVERY_ROW_KINDS = frozenset({"ExpectColumnValuesToBeUnique", "ExpectTableRowCountToEqual"})
PARTIAL = 20  # offending values and positions GX's SUMMARY results keep (partial_unexpected_count)


@dataclass
class Check:
    """One expectation to run: GX class name, its kwargs, severity."""

    kind: str
    kwargs: dict[str, Any]
    severity: str = "critical"

    @property
    def every_row(self) -> bool:
        """Whether the check sees every row (measured in polars), not a sample (see SAMPLE_ROWS)."""
        return self.severity == "critical" or self.kind in EVERY_ROW_KINDS


@dataclass
class Measured:
    """An every-row check's figures over the whole frame, as GX's pandas engine counts them.

    ``examples`` holds the first :data:`PARTIAL` offending values (one column, the check's), with
    one null row after them when the column holds nulls (``padded``), so pandas types them as it
    types the whole column (integers with nulls as floats); ``positions`` their row positions.
    """

    rows: int
    nulls: int = 0
    unexpected: int = 0
    positions: list[int] = field(default_factory=list)
    examples: pl.DataFrame | None = None
    padded: bool = False


@dataclass
class Suite:
    """One suite to run: its name, its checks, the every-row checks' figures (by check index),
    and the frame the other checks read (the columns they read; the whole frame, or its sample
    when ``sampled``), of a frame of ``rows`` rows."""

    name: str
    checks: list[Check]
    measured: dict[int, Measured]
    frame: pl.DataFrame
    rows: int
    sampled: bool = False


# A column checked every row that the frame holds as the columns it is made of: its parts (a row
# with any part null is null) and the expression that makes its value (for the offending rows)
Derived = dict[str, tuple[tuple[str, ...], pl.Expr]]


def measure(frame: pl.DataFrame, check: Check, derived: Derived | None = None) -> Measured:
    """The figures GX's pandas engine computes for ``check`` on ``frame`` (every row), in polars.

    Missing values (null; NaN in a float column) are not checked, except by not-null; uniqueness
    counts every row whose value occurs more than once. Values are compared as they are, where
    GX compares the HTML-escaped text it is given: the same for value sets without ``<>&"'``,
    as every set of ours is; the offending values it names are escaped as GX's are.
    """
    if check.kind == "ExpectTableRowCountToEqual":
        return Measured(rows=frame.height)
    col = check.kwargs["column"]
    if derived and col in derived:
        parts, value = derived[col]
        missing = pl.any_horizontal([pl.col(p).is_null() for p in parts])
        # equal values <=> equal parts (the text is not made): duplicates of the last part
        # within the others' groups
        key = pl.col(parts[-1])
        over = list(parts[:-1])
        value = value.alias(col)
    else:
        value = key = pl.col(col)
        over = []
        missing = value.is_null()
        if frame.schema[col].is_float():
            missing = missing | value.is_nan()
    kw = check.kwargs
    if check.kind == "ExpectColumnValuesToNotBeNull":
        bad = missing
    elif check.kind == "ExpectColumnValuesToBeUnique":
        bad = ~missing & (key.is_duplicated().over(over) if over else key.is_duplicated())
    elif check.kind == "ExpectColumnValuesToBeBetween":
        ok = pl.lit(True)
        if kw.get("min_value") is not None:
            ok = ok & (value >= kw["min_value"])
        if kw.get("max_value") is not None:
            ok = ok & (value <= kw["max_value"])
        bad = ~missing & ~ok.fill_null(True)
    elif check.kind == "ExpectColumnValuesToBeInSet":
        bad = ~missing & ~value.is_in(kw["value_set"]).fill_null(True)
    else:
        raise ValueError(f"no every-row measure for {check.kind}")
    bad = bad.fill_null(False)
    figures = frame.select(
        missing.sum().alias("nulls"),
        bad.sum().alias("unexpected"),
        bad.arg_true().head(PARTIAL).implode().alias("positions"),
    ).row(0, named=True)
    positions = [int(i) for i in figures["positions"]]
    nulls = int(figures["nulls"])
    examples = frame[positions].select(value) if positions else frame.clear().select(value)
    if nulls:
        examples = pl.concat([examples, examples.clear(1)])
    return Measured(
        rows=frame.height,
        nulls=nulls,
        unexpected=int(figures["unexpected"]),
        positions=positions,
        examples=examples,
        padded=nulls > 0,
    )


def prepare(
    name: str,
    frame: pl.DataFrame,
    checks: list[Check],
    derive: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
    derived: Derived | None = None,
) -> Suite:
    """The suite ``name`` ready for the validation process: the every-row checks measured on
    ``frame`` here, the other checks' frame (``derive`` applied, if given, to the rows they see:
    the whole frame, or a seeded sample of :data:`SAMPLE_ROWS` rows in row order above that
    size) cut to the columns they read."""
    measured = {i: measure(frame, c, derived) for i, c in enumerate(checks) if c.every_row}
    rest = [c for i, c in enumerate(checks) if i not in measured]
    sampled = frame.height > SAMPLE_ROWS and bool(rest)
    rows = frame
    if sampled:
        index = (
            pl.DataFrame({"__row": pl.int_range(frame.height, eager=True)})
            .sample(SAMPLE_ROWS, seed=SAMPLE_SEED)
            .get_column("__row")
            .sort()
        )
        rows = frame[index]
    used = [c for c in dict.fromkeys(ch.kwargs.get("column") for ch in rest) if c is not None]
    if not rest:
        rows = rows.clear()
    if derive is not None:
        rows = derive(rows)
    rows = rows.select(used) if used else rows.select([])
    return Suite(name, checks, measured, rows, frame.height, sampled)


# The record columns a source's suite reads (its checks' and source_frame's)
SOURCE_COLUMNS = ("source_row", "name", "status", "headcount", "id", "founded_on")


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
    """Enterprises with the number of distinct valid USCCs among their records.

    Only the columns read are copied. Links made by :func:`datapool.matching.engine.resolve` are
    in the standardised rows' order, row for row: their enterprise ids are then placed beside the
    rows' USCCs as they are, with no join over the month (else they are joined on the row).
    """
    rows = std.select("source", "source_row", "uscc", "uscc_valid")
    keys = links.select("source", "source_row", "enterprise_id")
    if rows.height == keys.height and all(
        rows.get_column(c).equals(keys.get_column(c)) for c in ("source_row", "source")
    ):
        rows = rows.with_columns(keys.get_column("enterprise_id"))
    else:
        rows = rows.join(keys, on=["source", "source_row"])
    valid = (
        rows.filter(pl.col("uscc_valid").fill_null(False))
        .group_by("enterprise_id")
        .agg(pl.col("uscc").n_unique().alias("valid_usccs"))
    )
    # in the enterprises' order: an offending row's position is the enterprise's
    return (
        enterprises.select(
            "enterprise_id", "headcount", "headcount_source", "active", "uscc", "uscc_valid"
        )
        .join(valid, on="enterprise_id", how="left", maintain_order="left")
        .select(
            "enterprise_id",
            "headcount",
            "headcount_source",
            "active",
            "uscc",
            pl.col("valid_usccs").fill_null(0),
            pl.when(pl.col("uscc_valid")).then(pl.col("uscc")).alias("valid_uscc"),
        )
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
    """Links keyed by their source row (``row_key``, "source:row", is :data:`LINK_KEYS`: made
    only for the rows a check names)."""
    return links.select("source", "source_row", "enterprise_id")


LINK_KEYS: Derived = {
    "row_key": (
        ("source", "source_row"),
        pl.col("source") + ":" + pl.col("source_row").cast(pl.Utf8),
    )
}


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
        """Validate ``frame`` against ``checks`` (:func:`prepare` here, then :meth:`run_suite`)."""
        return self.run_suite(prepare(name, frame, checks))

    def run_suite(self, suite: Suite) -> list[dict[str, Any]]:
        """Validate one prepared suite; record and return one dict per expectation.

        A sampled suite (see :data:`SAMPLE_ROWS`) is two suites in Data Docs: ``<name>`` with the
        every-row checks, ``<name> (sample)`` with the others, run on the sample; their results
        are recorded under ``name`` too, with ``details.sampled`` giving the rows checked and of
        how many.
        """
        if not suite.sampled:
            return self._run(suite.name, suite.name, suite.frame, suite.checks, suite.measured)
        whole = sorted(suite.measured)
        rows = self._run(
            suite.name,
            suite.name,
            suite.frame.clear(),
            [suite.checks[i] for i in whole],
            {k: suite.measured[i] for k, i in enumerate(whole)},
        )
        sampled = [c for i, c in enumerate(suite.checks) if i not in suite.measured]
        more = self._run(f"{suite.name} (sample)", suite.name, suite.frame, sampled, {})
        for r in more:
            details = json.loads(r["details"])
            details["sampled"] = {"rows": suite.frame.height, "of": suite.rows}
            r["details"] = json.dumps(details, ensure_ascii=False, default=str)
        return rows + more

    def _run(
        self,
        suite_name: str,
        name: str,
        frame: pl.DataFrame,
        checks: list[Check],
        measured: dict[int, Measured],
    ) -> list[dict[str, Any]]:
        """One GX suite ``suite_name``: the checks in ``measured`` validated from their figures,
        the others on ``frame``; the results stored for Data Docs and recorded under ``name``."""
        import datetime

        from great_expectations.constants import DATAFRAME_REPLACEMENT_STR
        from great_expectations.core import ExpectationSuiteValidationResult
        from great_expectations.core.result_format import DEFAULT_RESULT_FORMAT
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )
        from great_expectations.validator.v1_validator import Validator as BatchValidator
        from great_expectations.validator.validation_statistics import calc_validation_statistics

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
        # Data Docs put unexpected values into HTML as they are: agency text goes in escaped
        validator = BatchValidator(
            batch_definition=batch,
            batch_parameters={"dataframe": escape_html_columns(frame).to_pandas()},
            result_format=DEFAULT_RESULT_FORMAT,
        )
        configs = [e.configuration for e in suite.expectations]
        on_frame = [i for i in range(len(checks)) if i not in measured]
        part = validator.validate_expectation_suite(
            gx.ExpectationSuite(name=suite_name, expectations=[configs[i] for i in on_frame])
        )
        self._forget_batches()
        # GX gives the results grouped by column, in order of first appearance
        by_index = dict(zip(_by_column(on_frame, checks), part.results, strict=True))
        runtime = {"result_format": DEFAULT_RESULT_FORMAT}
        for i, m in measured.items():
            config = configs[i]
            config.kwargs["batch_id"] = validator.active_batch_id
            by_index[i] = _validate_measured(config.to_domain_obj(), m, runtime)
        results = [by_index[i] for i in _by_column(list(range(len(checks))), checks)]
        stats = calc_validation_statistics(results)
        run_id = RunIdentifier(run_time=datetime.datetime.now(datetime.UTC))
        suite_result = ExpectationSuiteValidationResult(
            results=results,
            success=stats.success,
            suite_name=suite_name,
            statistics={
                "evaluated_expectations": stats.evaluated_expectations,
                "successful_expectations": stats.successful_expectations,
                "unsuccessful_expectations": stats.unsuccessful_expectations,
                "success_percent": stats.success_percent,
            },
            meta={
                **part.meta,
                "validation_id": vd.id,
                "checkpoint_id": None,
                "run_id": run_id,
                "validation_time": run_id.run_time,
                "batch_parameters": {"dataframe": DATAFRAME_REPLACEMENT_STR},
            },
            batch_id=part.batch_id,
        )
        suite_id = ExpectationSuiteIdentifier(name=suite_name)
        self.ctx.validation_results_store.store_validation_results(
            suite_validation_result=suite_result,
            suite_validation_result_identifier=ValidationResultIdentifier(
                batch_identifier=validator.active_batch_id,
                expectation_suite_identifier=suite_id,
                run_id=run_id,
            ),
            expectation_suite_identifier=suite_id,
        )
        rows = [_result_row(name, r) for r in results]
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


def _by_column(indices: list[int], checks: list[Check]) -> list[int]:
    """``indices`` in the order GX validates their checks: grouped by column, columns in order of
    first appearance, checks without a column last."""
    groups: dict[str | None, list[int]] = {}
    for i in indices:
        col = checks[i].kwargs.get("column")
        groups.setdefault(col if isinstance(col, str) else None, []).append(i)
    nocol = groups.pop(None, [])
    return [i for g in groups.values() for i in g] + nocol


def _validate_measured(expectation: Any, m: Measured, runtime: dict[str, Any]) -> Any:
    """GX's result for ``expectation`` from the figures ``m`` (its ``metrics_validate``: the
    success, ``mostly`` and result format of GX's own validation)."""
    deps = expectation.get_validation_dependencies(runtime_configuration=dict(runtime))
    values: list[Any] = []
    if m.examples is not None:
        col = m.examples.columns[0]
        values = list(escape_html_columns(m.examples).to_pandas()[col])
        if m.padded:
            values = values[:-1]
    metrics: dict[Any, Any] = {}
    for metric, config in deps.metric_configurations.items():
        if metric == "table.row_count":
            metrics[config.id] = m.rows
        elif metric == "column_values.nonnull.unexpected_count":
            metrics[config.id] = m.nulls
        elif metric.endswith(".unexpected_count"):
            metrics[config.id] = m.unexpected
        elif metric.endswith(".unexpected_values"):
            metrics[config.id] = values
        elif metric.endswith(".unexpected_index_list"):
            metrics[config.id] = list(m.positions)
        elif metric.endswith(".unexpected_index_query"):
            metrics[config.id] = None  # only asked for by return_unexpected_index_query
        else:
            raise ValueError(f"{expectation.expectation_type}: no measured {metric}")
    return expectation.metrics_validate(metrics=metrics, runtime_configuration=dict(runtime))


def _result_row(name: str, r: Any) -> dict[str, Any]:
    """One ``validation_result`` row of GX's result ``r``, recorded under suite ``name``."""
    cfg = r.expectation_config
    assert cfg is not None  # GX returns each result with its expectation
    res = r.result or {}
    return {
        "suite": name,
        "expectation": cfg.type,
        "column_name": cfg.kwargs.get("column"),
        "severity": (cfg.meta or {}).get("severity", "critical"),
        "success": bool(r.success),
        "unexpected_count": res.get("unexpected_count"),
        "details": json.dumps(
            {
                "kwargs": {k: v for k, v in cfg.kwargs.items() if k != "batch_id"},
                "examples": [str(x) for x in (res.get("partial_unexpected_list") or [])[:5]],
                "observed": str(res.get("observed_value", "")),
            },
            ensure_ascii=False,
            default=str,
        ),
    }
