"""A streamed run as typed events: each `StreamChunk` as a component makes it, then the `RunResult`.

The server answers `POST /pipelines/{name}/run` with Server-Sent Events when asked for `text/event-stream`
(`api/event_stream.py`): `chunk` events, then exactly one `result` or `error` event. `httpx-sse` reads the events;
this module turns them into models, and an `error` event into the exception a run that does not stream would raise.
A problem met before the first chunk (an unknown pipeline, a bad input) is an ordinary problem answer, raised the
same way, so callers catch one set of exceptions whether they stream or not.

The readers are generators: nothing is sent until the first event is asked for, and closing one early (or leaving
its loop) closes the HTTP answer, which ends the run on the server and frees its slot.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Iterator, Mapping, Sequence
from contextlib import aclosing, closing, contextmanager
from dataclasses import replace
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent

from stackyard.client import calls
from stackyard.client.calls import Call
from stackyard.client.exceptions import ServerUnreachable, StreamInterrupted, error_for
from stackyard.client.models import RunResult, StreamChunk

__all__ = ["RunEvent", "read_events", "read_events_async", "stream_run"]

RunEvent = StreamChunk | RunResult
"""What a streamed run yields: chunks as they come, and last the result."""
MEDIA_TYPE = "text/event-stream"


def stream_run(
    name: str, data: Mapping[str, Any] | None = None, include_outputs_from: Sequence[str] | None = None
) -> Call[RunResult]:
    """The run call, asking for events; its parser reads the whole result an older server answers instead."""
    call = calls.run(name, data, include_outputs_from)
    return replace(call, headers={**call.headers, "Accept": MEDIA_TYPE})


def read_events(
    http: httpx.Client, call: Call[RunResult], token: str | None, url: str
) -> Generator[RunEvent, None, None]:
    """Send `call` and yield its events; used by `Client.stream_run`."""
    try:
        response = http.send(call.request(http, token), stream=True)
    except httpx.TransportError as error:
        raise ServerUnreachable(url, _reason(error)) from error
    with closing(response):
        if not _is_stream(response):
            response.read()
            yield call.answer(response)  # a problem raises; a server that does not stream sends the whole result
            return
        reader = _Reader(url)
        with reader.reading():
            for sse in EventSource(response).iter_sse():
                if (event := reader.take(sse)) is not None:
                    yield event


async def read_events_async(
    http: httpx.AsyncClient, call: Call[RunResult], token: str | None, url: str
) -> AsyncGenerator[RunEvent, None]:
    """`read_events` for `AsyncClient.stream_run`."""
    try:
        response = await http.send(call.request(http, token), stream=True)
    except httpx.TransportError as error:
        raise ServerUnreachable(url, _reason(error)) from error
    try:
        if not _is_stream(response):
            await response.aread()
            yield call.answer(response)
            return
        reader = _Reader(url)
        with reader.reading():
            async with aclosing(EventSource(response).aiter_sse()) as received:
                async for sse in received:
                    if (event := reader.take(sse)) is not None:
                        yield event
    finally:
        await response.aclose()


def _is_stream(response: httpx.Response) -> bool:
    return not response.is_error and response.headers.get("content-type", "").startswith(MEDIA_TYPE)


class _Reader:
    """The events of one answer as models, up to its last; an `error` event raises its problem's exception."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ended = False

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Around the loop over the events: a connection lost, or an answer that ends early, is `StreamInterrupted`."""
        try:
            yield
        except httpx.TransportError as error:
            raise StreamInterrupted(self.url, _reason(error)) from error
        if not self.ended:
            raise StreamInterrupted(self.url, "the answer ended without the run's result")

    def take(self, sse: ServerSentEvent) -> RunEvent | None:
        if self.ended:
            return None  # nothing follows the last event; a server that sent more would not be heard
        if sse.event == "chunk":
            return StreamChunk.model_validate_json(sse.data)
        if sse.event == "error":
            self.ended = True
            problem = sse.json()
            raise error_for(int(problem.get("status") or 500), problem)
        if sse.event == "result":
            self.ended = True
            return RunResult.model_validate_json(sse.data)
        return None  # a kind a newer server added: this client has nothing to make of it


def _reason(error: httpx.TransportError) -> str:
    return str(error) or type(error).__name__
