"""Request body limits, whatever the content type: refused by Content-Length at once, or while the body is read."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stackyard.api.problems import problem_response
from stackyard.errors import BodyTooLarge


class BodyLimit:
    """ASGI middleware: refuse bodies over the limit (413), by Content-Length at once or while they are read.

    A body without a Content-Length (chunked) is counted as it is received; the read that passes the limit raises
    `BodyTooLarge` instead of returning data, so no handler ever sees, let alone acts on, part of a body: it fails
    where it reads, and the error becomes the 413.
    """

    def __init__(self, app: ASGIApp, max_body: int, max_upload: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "DELETE", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        content_type = length = None
        for key, value in scope["headers"]:
            if key == b"content-type":
                content_type = value
            elif key == b"content-length":
                length = value
        is_upload = content_type is not None and content_type.startswith(b"multipart/")
        limit = self.max_upload if is_upload else self.max_body
        if length is not None and length.isdigit():
            if int(length) > limit:
                await problem_response(_too_large(limit), scope["path"])(scope, receive, send)
            else:
                # HTTP framing ends the body at Content-Length (the server reads no further), so nothing to count.
                await self.app(scope, receive, send)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _too_large(limit)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge as error:
            if started:  # an app that streams its answer while it reads: the answer cannot be replaced any more
                raise
            await problem_response(error, scope["path"])(scope, receive, send)


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"The body is larger than this server accepts ({limit} bytes).", limit=limit)
