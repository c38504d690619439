"""Every route of the API as a `Call`: what to send and how to read the answer.

The synchronous and the asynchronous client send the same calls; only the I/O differs, so each route is described
once here and each client method is one line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

from stackyard.client.exceptions import ApiError, RolloutPending, error_for
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
    Replica,
    RevisionDetail,
    RevisionPage,
    Rollout,
    RunResult,
    Status,
    UploadResult,
    ValidationReport,
    WriteResult,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
UploadFile = tuple[str, bytes, str]  # file name, content, media type
YAML_MEDIA_TYPE = "application/yaml"


@dataclass(frozen=True)
class Call(Generic[T]):
    """One HTTP exchange: the request to send and the parser of a successful answer."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    files: Sequence[tuple[str, UploadFile]] = ()
    data: dict[str, str] | None = None
    accepted: frozenset[int] = frozenset()  # error statuses that are answers here (readiness answers 503)

    def request(self, http: httpx.Client | httpx.AsyncClient, token: str | None) -> httpx.Request:
        headers = dict(self.headers)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return http.build_request(
            self.method,
            self.path,
            params=self.params or None,
            json=self.json,
            headers=headers,
            files=list(self.files) or None,
            data=self.data,
        )

    def answer(self, response: httpx.Response) -> T:
        if response.is_error and response.status_code not in self.accepted:
            raise problem_of(response)
        return self.parse(response)


