"""Shared fixtures: the shipped samples, one Prefect test harness per session, a real PostgreSQL."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import hypothesis
import polars as pl
import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
MONTHS = ["2025-05", "2025-06"]
# the package's source folders: datapool/ and the stage folders it maps (pyproject package-dir)
PACKAGE_DIRS = ["datapool", "connectors", "flows", "matching", "schemas", "visits"]
sys.path.insert(0, str(Path(__file__).parent))

# Tests check correctness, never speed: Hypothesis' per-example deadline (200 ms) fails property
# tests on a busy 2-core machine for reasons that have nothing to do with the code under test.
hypothesis.settings.register_profile("datapool", deadline=None)
hypothesis.settings.load_profile("datapool")

# The suite, its golden output and every `datapool` it starts use the documented public test key
# (datapool.privacy.TEST_KEY): a run without a key stops, and a developer's own key in the
# environment must not change the golden digests.
os.environ["DATAPOOL_HMAC_KEY"] = "datapool-public-test-key"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/golden/ from this run's outputs instead of comparing with them",
    )


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def truth_rows() -> dict[str, pl.DataFrame]:
    return {
        m: pl.read_csv(
            SAMPLES / "truth" / m / "rows.csv", schema_overrides={"enterprise_key": pl.Utf8}
        )
        for m in MONTHS
    }


@pytest.fixture(scope="session")
def truth_enterprises() -> dict[str, pl.DataFrame]:
    return {
        m: pl.read_csv(
            SAMPLES / "truth" / m / "enterprises.csv",
            infer_schema_length=None,
            schema_overrides={"uscc": pl.Utf8, "head_key": pl.Utf8, "expected_headcount": pl.Int64},
        )
        for m in MONTHS
    }


@pytest.fixture(scope="session")
def resolved(samples):
    """Both sample months resolved without Prefect, the second seeded by the first's crosswalk."""
    from datapool.matching.engine import resolve
    from datapool.privacy import TEST_KEY
    from datapool.settings import Settings
    from datapool.stages import ingest

    out, prev = {}, None
    for m in MONTHS:
        ing = ingest(Settings(input_root=samples, hmac_key=TEST_KEY), m)
        res = resolve(ing.records, prev, TEST_KEY)
        out[m] = (ing, res)
        prev = res.links
    return out


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect test harness (temporary API) for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def sample_run(prefect_harness, tmp_path_factory, samples):
    """Both sample months run through the real Prefect flow into a SQLite warehouse."""
    from datapool.flows.snapshot import snapshot_flow
    from datapool.settings import Settings

    out = tmp_path_factory.mktemp("run")
    url = f"sqlite:///{out / 'warehouse.sqlite'}"
    settings = Settings(input_root=samples, warehouse_url=url, out_dir=out)
    results = {m: snapshot_flow(snapshot=m, settings=settings) for m in MONTHS}
    return {"out": out, "url": url, "results": results, "settings": settings}


@pytest.fixture(scope="session")
def pg_url():
    """URL of a PostgreSQL server started for this session (as an unprivileged user under root)."""
    from pgserver import PostgresServer, find_bin

    if find_bin() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed; .ci/run must install it")
        pytest.skip("PostgreSQL server binaries not installed")
    server = PostgresServer()
    yield server.url
    server.stop()


@pytest.fixture()
def sample_copy(tmp_path, samples) -> Path:
    """A writable copy of the samples (without truth) for tests that break inputs."""
    dst = tmp_path / "input"
    shutil.copytree(samples, dst, ignore=shutil.ignore_patterns("truth"))
    return dst
