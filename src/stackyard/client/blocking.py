"""`Client`: the synchronous Python client of the Stackyard API, on httpx.

Example:
    >>> from stackyard.client import Client
    >>> with Client("http://127.0.0.1:8000", token="...") as yard:
    ...     yard.put_pipeline("greet", open("greet.yml").read())
    ...     print(yard.run("greet", {"name": "Ada"}).result)
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from stackyard.client import calls
from stackyard.client.calls import Call
from stackyard.client.connection import DEFAULT_TIMEOUT, base_url, default_token
from stackyard.client.exceptions import ServerUnreachable
from stackyard.client.methods import SyncMethod
from stackyard.client.run_events import RunEvent, read_events, stream_run

__all__ = ["Client"]

T = TypeVar("T")


class Client:
    """Every route of the API as a method returning a typed result; errors raise `stackyard.client.exceptions` classes.

    `url` and `token` default to `STACKYARD_URL` and `STACKYARD_TOKEN`. Pass `http` to send through a client you
    made (a `fastapi.testclient.TestClient`, or an `httpx.Client` with its own transport); it is not closed here.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        http: httpx.Client | None = None,
    ) -> None:
        self.url = base_url(url) if http is None else str(http.base_url)
        self.token = token if token is not None else default_token()
        self._owned = http is None
        self._http = http if http is not None else httpx.Client(base_url=self.url, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owned:
            self._http.close()

    def send(self, call: Call[T]) -> T:
        """Send one call and return its parsed answer; an error answer raises the exception named for it."""
        try:
            response = self._http.send(call.request(self._http, self.token))
        except httpx.TransportError as error:
            raise ServerUnreachable(self.url, str(error) or type(error).__name__) from error
        return call.answer(response)

    def stream_run(
        self, name: str, data: Mapping[str, Any] | None = None, include_outputs_from: Sequence[str] | None = None
    ) -> Generator[RunEvent, None, None]:
        """Run a pipeline streaming: each `StreamChunk` as it comes, then the `RunResult` as `run` answers it.

        A problem raises what `run` raises, before the first chunk or after. Nothing is sent until you iterate;
        leaving the loop early (or `close()`) closes the answer, and the server ends the run.

            >>> for event in yard.stream_run("chat", {"question": "Where are haystacks kept?"}):
            ...     if isinstance(event, StreamChunk):
            ...         print(event.content, end="", flush=True)
        """
        return read_events(self._http, stream_run(name, data, include_outputs_from), self.token, self.url)

    # Every route, described once in `calls`; the methods take the same parameters as those functions.
    list_pipelines = SyncMethod(calls.list_pipelines)
    get_pipeline = SyncMethod(calls.get_pipeline)
    get_yaml = SyncMethod(calls.get_yaml)
    put_pipeline = SyncMethod(calls.put_pipeline)
    patch_pipeline = SyncMethod(calls.patch_pipeline)
    delete_pipeline = SyncMethod(calls.delete_pipeline)
    apply = SyncMethod(calls.apply)
    run = SyncMethod(calls.run)
    upload_files = SyncMethod(calls.upload_files)
    schema = SyncMethod(calls.schema)
    revisions = SyncMethod(calls.revisions)
    revision = SyncMethod(calls.revision)
    diff = SyncMethod(calls.diff)
    rollback = SyncMethod(calls.rollback)
    validate = SyncMethod(calls.validate)
    audit = SyncMethod(calls.audit)
    health = SyncMethod(calls.health)
    ready = SyncMethod(calls.ready)
    status = SyncMethod(calls.status)
    metrics = SyncMethod(calls.metrics)
    pipeline_ready = SyncMethod(calls.pipeline_ready)
    replicas = SyncMethod(calls.replicas)
    rollout = SyncMethod(calls.rollout)
    raw = SyncMethod(calls.raw)
