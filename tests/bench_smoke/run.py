"""Smoke runs of the benchmark harness: every part at tiny sizes, no wrk, no Hayhooks, no network. The parts are
split over two test modules, so the two halves run on different pytest workers.

No assertion here is about speed: the harness, its servers and its report are what is tested.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import REPO

TITLES = {
    "overhead": "1. Serving overhead",
    "scaling": "2. Scaling with workers",
    "updates": "3. Updates under load",
    "propagation": "4. Propagation to every replica",
    "many": "5. Many pipelines in one process",
    "deploy": "6. Deploy latency",
    "workers": "7. Cells",
    "streams": "8. Streaming",
}
FILES = {
    "overhead": "1-overhead",
    "scaling": "2-scaling",
    "updates": "3-updates",
    "propagation": "4-propagation",
    "many": "5-many",
    "deploy": "6-deploy",
    "workers": "7-workers",
    "streams": "8-streams",
}


def smoke(tmp_path: Path, parts: list[str]) -> dict[str, Any]:
    """Run `parts` at smoke sizes; check the report names each, and answer their saved results by part."""
    docs = tmp_path / "docs"
    command = [sys.executable, "-m", "bench", "--smoke", "--parts", ",".join(parts)]
    finished = subprocess.run(
        [*command, "--work", str(tmp_path / "work"), "--docs", str(docs)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr

    report = (docs / "benchmarks.md").read_text()
    assert "SMOKE SIZES" in report
    for part in parts:
        assert f"## {TITLES[part]}" in report
    saved = tmp_path / "work" / "results-smoke"
    results = {p.stem: json.loads(p.read_text()) for p in saved.glob("*.json")}
    assert sorted(results) == sorted(FILES[part] for part in parts)
    return {part: results[FILES[part]] for part in parts}
