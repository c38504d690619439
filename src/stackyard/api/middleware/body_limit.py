"""Request body limits, whatever the content type: a size by route, and a read timeout.

The limit a body gets depends on the route it is sent to, never on the Content-Type the caller claims: routes whose
OpenAPI body is a multipart upload (found on the app's own routes, not listed here) take `STACKYARD_MAX_UPLOAD_BYTES`,
every other route `STACKYARD_MAX_BODY_BYTES`. A body that stalls longer than `STACKYARD_BODY_READ_TIMEOUT` between
two of its chunks is dropped with a 408, and a client that goes away before its body is complete gets a 499 in the
request log: neither is an error of the server, so neither is logged with a traceback or answered as a 5xx.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stackyard.api.problems import problem_response
from stackyard.errors import BodyTimeout, BodyTooLarge, ClientClosedRequest

UPLOAD_MEDIA_TYPE = "multipart/form-data"


class BodyLimit:
    """ASGI middleware: refuse bodies over the limit (413), by Content-Length at once or while they are read; drop
    bodies that stall (408) or that their client abandons (499).

    The read that passes the limit, times out or meets the disconnect raises instead of returning data, so no
    handler ever acts on part of a body: it fails where it reads, and the error becomes the problem answered.
    """

    def __init__(self, app: ASGIApp, max_body: int, max_upload: int, read_timeout: float) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload
        self.read_timeout = read_timeout
        self._uploads: list[re.Pattern[str]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.max_upload if self._takes_uploads(scope) else self.max_body
        length = next((value for key, value in scope["headers"] if key == b"content-length"), None)
        if length is not None and length.isdigit() and int(length) > limit:
            await problem_response(_too_large(limit), scope["path"])(scope, receive, send)
            return
        # HTTP framing ends a body at its Content-Length (the server reads no further): only chunked bodies are
        # counted. Every body is timed while it is incomplete.
        counted = length is None or not length.isdigit()
        seen = 0
        complete = False
        read_timeout = self.read_timeout

        async def guarded_receive() -> Message:
            nonlocal seen, complete
            if complete:
                return await receive()  # the body is in: what comes now is the wait for a disconnect
            try:
                async with asyncio.timeout(read_timeout):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(
                    f"The body did not arrive: nothing came for {read_timeout:g} s (STACKYARD_BODY_READ_TIMEOUT)."
                ) from None
            if message["type"] == "http.disconnect":
                raise ClientClosedRequest("The client went away before its request body was complete.")
            if message["type"] == "http.request":
                if counted:
                    seen += len(message.get("body", b""))
                    if seen > limit:
                        raise _too_large(limit)
                complete = not message.get("more_body", False)
            return message

        try:
            # `send` is passed on as it is (no wrapper on the path of every answer): these errors are raised only
            # while the body is incomplete, and every route reads its whole body before it starts its answer.
            await self.app(scope, guarded_receive, send)
        except (BodyTooLarge, BodyTimeout, ClientClosedRequest) as error:
            await problem_response(error, scope["path"])(scope, receive, send)

    def _takes_uploads(self, scope: Scope) -> bool:
        if self._uploads is None:
            app: Any = scope.get("app")
            self._uploads = _upload_paths(app.openapi()) if hasattr(app, "openapi") else []
        path: str = scope["path"]
        return any(pattern.match(path) for pattern in self._uploads)


def _upload_paths(document: dict[str, Any]) -> list[re.Pattern[str]]:
    """The paths whose documented request body is a multipart upload, as patterns: read from the app's own OpenAPI
    document, so a new upload route gets the upload limit without being listed anywhere."""
    found = []
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            content = (operation.get("requestBody") or {}).get("content") or {}
            if isinstance(operation, dict) and UPLOAD_MEDIA_TYPE in content:
                found.append(compile_path(path)[0])
                break
    return found


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"The body is larger than this server accepts ({limit} bytes).", limit=limit)
