"""Runtime limits: request body sizes, and per-pipeline run concurrency with a bounded queue."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stackyard.api.problems import problem_response
from stackyard.errors import BodyTooLarge, TooManyRuns


class _Gate:
    """The slots of one pipeline. A free slot is taken without suspending; a full gate queues on the semaphore."""

    __slots__ = ("slots", "waiting")

    def __init__(self, concurrent: int) -> None:
        self.slots = asyncio.Semaphore(concurrent)
        self.waiting = 0

    def release(self) -> None:
        self.slots.release()


@dataclass
class RunLimits:
    """At most `concurrent` runs of one pipeline at once, and at most `queued` more waiting; beyond that, 429."""

    concurrent: int
    queued: int
    _gates: dict[str, _Gate] = field(default_factory=dict)

    async def enter(self, pipeline: str) -> _Gate:
        """Take a slot of `pipeline`, waiting in its queue if need be; pair with the gate's `release()`."""
        gate = self._gates.get(pipeline)
        if gate is None:
            gate = self._gates[pipeline] = _Gate(self.concurrent)
        if not gate.slots.locked():
            await gate.slots.acquire()  # returns at once: asyncio's semaphore only suspends when it must wait
            return gate
        if gate.waiting >= self.queued:
            raise TooManyRuns(
                f"Pipeline '{pipeline}' runs {self.concurrent} requests and has {gate.waiting} waiting; retry shortly."
            )
        gate.waiting += 1
        try:
            await gate.slots.acquire()
        finally:
            gate.waiting -= 1
        return gate


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


def _run_limits(request: Request) -> RunLimits:
    limits: RunLimits = request.app.state.run_limits
    return limits


RunLimitsDep = Annotated[RunLimits, Depends(_run_limits)]
