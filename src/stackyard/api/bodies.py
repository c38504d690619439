"""Request and response bodies of the HTTP API, as pydantic models (they are also the OpenAPI schemas), and the
reading of a submitted definition, YAML or JSON."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Path, Query, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.config import JsonDict

from stackyard.api.problems import not_valid
from stackyard.errors import InvalidRequest, UnsupportedMediaType, trim
from stackyard.json_types import Labels
from stackyard.serving.registry import ServingState
from stackyard.store import Change

# The largest number a store column for revisions, counts and offsets holds (PostgreSQL's integer), and the largest
# row id (bigserial): bounds in the OpenAPI document, so a larger number is a 422, never an overflow in the store.
MAX_INT = 2**31 - 1
MAX_ID = 2**63 - 1


class RequestBody(BaseModel):
    """Base of every JSON request body: unknown members are refused and types are exact (`0` is not `false`, `"3"`
    is not `3`), as the OpenAPI document says."""

    model_config = ConfigDict(extra="forbid", strict=True)


def one_of_required(**members: JsonDict) -> JsonDict:
    """A JSON Schema that needs at least one of `members`, each present with the schema given (not null): how a
    body with several optional members, of which one must be sent, is described to clients and fuzzers."""
    return {"anyOf": [{"required": [name], "properties": {name: schema}} for name, schema in members.items()]}


def _rfc3339(value: object) -> object:
    # pydantic reads a number as seconds since the epoch; the document says date-time, so only ISO 8601 text is one.
    return datetime.fromisoformat(value) if isinstance(value, str) else value


Timestamp = Annotated[datetime, BeforeValidator(_rfc3339)]
"""A date-time query parameter: ISO 8601 / RFC 3339 text, such as 2026-11-28T12:00:00Z."""


Offset = Annotated[int, Query(ge=0, le=MAX_INT, description="How many items to skip.")]
RevisionNumber = Annotated[int, Path(ge=1, le=MAX_INT, description="A revision number of the pipeline.")]


class DefinitionBody(RequestBody):
    """The JSON form of `PUT /pipelines/{name}`; the YAML form sends the YAML text alone."""

    yaml: str = Field(description="The Haystack pipeline YAML, optionally with `inputs:` and `outputs:` sections.")
    description: str = Field(default="", max_length=2000)
    labels: Labels = Field(default_factory=dict)
    message: str = Field(default="", max_length=2000, description="Why this change was made (kept with the revision).")


class PipelineSummary(BaseModel):
    name: str
    revision: int
    description: str
    labels: dict[str, str]
    enabled: bool
    state: ServingState
    live_revision: int | None = Field(description="The revision this process serves (may trail `revision` briefly).")
    error: str | None = Field(default=None, description="Why the stored revision does not serve here, if it does not.")
    created_at: datetime
    updated_at: datetime


class PipelineDetail(PipelineSummary):
    yaml: str


class PipelineList(BaseModel):
    pipelines: list[PipelineSummary]


class WriteAnswer(PipelineDetail):
    outcome: str = Field(description="created, updated or unchanged")
    generation: int
    warnings: list[str] = Field(default_factory=list, description="Risks of this deployment, e.g. per-process stores.")


class RunRequest(RequestBody):
    data: dict[str, Any] = Field(
        default_factory=dict,
        description='Inputs, flat (`{"query": "..."}`, friendly names included) or per component '
        '(`{"retriever": {"query": "..."}}`).',
    )
    include_outputs_from: list[str] | None = Field(
        default=None, description="Components whose outputs to return even when other components consume them."
    )
    stream: bool = Field(
        default=False,
        description="Answer as Server-Sent Events (as `Accept: text/event-stream` does): `chunk` events as "
        "components stream, then a `result` event with this same body, or an `error` event with a problem.",
    )


class RunResponse(BaseModel):
    pipeline: str
    revision: int
    result: dict[str, Any]


class PipelineSchema(BaseModel):
    pipeline: str
    revision: int
    inputs: dict[str, Any] = Field(description="JSON Schema of the `data` object of a run.")
    outputs: dict[str, Any] = Field(description="JSON Schema of the `result` object of a run.")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None


def problems(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for error statuses, each an RFC 9457 problem (the document renders them as such)."""
    return {status: {"model": Problem, "description": text} for status, text in descriptions.items()}


# -- reading a submitted definition (YAML or JSON) -------------------------------------------------------------

Body = TypeVar("Body", bound=BaseModel)
YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain"})

# OpenAPI description of the two accepted bodies, since the handler reads the body itself.
DEFINITION_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "application/json": {"schema": DefinitionBody.model_json_schema()},
        },
    }
}


async def read_yaml_or_json(request: Request, model: type[Body]) -> Body:
    """A body that is either YAML alone (it becomes `model(yaml=...)`) or JSON for `model`, with a clear 4xx."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    body = await request.body()  # bounded by the body limit; the YAML's own limit is checked when it is parsed
    if media_type in YAML_TYPES:
        try:
            return model.model_validate({"yaml": body.decode("utf-8")})
        except UnicodeDecodeError:
            raise InvalidRequest("The YAML body is not UTF-8 text.") from None
    if media_type == "application/json" or media_type.endswith("+json"):
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InvalidRequest("The body is not valid JSON.") from None
        try:
            return model.model_validate(payload)
        except ValidationError as error:
            raise not_valid([{**item, "loc": ("body", *item["loc"])} for item in error.errors()]) from None
    raise UnsupportedMediaType(
        f"Send application/yaml, or application/json with a 'yaml' field (got {media_type or 'no content type'!r})."
    )


async def read_definition(request: Request, name: str, author: str = "anonymous") -> Change:
    """The change a PUT body asks for. YAML bodies carry the definition alone; JSON adds description and labels."""
    parsed = await read_yaml_or_json(request, DefinitionBody)
    return Change(
        name=name,
        yaml=parsed.yaml,
        description=parsed.description,
        labels=parsed.labels,
        author=author,
        message=parsed.message or trim(request.headers.get("x-change-message", ""), 2000),
    )
