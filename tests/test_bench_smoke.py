"""The benchmark harness still works end to end: every part, tiny sizes, no wrk, no Hayhooks, no network.

No assertion here is about speed: the harness, its servers and its report are what is tested.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.process

TITLES = [
    "1. Serving overhead",
    "2. Scaling with workers",
    "3. Updates under load",
    "4. Propagation to every replica",
    "5. Many pipelines in one process",
    "6. Deploy latency",
    "7. Worker processes",
]


def test_smoke_run_of_every_part_writes_the_report_and_loses_no_run_during_updates(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    finished = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--work", str(tmp_path / "work"), "--docs", str(docs)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr

    report = (docs / "benchmarks.md").read_text()
    for title in TITLES:
        assert f"## {title}" in report
    assert "SMOKE SIZES" in report
    assert "Hayhooks was not measured in this run" in report

    results = {p.stem: json.loads(p.read_text()) for p in (tmp_path / "work" / "results-smoke").glob("*.json")}
    assert sorted(results) == [
        "1-overhead",
        "2-scaling",
        "3-updates",
        "4-propagation",
        "5-many",
        "6-deploy",
        "7-workers",
        "8-streams",
    ]
    # Replacing a pipeline under load must not fail a single run: a property of the server, not a speed.
    assert results["3-updates"]["headline"]["Stackyard: failed runs during 3 updates"] == "0"
    # The SQLite --workers 2 case measured every update (the PostgreSQL case depends on the build).
    workers_rows = [r for r in results["4-propagation"]["tables"][0]["rows"] if "--workers 2" in r[0]]
    assert [row[1] for row in workers_rows] == ["3"]
