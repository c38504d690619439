"""`AsyncClient`: the asynchronous Python client of the Stackyard API, on httpx.

Example:
    >>> from stackyard.client import AsyncClient
    >>> async with AsyncClient("http://127.0.0.1:8000", token="...") as yard:
    ...     await yard.put_pipeline("greet", open("greet.yml").read())
    ...     print((await yard.run("greet", {"name": "Ada"})).result)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import httpx

from stackyard.client import calls
from stackyard.client.calls import Call, UploadFile
from stackyard.client.connection import DEFAULT_TIMEOUT, base_url, default_token
from stackyard.client.errors import ServerUnreachable
from stackyard.client.models import (
    ApplyItem,
    ApplyResult,
    AuditEntry,
    Diff,
    Health,
    Pipeline,
    PipelineReadiness,
    PipelineSchema,
    PipelineSummary,
    RevisionDetail,
    RevisionPage,
    RunResult,
    Status,
    UploadResult,
    ValidationReport,
    WriteResult,
)

__all__ = ["AsyncClient"]

T = TypeVar("T")


class AsyncClient:
    """Every route of the API as a method returning a typed result; errors raise `stackyard.client.errors` classes.

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

    async def list_pipelines(self) -> list[PipelineSummary]:
        """Every pipeline: name, revision, state, labels, times."""
        return await self.send(calls.list_pipelines())

    async def get_pipeline(self, name: str) -> Pipeline:
        """One pipeline with its YAML and state."""
        return await self.send(calls.get_pipeline(name))

    async def get_yaml(self, name: str) -> str:
        """The live YAML exactly as it was sent."""
        return await self.send(calls.get_yaml(name))

    async def put_pipeline(
        self,
        name: str,
        yaml: str,
        *,
        description: str = "",
        labels: Mapping[str, str] | None = None,
        message: str = "",
        if_match: int | None = None,
        create_only: bool = False,
        wait: str | None = None,
        wait_timeout: float | None = None,
    ) -> WriteResult:
        """Create or replace a pipeline. `if_match=N` refuses (RevisionConflict) unless revision N is live;
        `create_only` refuses if it exists."""
        return await self.send(
            calls.put_pipeline(
                name,
                yaml,
                description=description,
                labels=labels,
                message=message,
                if_match=if_match,
                create_only=create_only,
                wait=wait,
                wait_timeout=wait_timeout,
            )
        )

    async def patch_pipeline(
        self,
        name: str,
        *,
        enabled: bool | None = None,
        description: str | None = None,
        labels: Mapping[str, str] | None = None,
        message: str = "",
        if_match: int | None = None,
    ) -> WriteResult:
        """Enable or disable a pipeline, or change its description or labels."""
        return await self.send(
            calls.patch_pipeline(
                name, enabled=enabled, description=description, labels=labels, message=message, if_match=if_match
            )
        )

    async def delete_pipeline(self, name: str, *, if_match: int | None = None) -> None:
        """Delete a pipeline."""
        return await self.send(calls.delete_pipeline(name, if_match=if_match))

    async def apply(
        self,
        items: Sequence[ApplyItem],
        *,
        prune: bool = False,
        dry_run: bool = False,
        wait: str | None = None,
        wait_timeout: float | None = None,
    ) -> ApplyResult:
        """Apply a set of pipelines in one transaction; a refused member raises ValidationFailed
        whose `problems` names each."""
        return await self.send(calls.apply(items, prune=prune, dry_run=dry_run, wait=wait, wait_timeout=wait_timeout))

    async def run(
        self, name: str, data: Mapping[str, Any] | None = None, include_outputs_from: Sequence[str] | None = None
    ) -> RunResult:
        """Run a pipeline with inputs, flat or per component."""
        return await self.send(calls.run(name, data, include_outputs_from))

    async def upload_files(
        self, name: str, files: Sequence[UploadFile], params: Mapping[str, Any] | None = None, meta: Any = None
    ) -> UploadResult:
        """Send files `(name, bytes, media type)` into an indexing pipeline; `meta`: one object, or one per file."""
        return await self.send(calls.upload_files(name, files, params, meta))

    async def schema(self, name: str) -> PipelineSchema:
        """JSON Schema of a pipeline's inputs and outputs."""
        return await self.send(calls.schema(name))

    async def revisions(self, name: str, *, limit: int = 20, offset: int = 0) -> RevisionPage:
        """A pipeline's revisions, newest first."""
        return await self.send(calls.revisions(name, limit=limit, offset=offset))

    async def revision(self, name: str, number: int) -> RevisionDetail:
        """One revision, with its YAML."""
        return await self.send(calls.revision(name, number))

    async def diff(self, name: str, from_revision: int | None = None, to_revision: int | None = None) -> Diff:
        """Unified diff of two revisions (default: the previous one against the live one)."""
        return await self.send(calls.diff(name, from_revision, to_revision))

    async def rollback(
        self, name: str, revision: int, *, message: str = "", if_match: int | None = None
    ) -> WriteResult:
        """Make an earlier revision live again, as a new revision."""
        return await self.send(calls.rollback(name, revision, message=message, if_match=if_match))

    async def validate(
        self,
        yaml: str,
        *,
        name: str | None = None,
        sample_input: Mapping[str, Any] | None = None,
        allow_writes: bool = False,
    ) -> ValidationReport:
        """Check a definition without storing it; `sample_input` also simulates one run."""
        return await self.send(calls.validate(yaml, name=name, sample_input=sample_input, allow_writes=allow_writes))

    async def audit(
        self,
        *,
        pipeline: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AuditEntry]:
        """Management actions, newest first."""
        return await self.send(
            calls.audit(pipeline=pipeline, actor=actor, since=since, until=until, limit=limit, offset=offset)
        )

    async def health(self) -> Health:
        """Liveness (`/healthz`)."""
        return await self.send(calls.health())

    async def ready(self) -> Health:
        """Readiness (`/readyz`); `ready` is false while the server starts."""
        return await self.send(calls.ready())

    async def status(self) -> Status:
        """The answering process: version, replica, store, each pipeline's state."""
        return await self.send(calls.status())

    async def metrics(self) -> str:
        """Prometheus metrics, as text."""
        return await self.send(calls.metrics())

    async def pipeline_ready(self, name: str) -> PipelineReadiness:
        """Whether the answering process serves one pipeline."""
        return await self.send(calls.pipeline_ready(name))

    async def replicas(self) -> list[dict[str, Any]]:
        """The server's replicas, as the server describes them."""
        return await self.send(calls.replicas())

    async def rollout(self, name: str) -> dict[str, Any]:
        """How far a pipeline's latest revision has reached the replicas."""
        return await self.send(calls.rollout(name))

    async def raw(self, method: str, path: str, *, json: Any = None, params: Mapping[str, str] | None = None) -> Any:
        """Any other route; the decoded JSON answer."""
        return await self.send(calls.raw(method, path, json=json, params=params))
