"""Streams against a real server: a stream keeps the revision it started on through an update, a client that
goes away mid-stream ends the run at once, its slot free again, and shutdown lets a stream finish."""

from __future__ import annotations

import contextlib
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.components import GATES, alive
from tests.metrics_text import sample
from tests.process.server import Server, running
from tests.waiting import wait_until

YAML = {"Content-Type": "application/yaml"}
SSE = {"Accept": "text/event-stream"}
QUESTION = {"data": {"question": "q"}}


def held(key: str, before: str, after: str) -> str:
    """A pipeline whose stream sends the words of `before`, waits at gate `key`, then sends those of `after`."""
    return f"""components:
  llm:
    type: tests.components.StreamingGate
    init_parameters: {{key: {key}, before: "{before}", after: "{after}"}}
connections: []
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # One run at a time per pipeline: a slot still held by a stream nobody reads would show.
    with running(tmp_path_factory.mktemp("streams"), env={"STACKYARD_MAX_CONCURRENT_RUNS": "1"}) as started:
        yield started


def read_events(lines: Iterator[str], count: int | None = None) -> list[tuple[str, Any]]:
    """The next `count` events of a stream (None: up to its end)."""
    found: list[tuple[str, Any]] = []
    event: str | None = None
    for line in lines:
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event is not None:
            found.append((event, json.loads(line.removeprefix("data: "))))
            if count is not None and len(found) == count:
                break
    return found


def test_a_stream_keeps_its_revision_through_an_update(server: Server) -> None:
    entered, release = GATES["pinned"]
    GATES["pinned-new"][1].set()  # the new revision's gate stands open
    with server.client() as http:
        assert http.put("/pipelines/pinned", content=held("pinned", "old one", "old two"), headers=YAML).is_success
        with http.stream("POST", "/pipelines/pinned/run", json=QUESTION, headers=SSE) as answer:
            lines = answer.iter_lines()
            assert [data["content"] for _, data in read_events(lines, 2)] == ["old ", "one "]
            wait_until(entered.is_set, "the stream to wait at its gate")
            update = http.put("/pipelines/pinned", content=held("pinned-new", "new one", "new two"), headers=YAML)
            assert update.json()["revision"] == 2
            release.set()
            rest = read_events(lines)
        assert [data["content"] for kind, data in rest if kind == "chunk"] == ["old ", "two "]
        kind, result = rest[-1]
        assert kind == "result"
        assert result["revision"] == 1
        assert result["result"]["llm"]["replies"][0]["text"] == "old one old two"
        after = http.post("/pipelines/pinned/run", json=QUESTION)
        assert after.json()["revision"] == 2


def test_a_client_that_leaves_mid_stream_ends_the_run_and_frees_its_slot(server: Server) -> None:
    entered, release = GATES["left"]
    with server.client() as http:
        assert http.put("/pipelines/left", content=held("left", "one two", "three"), headers=YAML).is_success
        with http.stream("POST", "/pipelines/left/run", json=QUESTION, headers=SSE) as answer:
            # Held for the stream's life: a line iterator dropped closes the connection, and the client would
            # leave now, before the run reached its gate, not at the end of this block.
            lines = answer.iter_lines()
            assert read_events(lines, 1)[0][0] == "chunk"
            try:
                wait_until(entered.is_set, "the stream to wait at its gate")
            except AssertionError as late:
                raise AssertionError(f"{late}\n{server.where_cells_are()}") from None
        # The client has closed the stream; the gate is still shut, so only ending the run can stop it.
        worker = int(entered.path.read_text())

        def in_flight() -> float | None:
            return sample(http.get("/metrics").text, "stackyard_runs_in_flight", pipeline="left")

        wait_until(lambda: in_flight() == 0, "the abandoned stream's run to stop", timeout=10)
        wait_until(lambda: not alive(worker), "the abandoned stream's worker to end", timeout=10)
        assert not release.is_set()
        # Its slot is free: with one run at a time, the next run of the pipeline starts (and answers) at once.
        release.set()
        assert http.post("/pipelines/left/run", json=QUESTION, timeout=10).status_code == 200


def test_at_shutdown_a_run_stream_finishes_and_an_mcp_listener_does_not_hold_the_server(tmp_path: Path) -> None:
    """SIGTERM while a run streams and an MCP client listens for notifications: the run's stream goes on to its
    result (graceful shutdown lets runs finish), while the notification stream, which never ends on its own, is
    closed at once rather than after the 30 s that shutdown waits for connections."""
    entered, release = GATES["shutdown"]
    with running(tmp_path) as server, server.client() as http:
        assert http.put("/pipelines/held", content=held("shutdown", "one", "two"), headers=YAML).is_success
        with http.stream("POST", "/pipelines/held/run", json=QUESTION, headers=SSE) as answer:
            lines = answer.iter_lines()
            assert read_events(lines, 1)[0][0] == "chunk"
            wait_until(entered.is_set, "the stream to wait at its gate")

            async def listen_then_stop() -> None:
                async with (
                    streamable_http_client(f"{server.url}/mcp") as (read, write, _),
                    ClientSession(read, write) as session,
                ):
                    await session.initialize()  # the client now holds its notification stream open
                    await session.list_tools()
                    server.process.send_signal(signal.SIGTERM)
                    await anyio.to_thread.run_sync(release.set)

            with contextlib.suppress(Exception):  # the client's session ends as the server goes
                anyio.run(listen_then_stop)
            events = read_events(lines)
        assert [kind for kind, _ in events] == ["chunk", "result"]
        assert events[-1][1]["result"]["llm"]["replies"][0]["content"][0]["text"] == "one two"
        # uvicorn ends a graceful shutdown by raising the signal it caught again: the status says SIGTERM ended it.
        assert server.process.wait(timeout=15) == -signal.SIGTERM
        assert "Application shutdown complete" in server.log.read_text()
