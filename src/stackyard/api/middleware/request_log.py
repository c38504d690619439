"""One log line per request, a request id on every answer, and the request's trace span.

Pure ASGI middleware: it wraps `send` to read the status and add headers, and adds no task or body copy to the
run path. The line carries method, path, status, duration, pipeline, revision and request id; never the query
string or a body, which may hold run inputs.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
import secrets
import time
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stackyard.observability.logs import request_id

log = logging.getLogger("stackyard.access")

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is echoed back and logged, so it must be short and plain; anything else is replaced by our own.
_ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")


class _RequestIds:
    """Ids unique across processes and restarts: a random prefix per middleware instance (one per stack of the app:
    the run lane's and FastAPI's), then a counter.

    Cheaper than a uuid4 per request (no system call on the event loop), and still never repeats.
    """

    def __init__(self) -> None:
        self.prefix = secrets.token_hex(6)
        self.counter = itertools.count(1)

    def own(self, candidate: str | None) -> str:
        if candidate is not None and _ACCEPTABLE_ID.fullmatch(candidate):
            return candidate
        return f"{self.prefix}-{next(self.counter):x}"


def _revision(headers: MutableHeaders) -> int | None:
    # Every answer about one revision names it in this header (`revision_headers`, the run lane).
    value = headers.get("x-stackyard-revision")
    return int(value) if value is not None else None


class RequestLogMiddleware:
    """Request id in and out, the access log line, and (with OpenTelemetry) the server span of each request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.ids = _RequestIds()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        observability = getattr(scope["app"].state, "stackyard", None)
        observability = getattr(observability, "observability", None)
        given = next((value for key, value in scope["headers"] if key == b"x-request-id"), None)
        rid = self.ids.own(given.decode("latin-1") if given is not None else None)
        replica = observability.replica.id if observability is not None else None
        started = time.perf_counter()
        answer: dict[str, Any] = {"status": 500, "revision": None}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.append(REQUEST_ID_HEADER, rid)
                if replica is not None:
                    headers.append("X-Stackyard-Replica", replica)
                answer["status"] = message["status"]
                answer["revision"] = _revision(headers)
            await send(message)

        otel = observability.otel if observability is not None else None
        span_context = (
            otel.request_span(scope["method"], _header_map(scope)) if otel is not None else contextlib.nullcontext(None)
        )
        token = request_id.set(rid)
        try:
            with span_context as span:
                await self.app(scope, receive, send_with_headers)
                if span is not None:
                    _describe_span(span, scope, answer, rid)
        finally:
            request_id.reset(token)
            if log.isEnabledFor(logging.INFO):  # the fields cost more than the check: build them only when written
                _log_request(scope, answer, rid, started)


def _header_map(scope: Scope) -> dict[str, str]:
    return {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}


def _log_request(scope: Scope, answer: dict[str, Any], rid: str, started: float) -> None:
    log.info(
        "request",
        extra={
            "method": scope["method"],
            "path": scope["path"],
            "status": answer["status"],
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "pipeline": scope.get("path_params", {}).get("name"),
            "revision": answer["revision"],
            "request_id": rid,
        },
    )


def _describe_span(span: Any, scope: Scope, answer: dict[str, Any], rid: str) -> None:
    route = scope.get("route")
    template = getattr(route, "path", None)
    if template is not None:
        span.update_name(f"{scope['method']} {template}")
        span.set_attribute("http.route", template)
    span.set_attribute("http.request.method", scope["method"])
    span.set_attribute("url.path", scope["path"])
    span.set_attribute("http.response.status_code", answer["status"])
    span.set_attribute("stackyard.request_id", rid)
    pipeline = scope.get("path_params", {}).get("name")
    if pipeline is not None:
        span.set_attribute("stackyard.pipeline", pipeline)
    if answer["revision"] is not None:
        span.set_attribute("stackyard.revision", answer["revision"])
