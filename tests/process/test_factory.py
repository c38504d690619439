"""The factory `stackyard serve` gives uvicorn: what it leaves the garbage collector to walk."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.process

PROBE = """
import gc
from stackyard.api.app import create_app_from_environment
app = create_app_from_environment()
print(gc.get_freeze_count(), len(gc.get_objects()))
"""


def test_the_server_factory_freezes_what_start_up_made_so_collections_skip_it(tmp_path: Path) -> None:
    env = {**os.environ, "STACKYARD_STORE_URL": f"sqlite:///{tmp_path}/yard.db", "HAYSTACK_TELEMETRY_ENABLED": "false"}
    command = [sys.executable, "-c", PROBE]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=True)
    frozen, tracked = (int(part) for part in done.stdout.split())
    # Modules, classes and the app itself: far more than what is left for the collector to walk.
    assert frozen > 50_000
    assert tracked < frozen // 4
