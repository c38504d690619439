"""Replicas and rollouts through the real app: what each replica reports, and `?wait=all` on changes."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.testclient import TestClient

from stackyard.store import LoadedPipeline, ReplicaRecord
from tests.conftest import yard
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
