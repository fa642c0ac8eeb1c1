"""What a run lets go of: GX's copies of validated frames, glibc's freed large blocks."""

from __future__ import annotations

import sys

import polars as pl
import pytest

from datapool.memory import release_large_blocks
from datapool.schemas.expectations import Check, Validator


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_release_large_blocks_sets_the_threshold_once():
    assert release_large_blocks() is True
    assert release_large_blocks() is True  # idempotent


def test_validator_keeps_no_batch_frames(tmp_path):
    from great_expectations.data_context.data_context.context_factory import project_manager

    v = Validator(tmp_path / "docs")
    frame = pl.DataFrame({"id": [f"E{i}" for i in range(1000)], "n": list(range(1000))})
    for name in ("a", "b"):
        v.run(name, frame, [Check("ExpectColumnValuesToBeUnique", {"column": "id"})])
        for source in v.ctx.data_sources.all().values():
            assert not source.get_execution_engine().batch_manager.batch_data_cache
    assert [r["success"] for r in v.results] == [True, True]
    v.build_docs()
    v.close()
    assert (tmp_path / "docs" / "index.html").exists()
    with pytest.raises(Exception):  # noqa: B017 - GX: no current project after close
        project_manager.get_current_project()
