"""A run answered as Server-Sent Events: each chunk as a component streams it, then the result, then the end.

`POST /pipelines/{name}/run` streams when the request accepts `text/event-stream` or its body says
`"stream": true`. The events:

- `chunk`: a `StreamingChunk` as JSON (`content`, `component`, `tool_calls`, `tool_call_result`, `finish_reason`,
  `index`, `start`, `meta`, `reasoning`), as the cell sends it;
- `result`: the body the same run answers without streaming (`pipeline`, `revision`, `result`); the last event;
- `error`: a problem (RFC 9457 fields) met after the stream began; the last event.

The answer waits for the first chunk (or the end of the run) before it begins, so a run refused before any chunk
(an unknown pipeline, a bad input, a full queue) gets the usual problem answer with its status. A stream keeps
the revision it started on, like any run. A client that goes away cancels the run: a run awaited on its cell's
loop stops at once; one in a cell's thread runs on to its deadline, past which its cell is recycled
(`serving/cell_pool.py`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from stackyard.api.bodies import RunRequest
from stackyard.api.dependencies import AppState
from stackyard.errors import StackyardError
from stackyard.serving.registry import LiveRevision
from stackyard.wire.jobs import Run

log = logging.getLogger(__name__)

MEDIA_TYPE = "text/event-stream"
STREAM_HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}  # nor cached nor held by a proxy
END = object()  # the run ended: its task holds the result or the problem
_CHUNK_EVENT = b"event: chunk\ndata: "  # a chunk comes from the cell as JSON text on one line


def wants_stream(request: Request, body: RunRequest) -> bool:
    return body.stream or MEDIA_TYPE in request.headers.get("accept", "")


async def stream_run(request: Request, state: AppState, name: str, body: RunRequest) -> Response:
    """Start the run; answer a stream once it has something to say, or the problem that stopped it first."""
    job = Run(body.data, body.include_outputs_from, stream=True)
    started = await start_stream(state, name, job)
    if started.first is END:
        started.task.result()  # a problem before the stream began: answered as any other
    return StreamingResponse(
        _events(name, started.first, started.events, started.task),
        media_type=MEDIA_TYPE,
        headers=STREAM_HEADERS,
    )


@dataclass(frozen=True)
class StartedStream:
    """A streaming run under way: its first event (a chunk, or `END`), the queue of those after it, and its task."""

    first: Any
    events: asyncio.Queue[Any]
    task: asyncio.Future[tuple[LiveRevision, bytes]]


async def start_stream(state: AppState, name: str, job: Run) -> StartedStream:
    """Start a streaming run of `name` and wait for its first chunk or its end, so that a problem met before any
    chunk can still be answered with its own status. The queue gets each chunk, then `END` when the run ends."""
    events: asyncio.Queue[Any] = asyncio.Queue()
    task = asyncio.ensure_future(state.leases.run(name, job, on_chunk=events.put_nowait))
    task.add_done_callback(lambda _: events.put_nowait(END))
    try:
        first = await events.get()
    except BaseException:
        task.cancel()
        raise
    return StartedStream(first, events, task)


async def _events(
    name: str, first: Any, events: asyncio.Queue[Any], task: asyncio.Future[tuple[LiveRevision, bytes]]
) -> AsyncIterator[bytes]:
    try:
        item = first
        while item is not END:
            # Every chunk that has arrived goes out in one write: a fast generator's chunks are not a write each.
            batch = [_CHUNK_EVENT + item + b"\n\n"]
            while not events.empty() and (item := events.get_nowait()) is not END:
                batch.append(_CHUNK_EVENT + item + b"\n\n")
            yield b"".join(batch)
            if item is not END:
                item = await events.get()
        try:
            live, result = task.result()
        except StackyardError as error:
            # The request's log line said 200 when the stream began: this line says how it ended.
            log.warning(
                "stream ended with a problem",
                extra={"pipeline": name, "status": error.status, "problem": error.slug, "detail": error.detail},
            )
            yield _event("error", error.to_problem(instance=f"/pipelines/{name}/run"))
            return
        head = json.dumps({"pipeline": name, "revision": live.revision}, ensure_ascii=False, separators=(",", ":"))
        # The result is the cell's JSON text, passed on as it is.
        yield b"event: result\ndata: " + head[:-1].encode() + b',"result":' + result + b"}\n\n"
    finally:
        if not task.done():  # the client went away mid-stream: the run ends with it
            task.cancel()


def _event(kind: str, data: Any) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()
