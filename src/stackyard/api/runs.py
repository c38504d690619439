"""Running pipelines and describing their inputs: the request path, which never touches the store."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from stackyard.api.bodies import PipelineSchema, Problem, RunRequest, RunResponse
from stackyard.api.limits import RunLimits
from stackyard.api.pipelines import Name
from stackyard.api.running import missing as _missing
from stackyard.api.running import run_on_live
from stackyard.api.state import AppState, RegistryDep
from stackyard.names import check_name
from stackyard.registry import LiveRevision, Registry
from stackyard.runs import run_build
from stackyard.schema import input_schema, output_schema

router = APIRouter(prefix="/pipelines", tags=["runs"])
RUN_PROBLEMS: dict[int | str, dict[str, object]] = {
    status: {"model": Problem, "description": text}
    for status, text in {
        400: "Bad request",
        429: "Too many runs of this pipeline at once",
        404: "No such pipeline",
        422: "The inputs do not fit the pipeline",
        500: "A component failed",
        503: "The pipeline is disabled or does not serve on this process",
        504: "The run took longer than the run timeout",
    }.items()
}


@router.post(
    "/{name}/run",
    summary="Run a pipeline",
    response_model=RunResponse,
    responses=RUN_PROBLEMS,
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": RunRequest.model_json_schema()}}}
    },
)
async def run_pipeline(name: Name, request: Request) -> Response:
    # The hot path: no dependency injection and no FastAPI body handling. State comes straight from the app, and
    # pydantic validates the raw bytes in one pass; errors go to the same handler as FastAPI's own (400/422).
    state: AppState = request.app.state.stackyard
    limits: RunLimits = request.app.state.run_limits
    try:
        body = RunRequest.model_validate_json(await request.body() or b"{}")
    except ValidationError as error:
        raise RequestValidationError(error.errors(include_url=False)) from None

    def work(live: LiveRevision) -> dict[str, Any]:
        return run_build(live.build, body.data, body.include_outputs_from, state.manager.policy)

    live, result = await run_on_live(state, limits, name, work)
    # The revision reported is the one this run started on, even if a newer one went live meanwhile.
    payload = {"pipeline": name, "revision": live.revision, "result": result}
    return Response(
        json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
        media_type="application/json",
        headers={"X-Stackyard-Revision": str(live.revision)},
    )


def _live(registry: Registry, name: str) -> LiveRevision:
    live = registry.get(name)
    if live is None:
        raise _missing(registry, check_name(name))
    return live


@router.get(
    "/{name}/schema",
    summary="JSON Schema of a pipeline's run inputs and outputs",
    response_model=PipelineSchema,
    responses=RUN_PROBLEMS,
)
async def pipeline_schema(name: Name, registry: RegistryDep) -> PipelineSchema:
    live = _live(registry, name)
    return PipelineSchema(
        pipeline=name, revision=live.revision, inputs=input_schema(live.build), outputs=output_schema(live.build)
    )
