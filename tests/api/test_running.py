"""Runs through the real app, in real cells: a run's deadline counts from its arrival, a run past it is never
answered 200, and the slot and the lease are given back on every path, only once the work has really stopped."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from stackyard.settings import Settings
from tests.components import GATES, RUNS, AsyncRendezvous, alive
from tests.conftest import yard
from tests.waiting import until
from tests.yamls import gate_yaml

YAML = {"Content-Type": "application/yaml"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """One shared cell and one run of a pipeline at a time, so a test can fill its slot; a short run timeout."""
    return Settings(
        store_url=f"sqlite:///{tmp_path}/yard.db",
        extra_allowed_modules=["tests.components"],
        run_workers=1,
        max_concurrent_runs=1,
        run_timeout=1.0,
    )


def counted_gate(key: str) -> str:
    """A `Counter` ahead of a `Gate`: the count says whether a run reached component code at all."""
    return f"""components:
  counter:
    type: tests.components.Counter
    init_parameters: {{key: {key}}}
  gate:
    type: tests.components.Gate
    init_parameters: {{key: {key}, reply: held}}
connections:
- {{sender: counter.text, receiver: gate.text}}
"""


async def test_a_run_that_waits_for_a_slot_past_its_deadline_is_503_and_never_runs(
    app: FastAPI, aclient: httpx.AsyncClient
) -> None:
    answer = await aclient.put("/pipelines/held", content=counted_gate("slot-wait"), headers=YAML)
    assert answer.status_code == 201, answer.text
    entered, release = GATES["slot-wait"]
    first = asyncio.create_task(aclient.post("/pipelines/held/run", json={"data": {"text": "first"}}))
    await until(entered.is_set, "the first run holds the pipeline's one slot")
    queued = await aclient.post("/pipelines/held/run", json={"data": {"text": "second"}})
    # The queue wait counted against the second run's deadline: it did not start, and says so.
    assert queued.status_code == 503, queued.text
    assert queued.json()["type"].endswith("/run-not-started")
    assert queued.headers["Retry-After"] == "1"
    assert (await first).status_code == 504
    release.set()
    assert RUNS["slot-wait"] == 1  # only the first run reached component code
    live = yard(app).registry.get("held")
    assert live is not None
    await until(lambda: live.inflight == 0, "the first run's lease came back once its cell stopped it")


async def test_a_run_past_its_deadline_is_504_its_cell_is_recycled_and_the_other_pipelines_run_on(
    app: FastAPI, aclient: httpx.AsyncClient
) -> None:
    entered, _release = GATES["recycle"]  # never released: only ending the cell stops this run
    assert (await aclient.put("/pipelines/slow", content=gate_yaml("recycle", "old"), headers=YAML)).is_success
    assert (await aclient.put("/pipelines/quick", content=gate_yaml("open", "quick"), headers=YAML)).is_success
    GATES["open"][1].set()
    state = yard(app)
    old = state.registry.get("slow")
    assert old is not None
    answer = await aclient.post("/pipelines/slow/run", json={"data": {"text": "t"}})
    assert answer.status_code == 504
    assert "stopped" in answer.json()["detail"]
    cell = int(entered.path.read_text())
    # Past the grace a cancelled job has, the thread that cannot stop costs its cell: it is ended, and a
    # replacement, built before it serves, takes the shared pipelines.
    await until(lambda: not alive(cell), "the cell running the overdue job was ended", within=10)
    await until(lambda: old.inflight == 0, "the lease came back once the work had stopped")
    quick = await aclient.post("/pipelines/quick/run", json={"data": {"text": "t"}})
    assert quick.status_code == 200, quick.text
    assert quick.json()["result"]["gate"]["text"] == "quick: t"
    assert cell not in state.pool.pids()


async def test_an_async_run_past_its_deadline_is_cancelled_and_its_cell_serves_on(
    app: FastAPI, aclient: httpx.AsyncClient
) -> None:
    # A rendezvous of two that only one run attends: it waits on the cell's event loop until cancelled.
    yaml_text = f"""components:
  meet:
    type: {AsyncRendezvous.__module__}.AsyncRendezvous
    init_parameters: {{key: lonely, count: 2}}
connections: []
"""
    assert (await aclient.put("/pipelines/lonely", content=yaml_text, headers=YAML)).is_success
    state = yard(app)
    before = state.pool.pids()
    answer = await aclient.post("/pipelines/lonely/run", json={"data": {"text": "t"}})
    assert answer.status_code == 504
    live = state.registry.get("lonely")
    assert live is not None
    await until(lambda: live.inflight == 0, "the cancelled run gave its lease back")
    # Cancelled on the loop, it cost nothing more: the same cell serves, no replacement was needed.
    assert state.pool.pids() == before
    assert all(alive(pid) for pid in before)


async def test_a_caller_that_goes_away_has_its_run_cancelled_and_its_slot_freed(
    app: FastAPI, aclient: httpx.AsyncClient
) -> None:
    assert (await aclient.put("/pipelines/slow", content=gate_yaml("gone", "old"), headers=YAML)).is_success
    state = yard(app)
    entered, _release = GATES["gone"]
    run = asyncio.create_task(aclient.post("/pipelines/slow/run", json={"data": {"text": "t"}}))
    await until(entered.is_set, "the run started")
    cell = int(entered.path.read_text())
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    # Nobody waits for the answer any more: the run is cancelled, and a thread that cannot stop costs its cell.
    await until(lambda: not alive(cell), "the abandoned work's cell was ended", within=10)
    live = state.registry.get("slow")
    assert live is not None
    await until(lambda: live.inflight == 0, "the lease came back")
