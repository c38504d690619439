"""The OpenAPI document tells the truth: schemathesis with every check against a real server process.

`--checks all` generates requests that fit the document and requests that break it, for every operation, and checks
each answer: never a 5xx; a request that fits is accepted and one that breaks the document is refused; statuses,
content types, bodies and `Allow` headers are the documented ones; undocumented methods get 405. The seed is fixed
and the number of examples bounded (tests/security/schemathesis.toml), so a run is the same every time. The few
differences a JSON Schema cannot express are listed in that file and explained in docs/openapi.md.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.process.server import running

pytestmark = pytest.mark.process

CONFIG = Path(__file__).with_name("schemathesis.toml")


def test_schemathesis_with_every_check_finds_no_difference_from_the_document(tmp_path: Path) -> None:
    with running(tmp_path, str(REPO / "examples/pipelines"), "--store", f"sqlite:///{tmp_path}/yard.db") as server:
        command = [
            *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run"),
            f"{server.url}/openapi.json",
            *("--checks", "all", "--seed", "1", "--workers", "1", "--no-color"),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path)
    # From the first failure on (schemathesis prints each with a curl line that reproduces it), and any error.
    report = done.stdout[max(done.stdout.find("FAILURES"), 0) :][:30_000] + done.stderr[-3000:]
    assert done.returncode == 0, report
    selected = re.search(r"Selected: (\d+)/(\d+)", done.stdout)
    tested = re.search(r"Tested: (\d+)", done.stdout)
    assert selected is not None, report
    assert tested is not None, report
    # All but /mcp's GET, POST and DELETE, which speak the MCP protocol (schemathesis.toml says why).
    assert int(tested[1]) == int(selected[1]) == int(selected[2]) - 3 >= 40, "every operation but /mcp was tested"
