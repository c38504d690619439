"""`create_app(settings)`: the FastAPI application and the lifespan that makes and closes its resources."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stackyard import __version__
from stackyard.api import mcp_server
from stackyard.api.dependencies import AppState
from stackyard.api.middleware import run_lane
from stackyard.api.middleware.access_control import AccessControl, document_scopes, refuses_open_on_network
from stackyard.api.middleware.body_limit import BodyLimit
from stackyard.api.middleware.request_log import RequestLogMiddleware
from stackyard.api.problems import install_problem_handlers, problem_openapi
from stackyard.api.routes import (
    audit,
    console,
    docs,
    documents,
    feedback,
    files,
    health,
    history,
    identity,
    legacy,
    openai,
    pipelines,
    replicas,
    stats,
    status,
    updates,
    validate,
)
from stackyard.changes.heartbeat import Heartbeat
from stackyard.changes.manager import Manager
from stackyard.changes.seed import seed
from stackyard.changes.sync import Synchronizer, poll_interval
from stackyard.observability.logs import write_logs_directly
from stackyard.observability.process import Observability
from stackyard.serving.cell_pool import CellPool
from stackyard.serving.leases import Leases, RunLimits
from stackyard.serving.registry import Registry
from stackyard.settings import Settings
from stackyard.startup import StartupError, opened_store
from stackyard.store import ChangeNotifier
from stackyard.tokens import parse_token_line

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger(__name__)

DESCRIPTION = """
Stackyard hosts many Haystack pipelines behind one API and lets you add, update, roll back and remove them
while it runs. Every change is built and warmed up before it is stored and swapped in; runs in flight finish
on the revision they started on. Errors are RFC 9457 problem+json.

With tokens configured, each operation needs the bearer token scope named in its `x-required-scope` (`admin` holds
every scope; `none`: public; `any`: any valid token): `read` for pipelines, `run` for runs and feedback given,
`feedback` for feedback read.
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
        store = await anyio.to_thread.run_sync(opened_store, settings)
        watch = Observability.start(settings, tracer_provider)
        # Component code runs only in these cells: builds, warm-ups and runs alike.
        pool = CellPool.for_settings(settings)
        registry = Registry(forget=pool.forget)
        manager = Manager(store=store, registry=registry, settings=settings, pool=pool, metrics=watch.metrics)
        sync = Synchronizer(manager)
        replica = Heartbeat(watch.replica, settings, store, registry, sync)
        # Made here, not with the app: the gates' semaphores belong to the event loop that serves.
        gates = RunLimits(settings.max_concurrent_runs, settings.max_queued_runs)
        leases = Leases(registry, gates, pool, settings.run_timeout, watch.run_scopes, watch.replay)
        app.state.stackyard = AppState(settings, store, registry, manager, sync, watch, leases, pool)
        try:
            await pool.start()
            await replica.join()  # before the first sync: a change committed meanwhile waits for this replica too
            app.state.stackyard.ignored_files = await seed(manager, settings.start_up_files(), settings.seed_mode)
            # Converge once before accepting requests, so a started server serves everything stored.
            await sync.converge()
            # A plain task, not a task group: the lifespan may be entered and exited from different tasks.
            interval = poll_interval(settings.sync_interval, store.kind)
            poller = asyncio.create_task(sync.run_forever(interval), name="stackyard-sync")
            # The gauges need no sub-second freshness (scrapes come every few seconds); the poll may be faster.
            gauges = asyncio.create_task(watch.publish_forever(registry, sync, pool, max(interval, 1.0)))
            if isinstance(store, ChangeNotifier):  # pushed changes wake the sync; the poll catches what was missed
                store.watch(sync.wake_from_thread(asyncio.get_running_loop()))
            replica.start()
            try:
                async with mcp_server.ToolServer.serving(app):
                    yield
            finally:
                poller.cancel()
                gauges.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poller
                with contextlib.suppress(asyncio.CancelledError):
                    await gauges
        finally:
            # Also when seeding or the first sync failed: a replica that never served must not stay listed.
            await replica.stop()
            registry.close()
            await pool.close()
            await anyio.to_thread.run_sync(store.close)
            watch.close()
            log.info("replica stopped: pipelines and store closed", extra={"replica": settings.replica_id})
            # uvicorn ends a process stopped by a signal by raising that signal again once it is done, which skips
            # atexit: from here on, lines are written at once rather than queued for the writer thread.
            write_logs_directly()

    app = StackyardAPI(
        # Stackyard makes its own request spans (api/access.py, with Haystack's spans beneath and no payloads);
        # FastAPI's built-in OpenTelemetry would add a second set and cost every request a provider lookup.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        title="Stackyard",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # `docs.router` serves both pages with their assets from an installed package, not from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    install_problem_handlers(app)
    install_middleware(app, settings)
    install_routes(app)
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]  # FastAPI's documented override
    return app


