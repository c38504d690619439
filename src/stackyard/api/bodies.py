"""Request and response bodies of the HTTP API, as pydantic models (they are also the OpenAPI schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Path, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.config import JsonDict

from stackyard.definitions.names import NAME_PATTERN, check_name
from stackyard.serving.registry import State


async def _pipeline_name(
    # Declared in the OpenAPI document but checked by `check_name`, so a bad name gets its own problem (400).
    name: Annotated[
        str,
        Path(description=f"The pipeline name, matching {NAME_PATTERN}", json_schema_extra={"pattern": NAME_PATTERN}),
    ],
) -> str:
    return check_name(name)


Name = Annotated[str, Depends(_pipeline_name)]
"""The `{name}` path parameter of every pipeline route, checked once, here."""


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
    labels: dict[str, str] = Field(default_factory=dict)
    message: str = Field(default="", max_length=2000, description="Why this change was made (kept with the revision).")


class PipelineSummary(BaseModel):
    name: str
    revision: int
    description: str
    labels: dict[str, str]
    enabled: bool
    state: State
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
