"""Work on a live revision: the lease is given back on every path, so a retired revision is always closed, and
never while a run still uses it."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi import FastAPI

from stackyard.definitions.build import Build
from stackyard.settings import Settings
from tests.components import CLOSED, GATES
from tests.conftest import yard
from tests.documents import QUERY, on_index
from tests.waiting import until
from tests.yamls import gate_yaml

YAML = {"Content-Type": "application/yaml"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """One run thread, so a test can keep it busy; a short run timeout."""
    return Settings(
        store_url=f"sqlite:///{tmp_path}/yard.db",
        extra_allowed_modules=["tests.components"],
        run_threads=1,
        run_timeout=0.5,
    )


async def test_work_given_up_before_a_run_thread_took_it_never_starts_and_gives_its_lease_back(
    app: FastAPI, aclient: httpx.AsyncClient
) -> None:
    answer = await aclient.put("/pipelines/query", content=on_index(QUERY, "leases"), headers=YAML)
    assert answer.status_code == 201, answer.text
    state = yard(app)
    busy, free = threading.Event(), threading.Event()

    def occupy(build: Build) -> None:
        busy.set()
        free.wait(10)

    blocker = asyncio.create_task(state.leases.use("query", occupy))
    assert await anyio.to_thread.run_sync(busy.wait, 10)  # the only run thread is taken
    started: list[Build] = []
    with anyio.CancelScope() as scope:
        scope.cancel()  # as a run timeout does while the run waits for a run thread
        await state.leases.use("query", started.append)
    free.set()
    await blocker
    # The queue behind it has drained.
    await asyncio.get_running_loop().run_in_executor(state.leases.threads, lambda: None)

    live = state.registry.get("query")
    assert live is not None
    assert started == []
    assert live.inflight == 0


async def test_a_run_past_its_timeout_keeps_its_revision_open_until_it_really_ends(
    app: FastAPI, aclient: httpx.AsyncClient
) -> None:
    entered, release = GATES["lease-timeout"]
    assert (await aclient.put("/pipelines/slow", content=gate_yaml("lease-timeout", "old"), headers=YAML)).is_success
    registry = yard(app).registry
    old = registry.get("slow")
    assert old is not None
    try:
        answer = await aclient.post("/pipelines/slow/run", json={"data": {"text": "t"}})
        assert answer.status_code == 504
        assert entered.is_set()
        # Replaced while the abandoned run still holds the old revision: it is retired, not closed.
        new = await aclient.put("/pipelines/slow", content=gate_yaml("lease-other", "new"), headers=YAML)
        assert new.status_code == 200, new.text
        assert old.retired
        assert old.inflight == 1
        assert "lease-timeout/old" not in CLOSED
    finally:
        release.set()
    await until(lambda: old.inflight == 0, "the abandoned run gave its lease back")
    await registry.closes_done()
    assert "lease-timeout/old" in CLOSED
