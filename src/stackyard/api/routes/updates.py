"""Changing pipelines beyond create/replace/delete: patch, rollback, and the declarative apply of many."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from stackyard.api.answers import PROBLEMS, write_response
from stackyard.api.bodies import MAX_INT, RequestBody, WriteAnswer, one_of_required
from stackyard.api.dependencies import Actor, Name, State, Stored
from stackyard.api.headers import expectation
from stackyard.definitions.names import NAME_PATTERN, check_name
from stackyard.errors import InvalidRequest
from stackyard.json_types import Integer, Labels
from stackyard.store import Change

router = APIRouter(prefix="/pipelines", tags=["changes"])


class PatchBody(RequestBody):
    model_config = ConfigDict(
        json_schema_extra=one_of_required(
            enabled={"type": "boolean"}, description={"type": "string"}, labels={"type": "object"}
        )
    )

    enabled: bool | None = Field(default=None, description="false keeps the definition but refuses runs (503)")
    description: str | None = Field(default=None, max_length=2000)
    labels: Labels | None = None
    message: str = Field(default="", max_length=2000)


class RollbackBody(RequestBody):
    revision: Integer = Field(ge=1, le=MAX_INT, description="The revision to make live again, as a new revision")
    message: str = Field(default="", max_length=2000)


class ApplyItem(RequestBody):
    name: str = Field(json_schema_extra={"pattern": NAME_PATTERN}, description="The pipeline name")
    yaml: str
    description: str = Field(default="", max_length=2000)
    labels: Labels = Field(default_factory=dict)
    message: str = Field(default="", max_length=2000)


class ApplyAnswer(BaseModel):
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    deleted: list[str]
    dry_run: bool
    generation: int | None


@router.patch(
    "/{name}",
    summary="Enable or disable a pipeline, or change its description or labels",
    description="`enabled` switches serving without a new revision; a new description or labels make a new revision "
    "with the same YAML.",
    response_model=WriteAnswer,
    responses=PROBLEMS,
)
async def patch_pipeline(name: Name, body: PatchBody, request: Request, state: State, actor: Actor) -> JSONResponse:
    if body.description is None and body.labels is None and body.enabled is None:
        raise InvalidRequest("Send at least one of 'enabled', 'description' or 'labels'.")
    result = await state.manager.patch(
        name,
        enabled=body.enabled,
        description=body.description,
        labels=body.labels,
        expect=expectation(request),
        actor=actor,
        message=body.message or request.headers.get("x-change-message", ""),
    )
    return write_response(state, result)


@router.post(
    "/{name}/rollback",
    summary="Make an earlier revision live again",
    description="The old revision's YAML, description and labels become a new revision; history stays append-only.",
    response_model=WriteAnswer,
    responses=PROBLEMS,
)
async def rollback_pipeline(
    stored: Stored, body: RollbackBody, request: Request, state: State, actor: Actor
) -> JSONResponse:
    name = stored.name
    message = body.message or request.headers.get("x-change-message", "")
    result = await state.manager.rollback(name, body.revision, expectation(request), actor, message)
    return write_response(state, result)


@router.put(
    "",
    summary="Apply a set of pipelines declaratively",
    description="Every definition is validated first; then all are stored in one transaction (all or nothing). "
    "`prune=true` deletes stored pipelines missing from the set; `dry_run=true` only reports.",
    response_model=ApplyAnswer,
    responses=PROBLEMS,
)
async def apply_pipelines(
    items: list[ApplyItem],
    state: State,
    actor: Actor,
    prune: bool = Query(default=False),
    dry_run: bool = Query(default=False),
) -> ApplyAnswer:
    changes = [
        Change(
            name=check_name(item.name),
            yaml=item.yaml,
            description=item.description,
            labels=item.labels,
            author=actor,
            message=item.message,
        )
        for item in items
    ]
    report = await state.manager.apply(changes, prune=prune, dry_run=dry_run, actor=actor)
    return ApplyAnswer(
        created=report.created,
        updated=report.updated,
        unchanged=report.unchanged,
        deleted=report.deleted,
        dry_run=dry_run,
        generation=report.generation,
    )
