"""The pool grows past its minimum only for a request that has waited `grow_workers_after` for a busy worker:
short runs share the workers there are, a long run does not hold up the others for longer than that wait."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from fastapi import FastAPI

from stackyard.settings import Settings
from tests.components import GATES
from tests.conftest import yard
from tests.waiting import until
from tests.yamls import counter_yaml, gate_yaml

YAML = {"Content-Type": "application/yaml"}
GROW_AFTER = 0.3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """One worker kept, up to three; twenty runs of one pipeline may wait for them."""
    return settings.model_copy(
        update={"run_workers": 1, "max_run_workers": 3, "grow_workers_after": GROW_AFTER, "max_concurrent_runs": 32}
    )


async def test_short_runs_arriving_together_share_the_one_worker(app: FastAPI, aclient: httpx.AsyncClient) -> None:
    answer = await aclient.put("/pipelines/quick", content=counter_yaml("growth-quick"), headers=YAML)
    assert answer.status_code == 201, answer.text
    # Twenty at once: each finds the worker busy, and each is done well before a new worker would be started.
    answers = await asyncio.gather(
        *(aclient.post("/pipelines/quick/run", json={"data": {"text": str(n)}}) for n in range(20))
    )
    assert [a.status_code for a in answers] == [200] * 20
    assert sorted(a.json()["result"]["counter"]["text"] for a in answers) == sorted(str(n) for n in range(20))
    assert yard(app).pool.size == 1


async def test_a_run_that_waits_past_the_delay_gets_a_worker_of_its_own(
    app: FastAPI, aclient: httpx.AsyncClient
) -> None:
    for name, yaml in (("slow", gate_yaml("growth", "slow")), ("quick", counter_yaml("growth-waits"))):
        answer = await aclient.put(f"/pipelines/{name}", content=yaml, headers=YAML)
        assert answer.status_code == 201, answer.text
    entered, release = GATES["growth"]
    slow = asyncio.create_task(aclient.post("/pipelines/slow/run", json={"data": {"text": "t"}}))
    try:
        await until(entered.is_set, "the slow run holds the only worker")
        sent = time.monotonic()
        quick = await aclient.post("/pipelines/quick/run", json={"data": {"text": "q"}})
        # Answered while the slow run still holds the first worker: a second one was started for it, after the wait.
        assert quick.status_code == 200, quick.text
        assert time.monotonic() - sent >= GROW_AFTER
        assert not slow.done()
        assert yard(app).pool.size == 2
    finally:
        release.set()
    assert (await slow).status_code == 200
