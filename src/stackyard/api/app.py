"""`create_app(settings)`: the FastAPI application and the lifespan that makes and closes its resources."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI

from stackyard import __version__
from stackyard.api import health, pipelines, replicas, runs
from stackyard.api.problems import install_problem_handlers
from stackyard.api.state import AppState
from stackyard.management import Manager
from stackyard.registry import Registry
from stackyard.replicas import Replica
from stackyard.seed import seed
from stackyard.settings import Settings
from stackyard.store import ChangeNotifier, open_store
from stackyard.sync import Synchronizer, poll_interval

DESCRIPTION = """
Stackyard hosts many Haystack pipelines behind one API and lets you add, update, roll back and remove them
while it runs. Every change is built and warmed up before it is stored and swapped in; runs in flight finish
on the revision they started on. Errors are RFC 9457 problem+json.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application. Nothing is opened until the lifespan starts.

    Example:
        >>> app = create_app(Settings(store_url="sqlite:///yard.db"))
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = open_store(settings.store_url)
        await anyio.to_thread.run_sync(store.open)
        registry = Registry()
        manager = Manager(store=store, registry=registry, settings=settings)
        sync = Synchronizer(manager)
        replica = Replica(settings, store, registry, sync)
        app.state.stackyard = AppState(settings, store, registry, manager, sync)
        try:
            await replica.join()  # before the first sync: a change committed meanwhile waits for this replica too
            await seed(manager, settings.start_up_files(), settings.seed_mode)
            # Converge once before accepting requests, so a started server serves everything stored.
            await sync.converge()
            # A plain task, not a task group: the lifespan may be entered and exited from different tasks.
            interval = poll_interval(settings.sync_interval, store.kind)
            poller = asyncio.create_task(sync.run_forever(interval), name="stackyard-sync")
            if isinstance(store, ChangeNotifier):  # pushed changes wake the sync; the poll catches what was missed
                store.watch(sync.wake_from_thread(asyncio.get_running_loop()))
            replica.start()
            try:
                yield
            finally:
                await replica.stop()
                poller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
        finally:
            await registry.aclose()
            await anyio.to_thread.run_sync(store.close)

    app = FastAPI(
        title="Stackyard",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    app.include_router(health.router)
    app.include_router(pipelines.router)
    app.include_router(runs.router)
    app.include_router(replicas.router)
    return app


def create_app_from_environment() -> FastAPI:
    """The factory `stackyard serve` hands to uvicorn: settings come from `STACKYARD_*` variables."""
    from stackyard.logs import configure_logging

    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings)
