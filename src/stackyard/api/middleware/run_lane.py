"""Running pipelines and describing their inputs: the request path, which never touches the store."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from stackyard.api.bodies import Name, PipelineSchema, RunRequest, RunResponse, problems
from stackyard.api.dependencies import AppState, RegistryDep
from stackyard.api.middleware.body_limit import RunLimits
from stackyard.api.problems import problem_for
from stackyard.definitions.schema import input_schema, output_schema
from stackyard.serving.leases import missing as _missing
from stackyard.serving.leases import run_on_live
from stackyard.serving.registry import LiveRevision, Registry
from stackyard.serving.runner import run_build

router = APIRouter(prefix="/pipelines", tags=["runs"])
RUN_PROBLEMS = problems(
    {
        400: "Bad request",
        429: "Too many runs of this pipeline at once",
        404: "No such pipeline",
        422: "The inputs do not fit the pipeline",
        500: "A component failed",
        503: "The pipeline is disabled or does not serve on this process",
        504: "The run took longer than the run timeout",
    }
)


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
    # Documents the route; requests are answered by `RunLane` before they reach FastAPI's routing.
    return await run_endpoint(request)


async def run_endpoint(request: Request) -> Response:
    """Answer `POST /pipelines/{name}/run`: the hot path, so nothing runs here that a run does not need.

    No dependency injection and no FastAPI body handling: state comes straight from the app, and pydantic validates
    the raw bytes in one pass. Errors go to the same handlers as FastAPI's own (400/422 problem+json).
    """
    name: str = request.path_params["name"]
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


class RunLane:
    """ASGI: sends `POST /pipelines/{name}/run` straight to `run_endpoint`, everything else on to `app`.

    Placed inside Stackyard's own middleware (request log, access control, body limits) and outside FastAPI's
    layers (error middleware, exception handling, exit stack, routing), which together cost more than running a
    small pipeline does. Errors are answered by the same problem handlers the app installs.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.route = Route("/pipelines/{name}/run", run_endpoint, methods=["POST"], name="run_pipeline")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            match, child = self.route.matches(scope)
            if match is Match.FULL:
                scope.update(child)
                scope["route"] = self.route  # as FastAPI's routing does: logs and spans read the template
                request = Request(scope, receive)
                try:
                    response = await run_endpoint(request)
                except Exception as error:
                    response = await problem_for(request, error)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _live(registry: Registry, name: str) -> LiveRevision:
    live = registry.get(name)
    if live is None:
        raise _missing(registry, name)
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
