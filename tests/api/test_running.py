"""Work on a live revision happens in worker processes: the slot and the lease are given back on every path, and
only once the work has really stopped; a run past its timeout is stopped by ending its worker."""

from __future__ import annotations

import asyncio
import functools
import os
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi import FastAPI

from stackyard.settings import Settings
from tests.components import GATES, Signal, mark, wait_for
from tests.conftest import yard
from tests.documents import QUERY, on_index
from tests.waiting import until
from tests.yamls import gate_yaml

YAML = {"Content-Type": "application/yaml"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """One worker process, so a test can keep it busy; a short run timeout."""
    return Settings(
        store_url=f"sqlite:///{tmp_path}/yard.db",
        extra_allowed_modules=["tests.components"],
        run_workers=1,
        max_run_workers=1,
        run_timeout=0.5,
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_work_given_up_before_a_worker_took_it_never_starts_and_gives_its_lease_back(
    app: FastAPI, aclient: httpx.AsyncClient
) -> None:
    answer = await aclient.put("/pipelines/query", content=on_index(QUERY, "leases"), headers=YAML)
    assert answer.status_code == 201, answer.text
    state = yard(app)
    # The in-memory store pins the pipeline to the one memory worker: occupy it.
    blocker = asyncio.create_task(state.leases.use("query", functools.partial(wait_for, name="leases-free")))
    await until(Signal("leases-free.entered").is_set, "the worker is taken")
    with anyio.CancelScope() as scope:
        scope.cancel()  # as a caller that gives up while its work waits for a worker
        await state.leases.use("query", functools.partial(mark, name="leases-never"))
    Signal("leases-free").set()
    await blocker
    live = state.registry.get("query")
    assert live is not None
    assert not Signal("leases-never").is_set()
    assert live.inflight == 0


async def test_a_run_past_its_timeout_is_stopped_before_its_slot_and_lease_are_given_back(
    app: FastAPI, aclient: httpx.AsyncClient
) -> None:
    entered, _release = GATES["lease-timeout"]  # never released: only ending the worker stops this run
    assert (await aclient.put("/pipelines/slow", content=gate_yaml("lease-timeout", "old"), headers=YAML)).is_success
    state = yard(app)
    old = state.registry.get("slow")
    assert old is not None
    answer = await aclient.post("/pipelines/slow/run", json={"data": {"text": "t"}})
    assert answer.status_code == 504
    assert "stopped" in answer.json()["detail"]
    assert entered.is_set()
    worker = int(entered.path.read_text())
    # By the time the 504 is sent the worker that ran it is gone, and so are the slot and the lease it held.
    assert not alive(worker)
    assert old.inflight == 0
    assert state.pool.busy == 0
    # A new worker took its place, and the pipeline serves again.
    await until(lambda: state.pool.size == 1, "the worker was replaced")
    new = await aclient.put("/pipelines/slow", content=gate_yaml("lease-other", "new"), headers=YAML)
    assert new.status_code == 200, new.text
    assert old.retired


async def test_a_caller_that_goes_away_does_not_stop_the_timeout_of_its_work(
    app: FastAPI, aclient: httpx.AsyncClient
) -> None:
    assert (await aclient.put("/pipelines/slow", content=gate_yaml("gone", "old"), headers=YAML)).is_success
    state = yard(app)
    entered, _release = GATES["gone"]
    run = asyncio.create_task(aclient.post("/pipelines/slow/run", json={"data": {"text": "t"}}))
    await until(entered.is_set, "the run started")
    worker = int(entered.path.read_text())
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    # Nobody waits for the answer any more, yet the run timeout still ends the work and frees its slot.
    await until(lambda: not alive(worker), "the abandoned work's worker was ended", within=10)
    live = state.registry.get("slow")
    assert live is not None
    await until(lambda: live.inflight == 0, "the lease came back")
