"""Replicas and rollouts through the real app: what each replica reports, and `?wait=all` on changes."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from stackyard.api import create_app
from stackyard.settings import Settings
from stackyard.store import LoadedPipeline, ReplicaRecord
from tests.conftest import yard
from tests.waiting import until
from tests.yamls import prompt_yaml

YAML = {"Content-Type": "application/yaml"}


def other_replica(app: FastAPI, generation: int, pipelines: dict[str, LoadedPipeline]) -> None:
    """A second replica's heartbeat, written to the store as another process would."""
    yard(app).store.beat(ReplicaRecord("other", "host-b", 4242, datetime.now(UTC), generation, pipelines))


def test_this_process_lists_itself_with_what_it_serves(client: TestClient, app: FastAPI) -> None:
    answer = client.put("/pipelines/greet?wait=all", content=prompt_yaml(), headers=YAML)
    assert answer.status_code == 201
    listed = client.get("/replicas").json()
    assert listed["generation"] == 1
    [me] = listed["replicas"]
    assert (me["id"], me["this"], me["generation"]) == (yard(app).settings.replica_id, True, 1)
    assert me["pipelines"] == {"greet": {"live_revision": 1, "failed_revision": None, "error": None}}


def test_wait_all_answers_once_every_replica_applied_the_change(client: TestClient) -> None:
    answer = client.put("/pipelines/greet?wait=all&timeout=10", content=prompt_yaml(), headers=YAML)
    assert answer.status_code == 201
    assert answer.headers["X-Stackyard-Generation"] == "1"
    rollout = client.get("/pipelines/greet/rollout").json()
    assert rollout["complete"] is True
    assert [(r["state"], r["live_revision"]) for r in rollout["replicas"]] == [("serving", 1)]


def test_wait_all_answers_202_with_the_rollout_when_a_replica_lags(client: TestClient, app: FastAPI) -> None:
    assert client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML).status_code == 201
    other_replica(app, 1, {"greet": LoadedPipeline(1)})
    answer = client.put("/pipelines/greet?wait=all&timeout=0.2", content=prompt_yaml("Hi {{ name }}"), headers=YAML)
    assert answer.status_code == 202
    assert answer.headers["X-Stackyard-Generation"] == "2"
    body = answer.json()
    assert (body["pipeline"], body["revision"], body["generation"], body["complete"]) == ("greet", 2, 2, False)
    lagging = next(r for r in body["replicas"] if r["id"] == "other")
    assert (lagging["applied"], lagging["state"], lagging["live_revision"]) == (False, "pending", 1)
    # The change itself was made: the answering replica serves it.
    assert client.post("/pipelines/greet/run", json={"data": {"name": "Ada"}}).json()["revision"] == 2


def test_a_replica_that_failed_to_build_shows_degraded_with_its_error(client: TestClient, app: FastAPI) -> None:
    assert client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML).status_code == 201
    answer = client.put("/pipelines/greet?wait=all", content=prompt_yaml("Hi {{ name }}"), headers=YAML)
    assert answer.status_code == 200
    other_replica(app, 2, {"greet": LoadedPipeline(1, 2, "OPENAI_API_KEY is not set")})
    rollout = client.get("/pipelines/greet/rollout").json()
    states = {r["id"]: (r["state"], r["live_revision"], r["error"]) for r in rollout["replicas"]}
    assert states["other"] == ("degraded", 1, "OPENAI_API_KEY is not set")
    assert rollout["complete"] is True  # it applied the generation: it serves revision 1 and says why


def test_delete_with_wait_all_answers_204_once_applied(client: TestClient) -> None:
    assert client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML).status_code == 201
    answer = client.delete("/pipelines/greet?wait=all")
    assert answer.status_code == 204
    assert client.post("/pipelines/greet/run", json={"data": {"name": "Ada"}}).status_code == 404
    assert client.get("/pipelines/greet/rollout").status_code == 404


def test_a_malformed_wait_is_refused_before_anything_changes(client: TestClient) -> None:
    for query in ("wait=some", "wait=all&timeout=soon", "wait=all&timeout=-1", "wait=all&timeout=9999"):
        answer = client.put(f"/pipelines/greet?{query}", content=prompt_yaml(), headers=YAML)
        assert answer.status_code == 400, query
        assert answer.headers["content-type"] == "application/problem+json"
    assert client.get("/pipelines").json()["pipelines"] == []


@pytest.fixture
def quick(tmp_path: Path) -> Settings:
    """Replicas silent for 0.5 s are no longer listed; this process beats every 0.1 s so it stays listed."""
    return Settings(store_url=f"sqlite:///{tmp_path}/yard.db", replica_timeout=0.5, heartbeat_interval=0.1)


def test_wait_all_keeps_waiting_for_a_replica_that_falls_silent_and_names_it(quick: Settings) -> None:
    with TestClient(create_app(quick)) as client:
        app = client.app
        assert isinstance(app, FastAPI)
        assert client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML).status_code == 201
        other_replica(app, 1, {"greet": LoadedPipeline(1)})  # its last heartbeat: it lost the store after this
        answer = client.put("/pipelines/greet?wait=all&timeout=1.5", content=prompt_yaml("Hi {{ name }}"), headers=YAML)
        assert answer.status_code == 202, answer.text
        rows = {row["id"]: row for row in answer.json()["replicas"]}
        assert (rows["other"]["silent"], rows["other"]["applied"], rows["other"]["live_revision"]) == (True, False, 1)
        me = rows[yard(app).settings.replica_id]
        assert (me["silent"], me["applied"]) == (False, True)
        # No longer listed, as before: a new wait does not include it.
        assert [r["id"] for r in client.get("/replicas").json()["replicas"]] == [yard(app).settings.replica_id]


async def test_wait_all_stops_waiting_for_a_replica_that_unregisters(app: FastAPI, aclient: httpx.AsyncClient) -> None:
    assert (await aclient.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)).status_code == 201
    other_replica(app, 1, {"greet": LoadedPipeline(1)})
    started = time.monotonic()
    change = asyncio.create_task(
        aclient.put("/pipelines/greet?wait=all&timeout=20", content=prompt_yaml("Hi {{ name }}"), headers=YAML)
    )
    store = yard(app).store
    await until(lambda: store.generation() == 2, "the change is committed")
    await anyio.to_thread.run_sync(store.leave, "other")  # a clean shutdown: it serves nothing any more
    answer = await change
    assert answer.status_code == 200
    assert time.monotonic() - started < 10