def install_routes(app: FastAPI) -> None:
    """Every route, mounted once here: nothing is added or removed while the app runs."""
    for router in ROUTERS:
        app.include_router(router)
    app.router.routes.append(mcp_server.ROUTE)  # answered by the lifespan's `ToolServer`
    console.mount_console(app)
    docs.mount_docs_assets(app)


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, made once: errors as problem+json, and the scope each operation needs."""
    if app.openapi_schema is None:
        app.openapi_schema = document_scopes(problem_openapi(app, [run_lane.DESCRIPTION, *mcp_server.DESCRIPTIONS]))
    return app.openapi_schema


# `changes` comes before `pipelines`: PUT /pipelines (apply) is declared next to PUT /pipelines/{name}.
ROUTERS = (
    health.router,
    status.router,
    stats.router,
    identity.router,
    updates.router,
    pipelines.router,
    history.router,
    validate.router,
    audit.router,
    replicas.router,
    files.router,
    documents.router,
    feedback.router,
    legacy.router,
    openai.router,
    console.router,
    docs.router,
)


class StackyardAPI(FastAPI):
    """FastAPI, with Stackyard's own middleware outside all of FastAPI's layers, and two stacks behind it: the run
    lane for the run path, FastAPI's stack (error middleware, exception handlers, exit stack, routing) for the rest.

    A request on the run path never enters FastAPI's layers, which cost more than a small pipeline's run; any other
    request never passes the lane.
    """

    front: tuple[Middleware, ...] = ()  # outermost first; set by `install_middleware`
    run_stack: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            send = _one_line_start_failure(send)
        elif run_lane.takes(scope):
            if self.run_stack is None:
                self.run_stack = self._behind_front(run_lane.run_lane)
            scope["app"] = self
            await self.run_stack(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    def build_middleware_stack(self) -> ASGIApp:
        return self._behind_front(super().build_middleware_stack())

    def _behind_front(self, app: ASGIApp) -> ASGIApp:
        for cls, args, kwargs in reversed(self.front):
            app = cls(app, *args, **kwargs)
        return app


def _one_line_start_failure(send: Send) -> Send:
    """Starlette reports a failed start with the whole traceback; a `StartupError` says all there is in one line."""

    async def reporting(message: Message) -> None:
        # Starlette sends the failure from within its `except` block: the exception is the one being handled.
        error = sys.exception()
        if message["type"] == "lifespan.startup.failed" and isinstance(error, StartupError):
            message = {**message, "message": str(error)}
        await send(message)

    return reporting


def install_middleware(app: StackyardAPI, settings: Settings) -> None:
    """CORS, request log, access control and body limits, in the order a request meets them."""
    tokens = tuple(parse_token_line(line) for line in settings.token_lines())
    open_on_network = not tokens and refuses_open_on_network(settings)
    if not tokens:
        log.warning(
            "open development mode: no tokens configured, every caller may manage pipelines%s",
            "" if not open_on_network else "; management and feedback reads are refused on this non-loopback address",
        )
    # CORS first (when configured: preflights carry no token), then the request log (so refusals are logged with
    # their request id too), then access control, then body limits.
    front = []
    if settings.cors_origins:
        front.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["*"],
                allow_headers=["*"],
                expose_headers=["ETag", "X-Stackyard-Generation", "X-Stackyard-Revision", "X-Request-ID"],
            )
        )
    front.append(Middleware(RequestLogMiddleware))
    front.append(Middleware(AccessControl, tokens=tokens, refuse_open_on_network=open_on_network))
    front.append(
        Middleware(
            BodyLimit,
            max_body=settings.max_body_bytes,
            max_upload=settings.max_upload_bytes,
            read_timeout=settings.body_read_timeout,
        )
    )
    app.front = tuple(front)


def create_app_from_environment() -> FastAPI:
    """The factory `stackyard serve` hands to uvicorn: settings come from `STACKYARD_*` variables."""
    from stackyard.observability.logs import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    # What exists now (modules, classes, the app and its routes) lives as long as the process. Frozen, it is left
    # out of every later garbage collection: a full collection no longer walks 100,000 and more objects that can
    # never be garbage, which cut the collector's share of a BM25 run from about 7 ms to 2 ms. Pipelines are built
    # later, in the lifespan, so revisions replaced afterwards are collected as usual.
    gc.collect()
    gc.freeze()
    return app
