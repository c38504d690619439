"""Managing pipelines: list, read, create or replace, delete; the JSON Schema of a pipeline's runs."""

from __future__ import annotations

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from stackyard.api.answers import PROBLEMS, RUN_PROBLEMS, deploy_warnings, detail, summary, write_response
from stackyard.api.bodies import (
    DEFINITION_REQUEST_BODY,
    PipelineDetail,
    PipelineList,
    PipelineSchema,
    WriteAnswer,
    read_definition,
)
from stackyard.api.dependencies import Actor, Name, RegistryDep, State, Stored
from stackyard.api.headers import expectation, preferred, revision_headers, wait_requested
from stackyard.api.rollouts import wait_for_rollout
from stackyard.serving.leases import missing

router = APIRouter(prefix="/pipelines", tags=["pipelines"])


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
    headers = revision_headers(record.revision)
    if preferred(request, ["application/json", "application/yaml"]) == "application/yaml":
        return PlainTextResponse(record.yaml, media_type="application/yaml", headers=headers)
    return JSONResponse(detail(state, record).model_dump(mode="json"), headers=headers)


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
    applied = await state.manager.put(change, expectation(request))
    result = applied.result
    if wait is not None and (
        pending := await wait_for_rollout(state, name, result.record.revision, result.generation, wait)
    ):
        return pending
    return write_response(state, applied, await deploy_warnings(state, applied.info))


@router.delete(
    "/{name}",
    summary="Delete a pipeline",
    status_code=204,
    response_class=Response,
    responses=PROBLEMS,
)
async def delete_pipeline(name: Name, request: Request, state: State, actor: Actor) -> Response:
    wait = wait_requested(request)
    result = (await state.manager.delete(name, expectation(request), actor)).result
    if wait is not None:
        pending = await wait_for_rollout(state, name, None, result.generation, wait)
        if pending is not None:
            return pending
    return Response(status_code=204, headers={"X-Stackyard-Generation": str(result.generation)})


@router.get(
    "/{name}/schema",
    summary="JSON Schema of a pipeline's run inputs and outputs",
    response_model=PipelineSchema,
    responses=RUN_PROBLEMS,
)
async def pipeline_schema(name: Name, registry: RegistryDep) -> PipelineSchema:
    live = registry.get(name)
    if live is None:
        raise missing(registry, name)
    return PipelineSchema(
        pipeline=name, revision=live.revision, inputs=live.info.inputs_schema, outputs=live.info.outputs_schema
    )
