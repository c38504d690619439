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
