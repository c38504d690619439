"""Replacing a pipeline while it serves: no failed request, no revision from the future, old runs finish on old."""

from __future__ import annotations

import asyncio

import anyio
import anyio.lowlevel
import httpx
from fastapi import FastAPI

from stackyard.wire.build_info import key_of
from tests.components import CLOSED, GATES
from tests.conftest import yard
from tests.waiting import until
from tests.yamls import gate_yaml, prompt_yaml

YAML = {"Content-Type": "application/yaml"}
CLIENTS = 8
REPLACEMENTS = 50


def revision_yaml(n: int) -> str:
    return prompt_yaml(f"v{n} {{{{ name }}}}")


async def test_fifty_replacements_under_eight_clients_fail_no_request(aclient: httpx.AsyncClient) -> None:
    assert (await aclient.put("/pipelines/hot", content=revision_yaml(1), headers=YAML)).status_code == 201
    committed = 1  # the highest revision whose PUT has answered
    started = 1  # the highest revision whose PUT has been sent
    done = anyio.Event()
    failures: list[str] = []
    seen: list[list[int]] = [[] for _ in range(CLIENTS)]

    async def run_until_done(index: int) -> None:
        while not done.is_set():
            answer = await aclient.post("/pipelines/hot/run", json={"data": {"name": "x"}})
            if answer.status_code != 200:
                failures.append(f"{answer.status_code} {answer.text}")
                continue
            body = answer.json()
            revision = body["revision"]
            # The output must come from the revision the answer names, and that revision must have been sent.
            if body["result"]["prompt"]["prompt"] != f"v{revision} x" or revision > started:
                failures.append(f"revision {revision} answered {body['result']} (sent up to {started})")
            seen[index].append(revision)

    async def replace() -> None:
        nonlocal committed, started
        for n in range(2, REPLACEMENTS + 2):
            started = n
            answer = await aclient.put("/pipelines/hot", content=revision_yaml(n), headers=YAML)
            assert answer.status_code == 200, answer.text
            assert answer.json()["revision"] == n
            committed = n
            await anyio.lowlevel.checkpoint()  # let the runners through between two updates
        done.set()

    async with anyio.create_task_group() as tasks:
        for index in range(CLIENTS):
            tasks.start_soon(run_until_done, index)
        tasks.start_soon(replace)

    assert failures == []
    assert committed == REPLACEMENTS + 1
    for revisions in seen:
        assert revisions, "every client got answers"
        assert revisions == sorted(revisions), "a client never goes back to an older revision"
    assert sum(len(r) for r in seen) >= CLIENTS


async def test_a_slow_run_started_before_an_update_finishes_on_the_old_revision(
    aclient: httpx.AsyncClient, app: FastAPI
) -> None:
    entered, release = GATES["slow"]
    _, fast_release = GATES["fast"]
    fast_release.set()
    await aclient.put("/pipelines/slow", content=gate_yaml("slow", "old"), headers=YAML)
    old_key = key_of(gate_yaml("slow", "old"))

    slow_run = asyncio.create_task(aclient.post("/pipelines/slow/run", json={"data": {"text": "first"}}))
    assert await anyio.to_thread.run_sync(entered.wait, 10)

    updated = await aclient.put("/pipelines/slow", content=gate_yaml("fast", "new"), headers=YAML)
    assert updated.json()["revision"] == 2
    during = await aclient.post("/pipelines/slow/run", json={"data": {"text": "second"}})
    assert (during.json()["revision"], during.json()["result"]) == (2, {"gate": {"text": "new: second"}})
    registry = yard(app).registry
    assert registry.holds(old_key), "the old build must not be let go while a run is on it"
    assert "slow/old" not in CLOSED

    release.set()
    first = await slow_run
    assert first.status_code == 200
    assert (first.json()["revision"], first.json()["result"]) == (1, {"gate": {"text": "old: first"}})
    assert not registry.holds(old_key)
    await until(lambda: "slow/old" in CLOSED, "the old revision is closed once its last run ended")


async def test_concurrent_updates_of_one_pipeline_are_applied_one_after_the_other(aclient: httpx.AsyncClient) -> None:
    await aclient.put("/pipelines/race", content=revision_yaml(0), headers=YAML)

    async def put(n: int) -> httpx.Response:
        return await aclient.put("/pipelines/race", content=revision_yaml(n), headers=YAML)

    answers = await asyncio.gather(*(put(n) for n in range(1, 11)))
    revisions = sorted(answer.json()["revision"] for answer in answers)
    assert revisions == list(range(2, 12))
    last = max(answers, key=lambda answer: answer.json()["revision"])
    final = await aclient.get("/pipelines/race")
    assert final.json()["yaml"] == last.json()["yaml"]
    run = await aclient.post("/pipelines/race/run", json={"data": {"name": "x"}})
    assert run.json()["revision"] == 11
