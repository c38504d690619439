"""The serving parts of the benchmark run end to end at smoke sizes (`tests/bench_smoke/run.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench_smoke.run import smoke

pytestmark = pytest.mark.process


def test_overhead_scaling_updates_and_many_run_and_no_run_fails_during_updates(tmp_path: Path) -> None:
    results = smoke(tmp_path, ["overhead", "scaling", "updates", "many"])
    # Replacing a pipeline under load must not fail a single run: a property of the server, not a speed.
    assert results["updates"]["headline"]["Stackyard: failed runs during 3 updates"] == "0"
    assert "Hayhooks was not measured in this run" in (tmp_path / "docs" / "benchmarks.md").read_text()
