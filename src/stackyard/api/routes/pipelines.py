"""Managing pipelines: list, read, create or replace, delete."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from stackyard.api.bodies import Name, PipelineDetail, PipelineList, PipelineSummary, WriteAnswer, problems
from stackyard.api.definitions import DEFINITION_REQUEST_BODY, read_definition
from stackyard.api.dependencies import Actor, AppState, State, Stored
from stackyard.api.headers import etag, expectation, preferred
from stackyard.api.routes.replicas import wait_for_rollout, wait_requested
from stackyard.serving.sharing import warnings_for
from stackyard.store import Outcome, PipelineRecord, WriteResult

router = APIRouter(prefix="/pipelines", tags=["pipelines"])

PROBLEMS = problems(
    {
        400: "Bad request: invalid name, body or header",
        404: "No such pipeline",
        412: "The pipeline changed since you read it",
        413: "The definition is too large",
        415: "Unsupported content type",
        422: "The definition is not valid",
    }
)


def summary(state: AppState, record: PipelineRecord) -> PipelineSummary:
    live = state.registry.get(record.name)
    failure = state.registry.failure(record.name)
    return PipelineSummary(
        name=record.name,
        revision=record.revision,
        description=record.description,
        labels=record.labels,
        enabled=record.enabled,
        state=state.registry.state(record.name, record.revision),
        live_revision=live.revision if live else None,
        error=failure.error if failure and failure.revision >= record.revision else None,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def detail(state: AppState, record: PipelineRecord) -> PipelineDetail:
    return PipelineDetail(**summary(state, record).model_dump(), yaml=record.yaml)


@router.get("", summary="List pipelines", response_model=PipelineList)
async def list_pipelines(state: State) -> PipelineList:
    records = await anyio.to_thread.run_sync(state.store.pipelines)
    return PipelineList(pipelines=[summary(state, record) for record in records])


@router.get(
    "/{name}",
    summary="Read a pipeline's definition and state",
    response_model=PipelineDetail,
    responses={200: {"content": {"application/yaml": {"schema": {"type": "string"}}}}, **PROBLEMS},
)
async def get_pipeline(record: Stored, request: Request, state: State) -> Response:
    headers = {"ETag": etag(record.revision)}
    if preferred(request, ["application/json", "application/yaml"]) == "application/yaml":
        return PlainTextResponse(record.yaml, media_type="application/yaml", headers=headers)
    return JSONResponse(detail(state, record).model_dump(mode="json"), headers=headers)


def write_response(state: AppState, result: WriteResult, warnings: list[str] | None = None) -> JSONResponse:
    body = WriteAnswer(
        **detail(state, result.record).model_dump(),
        outcome=result.outcome.value,
        generation=result.generation,
        warnings=warnings or [],
    )
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=201 if result.outcome is Outcome.CREATED else 200,
        headers={
            "ETag": etag(result.record.revision),
            "Location": f"/pipelines/{result.record.name}",
            "X-Stackyard-Generation": str(result.generation),
        },
    )


@router.put(
    "/{name}",
    summary="Create or replace a pipeline",
    description="Builds and warms up the new revision first; only a definition that works is stored and swapped "
    "in. A body identical to the live revision changes nothing.",
    response_model=WriteAnswer,
    responses={201: {"model": WriteAnswer, "description": "Created"}, **PROBLEMS},
    openapi_extra=DEFINITION_REQUEST_BODY,
)
async def put_pipeline(name: Name, request: Request, state: State, actor: Actor) -> JSONResponse:
    wait = wait_requested(request)
    change = await read_definition(request, name, actor)
    result = await state.manager.put(change, expectation(request))
    pending = await wait_for_rollout(state, name, result.record.revision, result.generation, wait)
    live = state.registry.get(name)
    builds = [live.build] if live else []
    warnings = [text for build in builds for text in build.definition.warnings]
    warnings += await warnings_for(state.settings, state.store, builds)
    return pending or write_response(state, result, warnings)


@router.delete(
    "/{name}",
    summary="Delete a pipeline",
    status_code=204,
    response_class=Response,
    responses=PROBLEMS,
)
async def delete_pipeline(name: Name, request: Request, state: State, actor: Actor) -> Response:
    wait = wait_requested(request)
    result = await state.manager.delete(name, expectation(request), actor)
    pending = await wait_for_rollout(state, name, None, result.generation, wait)
    return pending or Response(status_code=204, headers={"X-Stackyard-Generation": str(result.generation)})
