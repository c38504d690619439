"""What a real server writes to its log: no terminal colour codes off a terminal, every shutdown line on SIGTERM."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.process.server import Server, start_server
from tests.waiting import wait_until

pytestmark = pytest.mark.process


def live_replicas(server: Server) -> int:
    return len(httpx.get(f"{server.url}/replicas", timeout=5).json()["replicas"])


def test_a_log_that_is_not_a_terminal_carries_no_colour_codes(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        assert httpx.get(f"{server.url}/pipelines", timeout=5).status_code == 200
    finally:
        server.stop()
    log = server.log.read_text()
    assert "Started server process" in log
    assert "color_message" not in log
    assert "\x1b[" not in log


@pytest.mark.parametrize("workers", [1, 2])
def test_every_shutdown_line_reaches_the_log_on_sigterm(tmp_path: Path, workers: int) -> None:
    server = start_server(tmp_path, "--workers", str(workers))
    try:
        wait_until(lambda: live_replicas(server) == workers, f"{workers} workers serve")
    finally:
        server.stop()  # SIGTERM, then waits for the process to end
    log = server.log.read_text()
    pids = re.findall(r"Started server process \[(\d+)\]", log)
    assert len(pids) == workers, log
    for pid in pids:
        assert f"Finished server process [{pid}]" in log, log
    assert log.count("Application shutdown complete.") == workers, log
    assert log.count("replica stopped: pipelines and store closed") == workers, log
    if workers > 1:
        assert "Stopping parent process" in log, log
