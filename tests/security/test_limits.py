"""Runtime limits: body sizes, the run timeout, per-pipeline concurrency with a bounded queue, CORS off by default."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from stackyard.api import create_app
from stackyard.settings import Settings
from tests.components import GATES
from tests.conftest import yard
from tests.waiting import wait_until
from tests.yamls import gate_yaml, prompt_yaml

YAML = {"Content-Type": "application/yaml"}


def settings_for(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(store_url=f"sqlite:///{tmp_path}/yard.db", extra_allowed_modules=["tests.components"], **overrides)  # type: ignore[arg-type]


@pytest.fixture
def small(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(tmp_path, max_body_bytes=2000))) as client:
        yield client


def test_a_body_over_the_limit_is_413_by_content_length(small: TestClient) -> None:
    answer = small.post("/pipelines/x/run", json={"data": {"name": "x" * 5000}})
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"


def test_a_streamed_body_over_the_limit_is_413(small: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"data": {"name": "'
        for _ in range(10):
            yield b"x" * 500
        yield b'"}}'

    answer = small.post("/pipelines/x/run", content=chunks(), headers={"Content-Type": "application/json"})
    assert answer.status_code == 413


def test_a_body_under_the_limit_passes(small: TestClient) -> None:
    assert small.put("/pipelines/greet", content=prompt_yaml(), headers=YAML).status_code == 201
    assert small.post("/pipelines/greet/run", json={"data": {"name": "x" * 100}}).status_code == 200


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings_for(tmp_path, max_concurrent_runs=1, max_queued_runs=1, run_timeout=0.5))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://stackyard") as client:
            yield client


async def test_a_run_over_the_timeout_is_504_and_the_server_keeps_serving(limited: httpx.AsyncClient) -> None:
    entered, release = GATES["timeout"]
    await limited.put("/pipelines/slow", content=gate_yaml("timeout", "late"), headers=YAML)
    try:
        answer = await limited.post("/pipelines/slow/run", json={"data": {"text": "t"}})
        assert answer.status_code == 504
        assert answer.json()["type"].endswith("/run-timeout")
        assert entered.is_set()
    finally:
        release.set()
    await limited.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    assert (await limited.post("/pipelines/greet/run", json={"data": {"name": "x"}})).status_code == 200


async def test_runs_beyond_concurrency_and_queue_get_429_with_retry_after(limited: httpx.AsyncClient) -> None:
    entered, release = GATES["busy"]
    await limited.put("/pipelines/busy", content=gate_yaml("busy", "done"), headers=YAML)
    running = asyncio.create_task(limited.post("/pipelines/busy/run", json={"data": {"text": "1"}}))
    assert await anyio.to_thread.run_sync(entered.wait, 10)
    queued = asyncio.create_task(limited.post("/pipelines/busy/run", json={"data": {"text": "2"}}))
    # Wait until the second request is observably queued (the gate's own counter), then send the third.
    while not queued.done() and not _waiting(limited):  # noqa: ASYNC110 - the condition lives in the app, no event
        await asyncio.sleep(0.01)
    refused = await limited.post("/pipelines/busy/run", json={"data": {"text": "3"}})
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    release.set()
    assert (await running).status_code == 200
    assert (await queued).status_code == 200


def _waiting(client: httpx.AsyncClient) -> bool:
    transport = client._transport  # the ASGI app behind the client, to read its run gates
    app = transport.app  # type: ignore[attr-defined]
    gates = yard(app).leases.gates._gates
    return "busy" in gates and gates["busy"].waiting >= 1


def test_cors_is_off_by_default_and_on_for_configured_origins(tmp_path: Path) -> None:
    origin = {"Origin": "https://app.example"}
    with TestClient(create_app(settings_for(tmp_path))) as client:
        assert "access-control-allow-origin" not in client.get("/pipelines", headers=origin).headers
    with TestClient(create_app(settings_for(tmp_path, cors_origins=["https://app.example"]))) as client:
        answer = client.get("/pipelines", headers=origin)
        assert answer.headers["access-control-allow-origin"] == "https://app.example"
        other = client.get("/pipelines", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_run_limits_hold_again_when_the_same_app_starts_a_second_time(tmp_path: Path) -> None:
    # The gates belong to the event loop that serves: an app started again (embedded, or in tests) gets new ones.
    app = create_app(settings_for(tmp_path, max_concurrent_runs=1, max_queued_runs=1))
    for start in ("first", "second"):
        with TestClient(app) as client:
            key = f"restart-{start}"
            client.put("/pipelines/slow", content=gate_yaml(key, start), headers=YAML)
            assert _two_runs_one_waiting(app, client, key) == [200, 200]


def _two_runs_one_waiting(app: FastAPI, client: TestClient, key: str) -> list[int]:
    """The statuses of two runs of `slow`, the second sent while the first holds the only slot."""
    entered, release = GATES[key]
    with ThreadPoolExecutor(2) as pool:
        running = pool.submit(client.post, "/pipelines/slow/run", json={"data": {"text": "1"}})
        assert entered.wait(10)
        queued = pool.submit(client.post, "/pipelines/slow/run", json={"data": {"text": "2"}})
        gates = yard(app).leases.gates._gates
        wait_until(lambda: gates["slow"].waiting >= 1, "the second run waits for the slot")
        release.set()
        return [running.result(timeout=30).status_code, queued.result(timeout=30).status_code]


def test_creating_past_the_pipeline_cap_is_409_and_stores_nothing(tmp_path: Path) -> None:
    with TestClient(create_app(settings_for(tmp_path, max_pipelines=2))) as client:
        for name in ("a", "b"):
            assert client.put(f"/pipelines/{name}", content=prompt_yaml(), headers=YAML).status_code == 201
        refused = client.put("/pipelines/c", content=prompt_yaml(), headers=YAML)
        assert refused.status_code == 409, refused.text
        assert refused.json()["type"].endswith("/too-many-pipelines")
        assert client.get("/pipelines/c").status_code == 404
        assert client.post("/pipelines/c/run", json={"data": {"name": "x"}}).status_code == 404
        # Updates are not refused, and a delete makes room.
        assert client.put("/pipelines/a", content=prompt_yaml("Hi {{ name }}"), headers=YAML).status_code == 200
        assert client.delete("/pipelines/b").status_code in (200, 204)
        assert client.put("/pipelines/c", content=prompt_yaml(), headers=YAML).status_code == 201


@pytest.mark.parametrize(
    "labels",
    [
        {f"k{i}": "v" for i in range(65)},  # too many
        {"k" * 64: "v"},  # key too long
        {"": "v"},  # empty key
        {"k": "v" * 257},  # value too long
    ],
    ids=["count", "key-length", "empty-key", "value-length"],
)
def test_labels_past_their_bounds_are_422_and_change_nothing(client: TestClient, labels: dict[str, str]) -> None:
    assert client.put("/pipelines/a", content=prompt_yaml(), headers=YAML).status_code == 201
    body = {"yaml": prompt_yaml(), "labels": labels}
    put = client.put("/pipelines/a", json=body)
    assert put.status_code == 422, put.text
    patch = client.patch("/pipelines/a", json={"labels": labels})
    assert patch.status_code == 422, patch.text
    created = client.put("/pipelines/b", json=body)
    assert created.status_code == 422
    assert client.get("/pipelines/a").json()["revision"] == 1
    assert client.get("/pipelines/a").json()["labels"] == {}
    assert client.get("/pipelines/b").status_code == 404


def test_labels_at_their_bounds_are_kept(client: TestClient) -> None:
    labels = {f"{i:02d}" + "k" * 61: "v" * 256 for i in range(64)}
    answer = client.put("/pipelines/a", json={"yaml": prompt_yaml(), "labels": labels})
    assert answer.status_code == 201, answer.text
    assert client.get("/pipelines/a").json()["labels"] == labels


def _nested(depth: int, leaf: str = "{}") -> str:
    return '{"a":' * depth + leaf + "}" * depth


def _deep_filter(depth: int) -> dict[str, object]:
    condition: dict[str, object] = {"field": "meta.a", "operator": "==", "value": 1}
    for _ in range(depth):
        condition = {"operator": "AND", "conditions": [condition]}
    return condition


def test_json_nested_a_thousand_deep_is_400_not_a_traceback(client: TestClient) -> None:
    json_body = {"Content-Type": "application/json"}
    labels = client.put("/pipelines/a", content='{"yaml": "x", "labels": ' + _nested(1000) + "}", headers=json_body)
    assert labels.status_code == 400, labels.text
    assert "nests" in labels.json()["detail"] or "JSON" in labels.json()["detail"]
    run = client.post("/pipelines/a/run", content='{"data": ' + _nested(1000) + "}", headers=json_body)
    assert run.status_code == 400, run.text
    assert client.get("/pipelines/a").status_code == 404


def test_a_filter_three_hundred_deep_is_400_on_every_route_that_takes_filters(client: TestClient) -> None:
    from tests.documents import QUERY, on_index

    assert client.put("/pipelines/query", content=on_index(QUERY, "deep"), headers=YAML).status_code == 201
    deep = _deep_filter(300)
    for path in ("/pipelines/query/documents/search", "/pipelines/query/documents/count"):
        answer = client.post(path, json={"filters": deep})
        assert answer.status_code == 400, (path, answer.text)
    deleted = client.post("/pipelines/query/documents/delete", json={"filters": deep})
    assert deleted.status_code == 400, deleted.text
    run = client.post("/pipelines/query/run", json={"data": {"query": "x", "filters": deep}})
    assert run.status_code == 400, run.text
    legacy = client.post("/documents/get_by_filters", json={"filters": deep})
    assert legacy.status_code == 400, legacy.text
    # The pipeline serves on.
    assert client.post("/pipelines/query/run", json={"data": {"query": "x"}}).status_code == 200


def test_a_number_beyond_64_bits_is_422_and_the_pipeline_serves_on(client: TestClient) -> None:
    assert client.put("/pipelines/a", content=prompt_yaml(), headers=YAML).status_code == 201
    answer = client.post("/pipelines/a/run", content='{"data": {"name": "Ada", "n": ' + str(2**70) + "}}")
    assert answer.status_code == 422, answer.text
    assert "64 bits" in answer.json()["detail"]
    assert client.post("/pipelines/a/run", json={"data": {"name": "Ada"}}).status_code == 200


def test_the_input_size_limit_holds_on_every_way_a_string_reaches_the_pipeline(client: TestClient) -> None:
    from tests.conftest import REPO
    from tests.documents import on_index

    example = on_index((REPO / "examples/pipelines/query.yml").read_text(), "limits")
    assert client.put("/pipelines/query", content=example, headers=YAML).status_code == 201
    long = "q" * 10_001  # the example's metadata.serving.max_input_chars is 10,000
    tries = {
        "flat input": client.post("/pipelines/query/run", json={"data": {"query": long}}),
        "per component": client.post("/pipelines/query/run", json={"data": {"prompt": {"query": long}}}),
        "nested in a value": client.post(
            "/pipelines/query/run", json={"data": {"query": "q", "filters": {"field": "meta.a", "value": [long]}}}
        ),
        "streamed": client.post("/pipelines/query/run", json={"data": {"query": long}, "stream": True}),
        "the 1.x route": client.post("/query", json={"query": long}),
    }
    for way, answer in tries.items():
        assert answer.status_code == 422, (way, answer.text)
        assert answer.json().get("rule") == "max-input-chars", (way, answer.text)
    assert client.post("/pipelines/query/run", json={"data": {"query": "q" * 10_000}}).status_code == 200
