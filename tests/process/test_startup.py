"""A start that fails ends `stackyard serve` with one line naming the cause and exit status 2, with any workers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.process.server import free_port
from tests.yamls import prompt_yaml

pytestmark = pytest.mark.process


def serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `stackyard serve ARGS` to its end (a failed start ends it) and return what it printed."""
    full_env = {
        **os.environ,
        "HAYSTACK_TELEMETRY_ENABLED": "false",
        "PYTHONPATH": str(REPO),
        "STACKYARD_STORE_URL": f"sqlite:///{tmp_path}/yard.db",
        "STACKYARD_PORT": str(free_port()),
        **(env or {}),
    }
    command = [sys.executable, "-m", "stackyard", "serve", *args]
    return subprocess.run(command, check=False, capture_output=True, text=True, env=full_env, cwd=tmp_path, timeout=120)


# What can be checked before a worker starts is: the answer is that one line and nothing else.
BEFORE_ANY_WORKER = {
    "a port that is no number": ({"STACKYARD_PORT": "abc"}, "error: STACKYARD_PORT: Input should be a valid integer"),
    "an unknown seed mode": ({"STACKYARD_SEED_MODE": "always"}, "error: STACKYARD_SEED_MODE: Input should be"),
    # What `STACKYARD_TOKENS="ci:admin:sha256$5f$9a"` leaves once the shell expanded $5f and $9a.
    "a token line the shell expanded": (
        {"STACKYARD_TOKENS": "ci:admin:sha256"},
        "error: STACKYARD_TOKENS, token line 1: a token line must read name:scopes:sha256$salt$digest "
        "(quote token lines in single quotes",
    ),
    "a tokens file that does not exist": (
        {"STACKYARD_TOKENS_FILE": "/nonexistent/tokens"},
        "error: STACKYARD_TOKENS_FILE: cannot read /nonexistent/tokens",
    ),
    "a start-up path that names nothing": ({"STACKYARD_PIPELINE_PATHS": "/nonexistent/pipelines"}, "error: /nonex"),
    "a store that cannot be opened": (
        {"STACKYARD_STORE_URL": "sqlite:////proc/nonexistent/yard.db"},
        "error: STACKYARD_STORE_URL: ",
    ),
}


@pytest.mark.parametrize("case", sorted(BEFORE_ANY_WORKER))
def test_a_bad_setting_token_path_or_store_is_one_line_and_status_2(tmp_path: Path, case: str) -> None:
    env, start = BEFORE_ANY_WORKER[case]
    done = serve(tmp_path, env=env)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith(start), done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_start_up_file_that_cannot_be_deployed_stops_every_worker_with_status_2(tmp_path: Path, workers: str) -> None:
    (tmp_path / "greet.yml").write_text(prompt_yaml())
    (tmp_path / "broken.yml").write_text("- not a mapping\n")
    done = serve(tmp_path, str(tmp_path), "--workers", workers)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    reasons = [line for line in done.stderr.splitlines() if "broken.yml" in line]
    assert reasons, done.stderr
    # Each worker that got that far says why in one line: the file, and what is wrong with it.
    assert all(
        line.endswith(
            "The definition is a YAML list, not a mapping: the top level must hold 'components' "
            "and, optionally, 'connections'."
        )
        for line in reasons
    ), reasons