def problem_of(response: httpx.Response) -> ApiError:
    """The exception for an error answer, from its problem+json body, or from the status when there is none."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "title" not in body:
        text = " ".join(response.text.split())[:300]
        body = {"title": response.reason_phrase or f"HTTP {response.status_code}", "detail": text}
    body.setdefault("status", response.status_code)
    return error_for(response.status_code, body)


def _model(model: type[M]) -> Callable[[httpx.Response], M]:
    return lambda response: model.model_validate(response.json())


def _field(key: str, adapter: TypeAdapter[T]) -> Callable[[httpx.Response], T]:
    return lambda response: adapter.validate_python(response.json()[key])


def _written(parse: Callable[[httpx.Response], T]) -> Callable[[httpx.Response], T]:
    """`parse` for a change that may wait for the replicas: a 202 is the rollout as it stood when the wait ran out."""

    def written(response: httpx.Response) -> T:
        if response.status_code == httpx.codes.ACCEPTED:
            raise RolloutPending(Rollout.model_validate(response.json()))
        return parse(response)

    return written


def _text(response: httpx.Response) -> str:
    return response.text


def _nothing(response: httpx.Response) -> None:
    return None


def _json(response: httpx.Response) -> Any:
    return response.json()


def _path(name: str) -> str:
    # Names are checked by the server; quoting keeps a stray "/" from turning into another route.
    return "/pipelines/" + quote(name, safe="")


def _preconditions(if_match: int | None, create_only: bool) -> dict[str, str]:
    headers = {}
    if if_match is not None:
        headers["If-Match"] = f'"{if_match}"'
    if create_only:
        headers["If-None-Match"] = "*"
    return headers


def _rollout(wait: str | None, wait_timeout: float | None) -> dict[str, str]:
    params = {}
    if wait is not None:
        params["wait"] = wait
    if wait_timeout is not None:
        params["timeout"] = str(wait_timeout)
    return params


def _flags(**flags: bool) -> dict[str, str]:
    return {key: "true" for key, value in flags.items() if value}


# -- pipelines ----------------------------------------------------------------------------------------------------


def list_pipelines() -> Call[list[PipelineSummary]]:
    """Every pipeline: name, revision, state, labels, times."""
    return Call("GET", "/pipelines", _field("pipelines", TypeAdapter(list[PipelineSummary])))


def get_pipeline(name: str) -> Call[Pipeline]:
    """One pipeline with its YAML and state."""
    return Call("GET", _path(name), _model(Pipeline), headers={"Accept": "application/json"})


def get_yaml(name: str) -> Call[str]:
    """The live YAML exactly as it was sent."""
    return Call("GET", _path(name), _text, headers={"Accept": YAML_MEDIA_TYPE})


def put_pipeline(
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
) -> Call[WriteResult]:
    """Create or replace a pipeline. `if_match=N` refuses (RevisionConflict) unless revision N is live;
    `create_only` refuses if it exists. `wait="all"` answers once every replica serves the change, or raises
    `RolloutPending` (the change is made) when `wait_timeout` seconds pass first."""
    body = {"yaml": yaml, "description": description, "labels": dict(labels or {}), "message": message}
    return Call(
        "PUT",
        _path(name),
        _written(_model(WriteResult)),
        params=_rollout(wait, wait_timeout),
        json=body,
        headers=_preconditions(if_match, create_only),
    )


def patch_pipeline(
    name: str,
    *,
    enabled: bool | None = None,
    description: str | None = None,
    labels: Mapping[str, str] | None = None,
    message: str = "",
    if_match: int | None = None,
) -> Call[WriteResult]:
    """Enable or disable a pipeline, or change its description or labels."""
    body: dict[str, Any] = {"message": message}
    if enabled is not None:
        body["enabled"] = enabled
    if description is not None:
        body["description"] = description
    if labels is not None:
        body["labels"] = dict(labels)
    return Call("PATCH", _path(name), _model(WriteResult), json=body, headers=_preconditions(if_match, False))


def delete_pipeline(
    name: str, *, if_match: int | None = None, wait: str | None = None, wait_timeout: float | None = None
) -> Call[None]:
    """Delete a pipeline; `wait="all"` as for `put_pipeline`."""
    return Call(
        "DELETE",
        _path(name),
        _written(_nothing),
        params=_rollout(wait, wait_timeout),
        headers=_preconditions(if_match, False),
    )


def apply(
    items: Sequence[ApplyItem],
    *,
    prune: bool = False,
    dry_run: bool = False,
) -> Call[ApplyResult]:
    """Apply a set of pipelines in one transaction; a refused member raises InvalidDefinition
    whose `problems` names each."""
    return Call(
        "PUT",
        "/pipelines",
        _model(ApplyResult),
        params=_flags(prune=prune, dry_run=dry_run),
        json=[item.model_dump(include={"name", "yaml", "description", "labels", "message"}) for item in items],
    )


# -- runs -----------------------------------------------------------------------------------------------------------


def run(
    name: str, data: Mapping[str, Any] | None = None, include_outputs_from: Sequence[str] | None = None
) -> Call[RunResult]:
    """Run a pipeline with inputs, flat or per component."""
    body: dict[str, Any] = {"data": dict(data or {})}
    if include_outputs_from is not None:
        body["include_outputs_from"] = list(include_outputs_from)
    return Call("POST", _path(name) + "/run", _model(RunResult), json=body)


def upload_files(
    name: str, files: Sequence[UploadFile], params: Mapping[str, Any] | None = None, meta: Any = None
) -> Call[UploadResult]:
    """Send files `(name, bytes, media type)` into an indexing pipeline; `meta`: one object, or one per file."""
    import json

    form = {"params": json.dumps(dict(params or {}))}
    if meta is not None:
        form["meta"] = json.dumps(meta)
    return Call(
        "POST", _path(name) + "/files", _model(UploadResult), files=[("files", file) for file in files], data=form
    )


def schema(name: str) -> Call[PipelineSchema]:
    """JSON Schema of a pipeline's inputs and outputs."""
    return Call("GET", _path(name) + "/schema", _model(PipelineSchema))


# -- history --------------------------------------------------------------------------------------------------------


def revisions(name: str, *, limit: int = 20, offset: int = 0) -> Call[RevisionPage]:
    """A pipeline's revisions, newest first."""
    params = {"limit": str(limit), "offset": str(offset)}
    return Call("GET", _path(name) + "/revisions", _model(RevisionPage), params=params)


