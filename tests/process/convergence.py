"""Waiting for replicas to converge: poll an observable condition until a deadline, never sleep a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.process.server import Server

DEADLINE = 30.0  # seconds; generous for a loaded CI machine, only reached when something is broken


def eventually(condition: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    """Return as soon as `condition()` holds; fail with `what` if it still does not after `deadline` seconds."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"not converged after {deadline:g} s: {what}")
        time.sleep(0.05)  # the interval between two checks; no assertion depends on it


def served_revision(server: Server, name: str) -> int | None:
    """The revision `server` runs `name` on (None when it does not serve it)."""
    with server.client() as http:
        answer = http.get(f"/pipelines/{name}")
        if answer.status_code != 200:
            return None
        live: int | None = answer.json()["live_revision"]
        return live
