"""An OpenAI-compatible chat server on 127.0.0.1 for tests: real HTTP, real SSE, no network beyond the machine.

`POST /v1/chat/completions` answers `words` as one chat completion, or with `"stream": true` as OpenAI streams
it: a first chunk with the role, one chunk per word, a chunk with `finish_reason: "stop"`, a usage chunk (empty
`choices`) when `stream_options.include_usage` asks for it, then `data: [DONE]`. A test can hold a stream after
`hold_after` words until it sets `release`, and learns whether the client closed the connection before the end
(`closed_early`): the generator's `finally` runs without having sent `[DONE]`, since Starlette cancels a streaming
response whose client went away.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.waiting import wait_until

MODEL = "fake-gpt"


@dataclass
class FakeOpenAI:
    """What the upstream answers, what it was asked, and what became of its streams."""

    port: int
    words: list[str] = field(default_factory=lambda: ["Haystacks ", "are ", "kept ", "in ", "stackyards."])
    usage: dict[str, int] = field(
        default_factory=lambda: {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
    )
    hold_after: int | None = None  # words sent before a stream waits for `release`; None: no waiting
    requests: list[dict[str, Any]] = field(default_factory=list)
    held: threading.Event = field(default_factory=threading.Event)  # a stream is waiting for `release`
    release: threading.Event = field(default_factory=threading.Event)
    closed_early: threading.Event = field(default_factory=threading.Event)  # a client left before `[DONE]`
    finished: threading.Event = field(default_factory=threading.Event)  # a stream sent `[DONE]`

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def completions(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append({"headers": dict(request.headers), "body": body})
        if body.get("stream"):
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(self._chunks(usage), media_type="text/event-stream")
        return JSONResponse(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": MODEL,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(self.words)},
                        "finish_reason": "stop",
                    }
                ],
                "usage": self.usage,
            }
        )

    async def _chunks(self, include_usage: bool) -> AsyncIterator[str]:
        done = False
        try:
            yield _chunk({"role": "assistant", "content": ""})
            for sent, word in enumerate(self.words):
                if sent == self.hold_after:
                    self.held.set()
                    # A client leaving cancels this await (the waiting thread ends when `release` is set, at the
                    # latest when the fake stops).
                    await asyncio.to_thread(self.release.wait)
                yield _chunk({"content": word})
            yield _chunk({}, finish_reason="stop")
            if include_usage:
                yield _data({**_envelope(), "choices": [], "usage": self.usage})
            yield "data: [DONE]\n\n"
            done = True
            self.finished.set()
        finally:
            if not done:
                self.closed_early.set()


def _envelope() -> dict[str, Any]:
    return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()), "model": MODEL}


def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
    choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
    return _data({**_envelope(), "choices": [choice], "usage": None})


def _data(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload)}\n\n"


@contextmanager
def fake_openai() -> Iterator[FakeOpenAI]:
    """A fake upstream served by uvicorn in a thread, on a port of its own, stopped on leaving."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    fake = FakeOpenAI(port=int(sock.getsockname()[1]))
    app = Starlette(routes=[Route("/v1/chat/completions", fake.completions, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, "the fake OpenAI server to listen", timeout=10)
        yield fake
    finally:
        fake.release.set()  # a stream still held would keep the server from stopping
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
