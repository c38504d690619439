"""The update path and the run path go one way, through few rooms: the walks that docs/architecture.md tells."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from stackyard.api import create_app
from stackyard.settings import Settings
from tests.conftest import yard
from tests.waiting import until
from tests.walks import Walk, walk
from tests.yamls import prompt_yaml

YAML = {"Content-Type": "application/yaml"}


async def _walks(tmp_path: Path) -> tuple[Walk, Walk]:
    # No background work during the walks: the sync and the heartbeat wait an hour between ticks.
    settings = Settings(store_url=f"sqlite:///{tmp_path}/yard.db", sync_interval=3600, heartbeat_interval=3600)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://stackyard") as client:
            await client.get("/healthz")  # the middleware stack is built on the first request
            state = yard(app)  # the first sync tick and heartbeat run now, not during a walk
            await until(lambda: state.sync.ready.is_set() and bool(state.store.replicas(60)), "background work rests")
            put = await walk(lambda: client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML))
            run = await walk(lambda: client.post("/pipelines/greet/run", json={"data": {"name": "Ada"}}))
    return put, run


def test_a_put_stops_in_at_most_16_files_and_never_goes_back_and_forth(tmp_path: Path) -> None:
    put, _ = asyncio.run(_walks(tmp_path))
    assert "changes/manager.py" in put.files
    assert "store/relational.py" in put.files
    assert len(put.files) <= 16, put.describe()
    assert put.back_and_forth() == [], put.describe()


def test_a_run_stops_in_at_most_12_files_never_touches_the_store_nor_goes_back_and_forth(tmp_path: Path) -> None:
    _, run = asyncio.run(_walks(tmp_path))
    assert "serving/cell_pool.py" in run.files  # the pipeline itself runs in a cell, beyond this walk
    assert len(run.files) <= 12, run.describe()
    assert run.back_and_forth() == [], run.describe()
    assert not any(file.startswith("store/") for file in run.touched)
