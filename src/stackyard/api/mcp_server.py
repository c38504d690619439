"""`/mcp`: the opted-in pipelines as MCP tools over streamable HTTP, with the official `mcp` SDK's session manager.

One route, mounted with the app; what it serves is made in the lifespan (`ToolServer.serving`), since the session
manager runs once and its sessions belong to the event loop that serves. Access control has let a request through
only with a token holding `run` (when tokens are configured); which tools that token sees and may call is decided
here, per request, from the token access control left in the request's state.

Tool calls run like `POST /pipelines/{name}/run`: through `Leases.run`, so gates, timeouts, workers and metrics
apply alike. A problem becomes a tool error (`isError`) with its title and detail; the session goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from mcp import types
from mcp.server.lowlevel.server import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.server.session import ServerSession
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from stackyard import __version__
from stackyard.api.dependencies import AppState
from stackyard.api.mcp_tools import ToolSpec, answered, may_run, offered, refused
from stackyard.errors import Forbidden, InternalError, PipelineNotFound, StackyardError
from stackyard.tokens import Token
from stackyard.wire.jobs import Run

log = logging.getLogger(__name__)

PATH = "/mcp"
# How often the tool set is compared with the last one seen, for `notifications/tools/list_changed`.
WATCH_INTERVAL = 0.5


class _ListChangingServer(Server[Any, Request]):
    """The SDK's server, advertising `tools.listChanged`: the session manager asks for the initialization options
    without any, and this server does send the notification."""

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        return super().create_initialization_options(
            notification_options or NotificationOptions(tools_changed=True), experimental_capabilities
        )


class ToolServer:
    """The MCP server of one running app: tools/list and tools/call over the registry, and the list-changed watch."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        # Checked once: with tokens configured, a request without one sees no tools, whatever reached this far.
        self.tokens_configured = bool(state.settings.token_lines())
        self.server = _ListChangingServer("stackyard", version=__version__)
        self.server.request_handlers[types.ListToolsRequest] = self._list_tools
        self.server.request_handlers[types.CallToolRequest] = self._call_tool
        # Sessions that listed tools: the ones holding a list that can go stale. Weak, so an ended session is gone.
        self.listeners: weakref.WeakSet[ServerSession] = weakref.WeakSet()
        # The tools as the listeners last learned of them; None while nobody listens (`_watch`).
        self.seen: frozenset[tuple[str, str, int]] | None = None
        self.manager = StreamableHTTPSessionManager(app=self.server)

    @classmethod
    @contextlib.asynccontextmanager
    async def serving(cls, app: FastAPI) -> AsyncIterator[None]:
        """Serve `/mcp` for `app` (its `AppState` made) until the block ends."""
        tools = app.state.stackyard_tools = cls(app.state.stackyard)
        async with tools._running():
            yield

    @contextlib.asynccontextmanager
    async def _running(self) -> AsyncIterator[None]:
        """Run the session manager and the list-changed watch until the block ends.

        Both run in a task of their own: the SDK's manager holds an anyio task group, which must be left by the task
        that entered it, and the app's lifespan may be entered and left from different tasks.
        """
        started = asyncio.Event()
        stop = asyncio.Event()

        async def run() -> None:
            async with self.manager.run():
                started.set()
                watch = asyncio.create_task(self._watch(), name="stackyard-mcp-watch")
                try:
                    await stop.wait()
                finally:
                    watch.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await watch

        task = asyncio.create_task(run(), name="stackyard-mcp")
        ready = asyncio.create_task(started.wait())
        await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if task.done():
            task.result()  # the manager failed to start: raise its error here
        try:
            yield
        finally:
            stop.set()
            await task

    async def _watch(self) -> None:
        """Tell every session that listed tools when the set of tools changes.

        A poll, not a hook in the registry: pipelines change through management calls, rollbacks, enabling and the
        sync with other replicas alike, and the registry sits on the run path, which must not wait for MCP clients.
        Comparing the (name, pipeline, revision) triples of the live opted-in pipelines costs microseconds per
        pipeline; a new revision may change a schema or description, so it counts as a change.
        """
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            if not self.listeners:  # nobody to tell: no need to look (the first to list tools sets the baseline)
                self.seen = None
                continue
            now = self._fingerprint()
            if now == self.seen:
                continue
            self.seen = now
            for session in list(self.listeners):
                try:
                    await session.send_tool_list_changed()
                except Exception:  # a session that ended meanwhile: it has no list left to refresh
                    self.listeners.discard(session)

    def _fingerprint(self) -> frozenset[tuple[str, str, int]]:
        return frozenset((name, spec.pipeline, spec.revision) for name, spec in offered(self.state.registry).items())

    def _caller(self) -> Token | None:
        request = self.server.request_context.request
        found = request.scope.get("state", {}).get("token") if request is not None else None
        return found if isinstance(found, Token) else None

    async def _list_tools(self, _: types.ListToolsRequest) -> types.ServerResult:
        self.listeners.add(self.server.request_context.session)
        if self.seen is None:  # the tools this listener is about to see: what a change is a change from
            self.seen = self._fingerprint()
        token = self._caller()
        tools = [
            spec
            for spec in offered(self.state.registry).values()
            if may_run(token, self.tokens_configured, spec.pipeline)
        ]
        descriptions = await self._descriptions() if any(spec.description is None for spec in tools) else {}
        listed = [spec.tool(descriptions.get(spec.pipeline, "")) for spec in tools]
        return types.ServerResult(types.ListToolsResult(tools=listed))

    async def _descriptions(self) -> dict[str, str]:
        """The stored descriptions; none while the store is out (the tools still run: runs never need the store)."""
        try:
            records = await asyncio.to_thread(self.state.store.pipelines)
        except StackyardError as error:
            log.warning("tool descriptions unavailable: %s", error.detail)
            return {}
        return {record.name: record.description for record in records}

    async def _call_tool(self, request: types.CallToolRequest) -> types.ServerResult:
        name = request.params.name
        try:
            spec = self._callable(name)
            job = Run(request.params.arguments or {})
            live, result = await self.state.leases.run(spec.pipeline, job)
            return types.ServerResult(answered(spec.pipeline, live.revision, json.loads(result)))
        except StackyardError as error:
            return types.ServerResult(refused(error))
        except Exception:
            log.exception("unhandled error in a tool call", extra={"tool": name})
            return types.ServerResult(refused(InternalError("The server met an unexpected condition; it was logged.")))

    def _callable(self, name: str) -> ToolSpec:
        spec = offered(self.state.registry).get(name)
        if spec is None:
            raise PipelineNotFound(f"There is no tool named '{name}'. List them with tools/list.")
        token = self._caller()
        if not may_run(token, self.tokens_configured, spec.pipeline):
            who = f"Token '{token.name}'" if token is not None else "This caller"
            raise Forbidden(f"{who} lacks the 'run' scope on pipeline '{spec.pipeline}'.")
        return spec


