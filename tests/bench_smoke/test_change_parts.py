"""The change and streaming parts of the benchmark run end to end at smoke sizes (`tests/bench_smoke/run.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench_smoke.run import smoke

pytestmark = pytest.mark.process


def test_propagation_deploy_workers_and_streams_run_and_every_update_propagates(tmp_path: Path) -> None:
    results = smoke(tmp_path, ["propagation", "deploy", "workers", "streams"])
    # The SQLite --workers 2 case measured every update (the PostgreSQL case depends on the build).
    workers_rows = [r for r in results["propagation"]["tables"][0]["rows"] if "--workers 2" in r[0]]
    assert [row[1] for row in workers_rows] == ["3"]
