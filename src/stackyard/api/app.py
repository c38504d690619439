"""`create_app(settings)`: the FastAPI application and the lifespan that makes and closes its resources."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
from fastapi import FastAPI

from stackyard import __version__
from stackyard.api import health, observability, pipelines, runs
from stackyard.api.access import RequestLogMiddleware
from stackyard.api.problems import install_problem_handlers
from stackyard.api.state import AppState
from stackyard.management import Manager
from stackyard.observability import Observability
from stackyard.registry import Registry
from stackyard.seed import seed
from stackyard.settings import Settings
from stackyard.store import open_store
from stackyard.sync import Synchronizer

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

DESCRIPTION = """
Stackyard hosts many Haystack pipelines behind one API and lets you add, update, roll back and remove them
while it runs. Every change is built and warmed up before it is stored and swapped in; runs in flight finish
on the revision they started on. Errors are RFC 9457 problem+json.
"""


def create_app(settings: Settings | None = None, *, tracer_provider: TracerProvider | None = None) -> FastAPI:
    """Build the application. Nothing is opened until the lifespan starts.

    `tracer_provider` (an OpenTelemetry SDK provider) turns tracing on with spans going there, whatever the settings.

    Example:
        >>> app = create_app(Settings(store_url="sqlite:///yard.db"))
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = open_store(settings.store_url)
        await anyio.to_thread.run_sync(store.open)
        registry = Registry()
        watch = Observability.start(settings, tracer_provider)
        manager = Manager(store=store, registry=registry, settings=settings, metrics=watch.metrics)
        sync = Synchronizer(manager)
        app.state.stackyard = AppState(settings, store, registry, manager, sync, watch)
        try:
            await seed(manager, settings.start_up_files(), settings.seed_mode)
            # Converge once before accepting requests, so a started server serves everything stored.
            await sync.converge()
            # A plain task, not a task group: the lifespan may be entered and exited from different tasks.
            poller = asyncio.create_task(sync.run_forever(settings.sync_interval), name="stackyard-sync")
            gauges = asyncio.create_task(watch.publish_forever(registry, sync, settings.sync_interval))
            try:
                yield
            finally:
                poller.cancel()
                gauges.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
                with contextlib.suppress(asyncio.CancelledError):
                    await gauges
        finally:
            await registry.aclose()
            await anyio.to_thread.run_sync(store.close)
            watch.close()

    app = FastAPI(
        title="Stackyard",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    app.add_middleware(RequestLogMiddleware)
    app.include_router(health.router)
    app.include_router(observability.router)
    app.include_router(pipelines.router)
    app.include_router(runs.router)
    return app


def create_app_from_environment() -> FastAPI:
    """The factory `stackyard serve` hands to uvicorn: settings come from `STACKYARD_*` variables."""
    from stackyard.logs import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)
