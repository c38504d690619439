"""`AsyncClient`: the asynchronous Python client of the Stackyard API, on httpx.

Example:
    >>> from stackyard.client import AsyncClient
    >>> async with AsyncClient("http://127.0.0.1:8000", token="...") as yard:
    ...     await yard.put_pipeline("greet", open("greet.yml").read())
    ...     print((await yard.run("greet", {"name": "Ada"})).result)
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from stackyard.client import calls
from stackyard.client.calls import Call
from stackyard.client.connection import DEFAULT_TIMEOUT, base_url, default_token
from stackyard.client.exceptions import ServerUnreachable
from stackyard.client.methods import AsyncMethod
from stackyard.client.run_events import RunEvent, read_events_async, stream_run

__all__ = ["AsyncClient"]

T = TypeVar("T")


class AsyncClient:
    """Every route of the API as a method returning a typed result; errors raise `stackyard.client.exceptions` classes.

    `url` and `token` default to `STACKYARD_URL` and `STACKYARD_TOKEN`. Pass `http` to send through a client you
    made (an `httpx.AsyncClient`, with `httpx.ASGITransport` in tests); it is not closed here.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = base_url(url) if http is None else str(http.base_url)
        self.token = token if token is not None else default_token()
        self._owned = http is None
        self._http = http if http is not None else httpx.AsyncClient(base_url=self.url, timeout=timeout)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owned:
            await self._http.aclose()

    async def send(self, call: Call[T]) -> T:
        """Send one call and return its parsed answer; an error answer raises the exception named for it."""
        try:
            response = await self._http.send(call.request(self._http, self.token))
        except httpx.TransportError as error:
            raise ServerUnreachable(self.url, str(error) or type(error).__name__) from error
        return call.answer(response)

    def stream_run(
        self, name: str, data: Mapping[str, Any] | None = None, include_outputs_from: Sequence[str] | None = None
    ) -> AsyncGenerator[RunEvent, None]:
        """`Client.stream_run`, to iterate with `async for`; `aclose()` (or leaving the loop) ends the run.

        >>> async for event in yard.stream_run("chat", {"question": "Where are haystacks kept?"}):
        ...     if isinstance(event, StreamChunk):
        ...         print(event.content, end="", flush=True)
        """
        return read_events_async(self._http, stream_run(name, data, include_outputs_from), self.token, self.url)

    # Every route, described once in `calls`; the methods take the same parameters as those functions.
    list_pipelines = AsyncMethod(calls.list_pipelines)
    get_pipeline = AsyncMethod(calls.get_pipeline)
    get_yaml = AsyncMethod(calls.get_yaml)
    put_pipeline = AsyncMethod(calls.put_pipeline)
    patch_pipeline = AsyncMethod(calls.patch_pipeline)
    delete_pipeline = AsyncMethod(calls.delete_pipeline)
    apply = AsyncMethod(calls.apply)
    run = AsyncMethod(calls.run)
    upload_files = AsyncMethod(calls.upload_files)
    schema = AsyncMethod(calls.schema)
    revisions = AsyncMethod(calls.revisions)
    revision = AsyncMethod(calls.revision)
    diff = AsyncMethod(calls.diff)
    rollback = AsyncMethod(calls.rollback)
    validate = AsyncMethod(calls.validate)
    audit = AsyncMethod(calls.audit)
    health = AsyncMethod(calls.health)
    ready = AsyncMethod(calls.ready)
    status = AsyncMethod(calls.status)
    metrics = AsyncMethod(calls.metrics)
    pipeline_ready = AsyncMethod(calls.pipeline_ready)
    replicas = AsyncMethod(calls.replicas)
    rollout = AsyncMethod(calls.rollout)
    raw = AsyncMethod(calls.raw)
