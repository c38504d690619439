"""The run lane: `POST /pipelines/{name}/run`, the hot path, answered before FastAPI's layers; and the other run
of a pipeline a client waits on token by token, `POST /v1/chat/completions` (`api/routes/openai.py`).

Reached through Stackyard's own middleware (request log, access control, body limits) and apart from FastAPI's
layers (error middleware, exception handling, exit stack, routing), which together cost more than running a
small pipeline does. The path goes one way: the lane reads the body, `Leases.run` takes the gate and the lease and
sends the run to a cell, where the inputs are routed and the pipeline runs (`cell.work`). The store is never
touched here, so a store outage does not stop serving. Errors are answered by the same problem handlers the app
installs.

The lane is not a FastAPI route, so the OpenAPI document learns of it from `DESCRIPTION`, a route that is never
mounted.
"""

from __future__ import annotations

import json

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from stackyard.api.answers import RUN_PROBLEMS
from stackyard.api.bodies import RunRequest, RunResponse
from stackyard.api.dependencies import AppState, Name
from stackyard.api.event_stream import stream_run, wants_stream
from stackyard.api.problems import problem_for, problem_response
from stackyard.api.routes.openai import CHAT_PATH, ChatCompletionRequest, chat_completion
from stackyard.errors import MethodNotAllowed
from stackyard.wire.jobs import Run

PATH = "/pipelines/{name}/run"


async def run_endpoint(request: Request) -> Response:
    """Answer one run. No dependency injection and no FastAPI body handling: state comes straight from the app,
    and pydantic validates the raw bytes in one pass."""
    name: str = request.path_params["name"]
    state: AppState = request.app.state.stackyard
    try:
        body = RunRequest.model_validate_json(await request.body() or b"{}")
    except ValidationError as error:
        raise RequestValidationError(error.errors(include_url=False)) from None
    if wants_stream(request, body):
        return await stream_run(request, state, name, body)
    live, result = await state.leases.run(name, Run(body.data, body.include_outputs_from))
    # The revision reported is the one this run started on, even if a newer one went live meanwhile. The result
    # is the cell's JSON text, passed on as it is: the server never decodes it.
    head = json.dumps({"pipeline": name, "revision": live.revision}, ensure_ascii=False, separators=(",", ":"))
    return Response(
        head[:-1].encode() + b',"result":' + result + b"}",
        media_type="application/json",
        headers={"X-Stackyard-Revision": str(live.revision)},
    )


ROUTE = Route(PATH, run_endpoint, name="run_pipeline")
CHAT_ROUTE = Route(CHAT_PATH, chat_completion, methods=["POST"], name="chat_completion")


def takes(scope: Scope) -> bool:
    """Whether a request belongs to the run lane: any method on the run path (the lane answers 405 but for POST),
    and a chat completion (POST only: FastAPI answers the other methods, as for any route of its own)."""
    if scope["type"] != "http":
        return False
    if scope["path"] == CHAT_PATH:
        return bool(scope["method"] == "POST")
    return ROUTE.matches(scope)[0] is not Match.NONE


async def run_lane(scope: Scope, receive: Receive, send: Send) -> None:
    """ASGI: answer a request on the run path (`takes`): `run_endpoint` for POST, 405 for any other method.

    The app sends only the run path here, behind its own middleware: every other request goes to FastAPI's stack
    and never passes this module.
    """
    if scope["path"] == CHAT_PATH:
        await _chat_lane(scope, receive, send)
        return
    scope.update(ROUTE.matches(scope)[1])
    scope["route"] = ROUTE  # as FastAPI's routing does: logs and spans read the template
    if scope["method"] != "POST":
        refused = MethodNotAllowed(f"{scope['method']} is not a method of {scope['path']}; it takes POST.")
        await problem_response(refused, scope["path"], {"Allow": "POST"})(scope, receive, send)
        return
    request = Request(scope, receive)
    try:
        response = await run_endpoint(request)
    except Exception as error:
        response = await problem_for(request, error)
    await response(scope, receive, send)


async def _chat_lane(scope: Scope, receive: Receive, send: Send) -> None:
    """`POST /v1/chat/completions`: the body validated in one pass, then the route's own function; its problems are
    answered as FastAPI would answer them (the route answers the OpenAI-shaped ones itself)."""
    scope["route"] = CHAT_ROUTE
    request = Request(scope, receive)
    try:
        try:
            body = ChatCompletionRequest.model_validate_json(await request.body() or b"{}")
        except ValidationError as error:
            raise RequestValidationError(error.errors(include_url=False)) from None
        response = await chat_completion(request, body)
    except Exception as error:
        response = await problem_for(request, error)
    await response(scope, receive, send)


async def _described(name: Name, body: RunRequest) -> RunResponse:  # pragma: no cover - describes, never runs
    raise NotImplementedError("the run lane answers this path")


DESCRIPTION = APIRoute(
    PATH,
    _described,
    methods=["POST"],
    summary="Run a pipeline",
    description="Inputs flat (friendly names included) or per component; the answer names the revision the run "
    "started on. Answered by the run lane, before FastAPI's routing.",
    response_model=RunResponse,
    responses=RUN_PROBLEMS,
    tags=["runs"],
    name="run_pipeline",
)
"""The run lane as the OpenAPI document describes it (`problem_openapi` adds it); never mounted."""
