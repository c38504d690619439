"""Work on a live revision: the lease is given back on every path, so a retired revision is always closed."""

from __future__ import annotations

import anyio
import httpx
from fastapi import FastAPI

from stackyard.api.running import use_live
from stackyard.registry import LiveRevision
from tests.conftest import yard
from tests.documents import QUERY, on_index

YAML = {"Content-Type": "application/yaml"}


async def test_a_lease_is_released_when_the_caller_is_cancelled_before_the_worker_thread_starts(
    app: FastAPI, aclient: httpx.AsyncClient
) -> None:
    answer = await aclient.put("/pipelines/query", content=on_index(QUERY, "leases"), headers=YAML)
    assert answer.status_code == 201, answer.text
    registry = yard(app).registry
    started: list[LiveRevision] = []

    with anyio.CancelScope() as scope:
        scope.cancel()  # as a run timeout does while the run waits for a worker thread
        await use_live(registry, "query", started.append)

    live = registry.get("query")
    assert live is not None
    assert started == []
    assert live.inflight == 0