def revision(name: str, number: int) -> Call[RevisionDetail]:
    """One revision, with its YAML."""
    return Call("GET", f"{_path(name)}/revisions/{number}", _model(RevisionDetail))


def diff(name: str, from_revision: int | None = None, to_revision: int | None = None) -> Call[Diff]:
    """Unified diff of two revisions (default: the previous one against the live one)."""
    params = {}
    if from_revision is not None:
        params["from"] = str(from_revision)
    if to_revision is not None:
        params["to"] = str(to_revision)
    return Call("GET", _path(name) + "/diff", _model(Diff), params=params, headers={"Accept": "application/json"})


def rollback(name: str, revision: int, *, message: str = "", if_match: int | None = None) -> Call[WriteResult]:
    """Make an earlier revision live again, as a new revision."""
    body = {"revision": revision, "message": message}
    return Call(
        "POST", _path(name) + "/rollback", _model(WriteResult), json=body, headers=_preconditions(if_match, False)
    )


def validate(
    yaml: str,
    *,
    name: str | None = None,
    sample_input: Mapping[str, Any] | None = None,
    allow_writes: bool = False,
) -> Call[ValidationReport]:
    """Check a definition without storing it; `sample_input` also simulates one run."""
    body: dict[str, Any] = {"yaml": yaml, "allow_writes": allow_writes}
    if name is not None:
        body["name"] = name
    if sample_input is not None:
        body["sample_input"] = dict(sample_input)
    return Call("POST", "/validate", _model(ValidationReport), json=body)


def audit(
    *,
    pipeline: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Call[list[AuditEntry]]:
    """Management actions, newest first."""
    params = {"limit": str(limit), "offset": str(offset)}
    for key, value in {"pipeline": pipeline, "actor": actor}.items():
        if value is not None:
            params[key] = value
    for key, moment in {"since": since, "until": until}.items():
        if moment is not None:
            params[key] = moment.isoformat()
    return Call("GET", "/audit", _field("entries", TypeAdapter(list[AuditEntry])), params=params)


# -- operations -----------------------------------------------------------------------------------------------------


def health() -> Call[Health]:
    """Liveness (`/healthz`)."""
    return Call("GET", "/healthz", _model(Health))


def _readiness(response: httpx.Response) -> Health:
    body = response.json()
    return Health.model_validate({**body, "ready": response.status_code == httpx.codes.OK})


def ready() -> Call[Health]:
    """Readiness (`/readyz`); `ready` is false while the server starts."""
    return Call("GET", "/readyz", _readiness, accepted=frozenset({503}))


def status() -> Call[Status]:
    """The answering process: version, replica, store, each pipeline's state."""
    return Call("GET", "/status", _model(Status))


def metrics() -> Call[str]:
    """Prometheus metrics, as text."""
    return Call("GET", "/metrics", _text)


def pipeline_ready(name: str) -> Call[PipelineReadiness]:
    """Whether the answering process serves one pipeline."""
    return Call("GET", _path(name) + "/ready", _model(PipelineReadiness))


def replicas() -> Call[list[Replica]]:
    """The server's live replicas: host, generation applied, the revision of each pipeline each serves."""
    return Call("GET", "/replicas", _field("replicas", TypeAdapter(list[Replica])))


def rollout(name: str) -> Call[Rollout]:
    """How far a pipeline's latest change has reached the replicas."""
    return Call("GET", _path(name) + "/rollout", _model(Rollout))


def raw(method: str, path: str, *, json: Any = None, params: Mapping[str, str] | None = None) -> Call[Any]:
    """Any other route (one newer than this client): the decoded JSON answer, or None when there is no body."""
    return Call(method, path, lambda r: r.json() if r.content else None, params=dict(params or {}), json=json)
