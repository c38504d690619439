"""Shared fixtures: settings on a temporary SQLite file, the real app with its lifespan, and clients for it."""

from __future__ import annotations

import json
import os
import tempfile

os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "false"  # before anything imports Haystack
# Where test components signal across processes (tests/components.py): one fresh folder per test process, set
# before any worker process starts, so workers and server processes started from here inherit it.
os.environ["STACKYARD_TEST_SIGNALS"] = tempfile.mkdtemp(prefix="stackyard-signals-")
# Component code sees only the variables it is given and writes only where it may: the test components are given
# that folder, as an operator would pass a variable and a folder of their own.
os.environ["STACKYARD_WORKER_ENVIRONMENT"] = "STACKYARD_TEST_SIGNALS"
os.environ["STACKYARD_WRITABLE_DIRS"] = os.environ["STACKYARD_TEST_SIGNALS"]

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from stackyard.api import create_app
from stackyard.api.dependencies import AppState
from stackyard.settings import Settings
from stackyard.wire.jobs import Export

REPO = Path(__file__).resolve().parent.parent
T = TypeVar("T")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(store_url=f"sqlite:///{tmp_path}/yard.db", extra_allowed_modules=["tests.components"])


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
async def aclient(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An async client on the same event loop as the app, for concurrency tests."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://stackyard") as async_client:
            yield async_client


def as_httpx(client: TestClient) -> httpx.Client:
    """Starlette's TestClient is an `httpx2.Client`, with httpx's interface: the Stackyard client can drive it."""
    return cast(httpx.Client, client)


def yard(app: FastAPI) -> AppState:
    state: AppState = app.state.stackyard
    return state


def exported(client: TestClient, app: FastAPI, name: str) -> dict[str, Any]:
    """The live build of `name` as Haystack serializes it (`Pipeline.to_dict()`), from the cell that holds it."""
    state = yard(app)
    portal = client.portal
    assert portal is not None, "use the client as a context manager"
    _live, answer = portal.call(state.leases.use, name, Export())
    exported_dict: dict[str, Any] = json.loads(answer)
    return exported_dict
