"""`GET /metrics` through the real app: exact counts after known runs, failures and changes."""

from __future__ import annotations

import asyncio

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient

from stackyard.errors import InvalidRunInput, PipelineUnavailable, RunFailed, StackyardError
from stackyard.observability.metrics import RunOutcome, run_outcome
from tests.components import GATES
from tests.metrics_text import sample
from tests.waiting import wait_until
from tests.yamls import BM25, EXPLODE, gate_yaml, prompt_yaml

YAML = {"Content-Type": "application/yaml"}


def scrape(client: TestClient) -> str:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    return answer.text


def test_runs_are_counted_by_pipeline_revision_and_outcome(client: TestClient) -> None:
    assert client.put("/pipelines/greet", content=prompt_yaml("v1 {{ name }}"), headers=YAML).status_code == 201
    for _ in range(3):
        assert client.post("/pipelines/greet/run", json={"data": {"name": "a"}}).status_code == 200
    assert client.post("/pipelines/greet/run", json={"data": {}}).status_code == 422
    assert client.put("/pipelines/greet", content=prompt_yaml("v2 {{ name }}"), headers=YAML).status_code == 200
    for _ in range(2):
        assert client.post("/pipelines/greet/run", json={"data": {"name": "a"}}).status_code == 200
    assert client.put("/pipelines/boom", content=EXPLODE, headers=YAML).status_code == 201
    assert client.post("/pipelines/boom/run", json={"data": {"text": "x"}}).status_code == 500
    assert client.post("/pipelines/nowhere/run", json={"data": {}}).status_code == 404

    text = scrape(client)
    runs = "stackyard_runs_total"
    assert sample(text, runs, pipeline="greet", revision="1", outcome="ok") == 3
    assert sample(text, runs, pipeline="greet", revision="1", outcome="client_error") == 1
    assert sample(text, runs, pipeline="greet", revision="2", outcome="ok") == 2
    assert sample(text, runs, pipeline="greet", revision="2", outcome="client_error") is None
    assert sample(text, runs, pipeline="boom", revision="1", outcome="failed") == 1
    # A run of an unknown pipeline is not a series: names that do not exist never become labels.
    assert "nowhere" not in text
    duration = "stackyard_run_duration_seconds_count"
    assert sample(text, duration, pipeline="greet", revision="1") == 4
    assert sample(text, duration, pipeline="greet", revision="2") == 2
    assert sample(text, "stackyard_runs_in_flight", pipeline="greet") == 0
    assert sample(text, "stackyard_component_failures_total", pipeline="boom", component="boom") == 1


def test_each_component_has_its_own_timings(client: TestClient) -> None:
    client.put("/pipelines/search", content=BM25, headers=YAML)
    for _ in range(4):
        assert client.post("/pipelines/search/run", json={"data": {"query": "q"}}).status_code == 200

    text = scrape(client)
    for component in ("retriever", "prompt"):
        count = sample(text, "stackyard_component_duration_seconds_count", pipeline="search", component=component)
        total = sample(text, "stackyard_component_duration_seconds_sum", pipeline="search", component=component)
        assert count == 4
        assert total is not None
        assert total > 0


def test_changes_are_counted_by_action_and_outcome(client: TestClient) -> None:
    assert client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML).status_code == 201
    assert client.put("/pipelines/greet", content=prompt_yaml("Hi {{ name }}"), headers=YAML).status_code == 200
    assert client.put("/pipelines/greet", content=prompt_yaml("Hi {{ name }}"), headers=YAML).status_code == 200
    assert client.put("/pipelines/greet", content="components: [", headers=YAML).status_code == 422
    assert client.put("/pipelines/other", content="components: [", headers=YAML).status_code == 422
    assert client.delete("/pipelines/greet").status_code == 204
    assert client.delete("/pipelines/greet").status_code == 404

    text = scrape(client)
    expected = {
        ("deploy", "applied"): 1,
        ("update", "applied"): 1,
        ("update", "unchanged"): 1,
        ("update", "refused"): 1,
        ("deploy", "refused"): 1,
        ("delete", "applied"): 1,
        ("delete", "refused"): 1,
        ("rollback", "applied"): None,
    }
    for (action, outcome), count in expected.items():
        assert sample(text, "stackyard_changes_total", action=action, outcome=outcome) == count, (action, outcome)
    # Two builds worked (the unchanged PUT built nothing); the two broken definitions were refused while parsing.
    assert sample(text, "stackyard_build_duration_seconds_count", outcome="ok") == 2
    assert sample(text, "stackyard_build_duration_seconds_count", outcome="refused") == 2


def test_live_revision_and_generation_follow_the_store(client: TestClient) -> None:
    client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    client.put("/pipelines/greet", content=prompt_yaml("Hi {{ name }}"), headers=YAML)
    client.put("/pipelines/gone", content=prompt_yaml(), headers=YAML)
    generation = int(client.delete("/pipelines/gone").headers["X-Stackyard-Generation"])

    wait_until(
        lambda: client.get("/status").json()["store"]["applied_generation"] >= generation,
        "the sync loop applied the last change",
    )
    text = scrape(client)
    assert sample(text, "stackyard_pipeline_live_revision", pipeline="greet") == 2
    assert sample(text, "stackyard_pipeline_live_revision", pipeline="gone") is None
    assert sample(text, "stackyard_store_generation_applied") == generation


async def test_a_run_in_progress_is_in_flight(aclient: httpx.AsyncClient) -> None:
    entered, release = GATES["inflight"]
    await aclient.put("/pipelines/slow", content=gate_yaml("inflight", "done"), headers=YAML)
    running = asyncio.create_task(aclient.post("/pipelines/slow/run", json={"data": {"text": "x"}}))
    try:
        assert await anyio.to_thread.run_sync(entered.wait, 10)
        during = (await aclient.get("/metrics")).text
        assert sample(during, "stackyard_runs_in_flight", pipeline="slow") == 1
        assert sample(during, "stackyard_runs_total", pipeline="slow", revision="1", outcome="ok") is None
    finally:
        release.set()
    assert (await running).status_code == 200
    after = (await aclient.get("/metrics")).text
    assert sample(after, "stackyard_runs_in_flight", pipeline="slow") == 0
    assert sample(after, "stackyard_runs_total", pipeline="slow", revision="1", outcome="ok") == 1


class _Timeout(StackyardError):
    status = 504


class _Overloaded(StackyardError):
    status = 429


class _NamedOutcome(StackyardError):
    status = 503
    run_outcome = RunOutcome.TIMEOUT


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (None, RunOutcome.OK),
        (InvalidRunInput("bad"), RunOutcome.CLIENT_ERROR),
        (RunFailed("broke"), RunOutcome.FAILED),
        (RuntimeError("bug"), RunOutcome.FAILED),
        (_Timeout("slow"), RunOutcome.TIMEOUT),
        (_Overloaded("busy"), RunOutcome.REJECTED),
        (PipelineUnavailable("not here"), RunOutcome.REJECTED),
        (_NamedOutcome("named"), RunOutcome.TIMEOUT),
    ],
)
def test_run_outcome_of_each_kind_of_ending(error: BaseException | None, outcome: RunOutcome) -> None:
    assert run_outcome(error) is outcome