class _Endpoint:
    """An ASGI app, not a function, so Starlette's `Route` passes the request on as it came; the session manager it
    hands it to is the one the running lifespan made."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tools: ToolServer = scope["app"].state.stackyard_tools
        await tools.manager.handle_request(scope, receive, send)


ROUTE = Route(PATH, _Endpoint(), methods=["GET", "POST", "DELETE"], name="mcp")


async def _described() -> None:  # pragma: no cover - describes, never runs
    raise NotImplementedError("the MCP session manager answers this path")


_SAID = {
    "POST": "Send MCP JSON-RPC messages (initialize, tools/list, tools/call); answered as JSON or an event stream.",
    "GET": "Open the session's stream of server notifications, such as notifications/tools/list_changed.",
    "DELETE": "End the MCP session named by the Mcp-Session-Id header.",
}
DESCRIPTIONS = tuple(
    APIRoute(
        PATH,
        _described,
        methods=[method],
        summary="MCP: the opted-in pipelines as tools",
        description=f"{said} Model Context Protocol over streamable HTTP: pipelines with `metadata: {{mcp: true}}` are "
        "tools; a `run@PATTERN` token sees and calls only the pipelines matching PATTERN.",
        tags=["runs"],
        name=f"mcp_{method.lower()}",
    )
    for method, said in _SAID.items()
)
"""`/mcp` as the OpenAPI document describes it (`problem_openapi` adds it); never mounted."""
