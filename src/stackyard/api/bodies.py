"""Request and response bodies of the HTTP API, as pydantic models (they are also the OpenAPI schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from stackyard.names import NAME_PATTERN, check_name
from stackyard.registry import State


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


class DefinitionBody(BaseModel):
    """The JSON form of `PUT /pipelines/{name}`; the YAML form sends the YAML text alone."""

    model_config = ConfigDict(extra="forbid")

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


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

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
