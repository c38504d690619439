"""Rendering every error as RFC 9457 problem+json, from one place."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

from stackyard.errors import (
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    RequestNotValid,
    RouteNotFound,
    StackyardError,
    trim,
)

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


def problem_response(error: StackyardError, path: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The answer to `error` at `path`: its problem+json body, its status, its own headers and any `headers` added.

    The one place a problem becomes a response: the exception handlers and the ASGI middlewares use it alike.
    """
    return JSONResponse(
        error.to_problem(instance=path),
        status_code=error.status,
        media_type=PROBLEM_JSON,
        headers={**(error.headers or {}), **(headers or {})} or None,
    )


async def _stackyard_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StackyardError)
    return problem_response(error, request.url.path)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = error.errors()
    if any(item.get("type") == "json_invalid" for item in errors):
        return problem_response(InvalidRequest("The body is not valid JSON."), request.url.path)
    return problem_response(not_valid(errors), request.url.path)


def not_valid(errors: Sequence[Any]) -> RequestNotValid:
    """pydantic's validation errors as one problem: a summary, and each misfit with where it is (at most 20)."""
    details: list[dict[str, Any]] = [
        {"location": ".".join(str(part) for part in item.get("loc", ())), "message": trim(str(item.get("msg")), 200)}
        for item in errors[:20]
    ]
    summary = "; ".join(f"{item['location']}: {item['message']}" for item in details[:3])
    return RequestNotValid(summary, errors=details)


TOO_DEEP = "The request nests its values too deeply to be read; flatten it (a few dozen levels at most)."


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    # Starlette's own refusals: no route (404), a method the path does not take (405), a form it cannot parse (400).
    assert isinstance(error, StarletteHTTPException)
    path = request.url.path
    if error.status_code == 404:
        return problem_response(RouteNotFound(f"There is no route {path}."), path)
    if error.status_code == 405:
        # Starlette's router names only the methods of the first route that matched the path; each method of a path
        # is a route of its own here, so the answer lists them all (RFC 9110: Allow names every method supported).
        allowed = ", ".join(_allowed_methods(request))
        refused = MethodNotAllowed(f"{request.method} is not a method of {path}; it takes {allowed}.")
        return problem_response(refused, path, {"Allow": allowed})
    return problem_response(InvalidRequest(str(error.detail)), path, error.headers)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> list[str]:
    # Asked of the routes themselves, whatever their kind (included routers, mounts): a method is allowed where some
    # route matches the path in full with it.
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]


async def _too_deep(request: Request, error: Exception) -> JSONResponse:
    # Values nested deeper than Python's recursion limit (JSON a thousand levels deep, filters hundreds deep): the
    # request's doing, answered as a malformed request, never a 500 with a traceback of a thousand frames.
    refused = InvalidRequest(TOO_DEEP)
    return problem_response(refused, request.url.path)


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    log.exception("unhandled error", extra={"path": request.url.path})
    unexpected = InternalError("The server met an unexpected condition; the error was logged.")
    return problem_response(unexpected, request.url.path)


HANDLERS: dict[type[Exception], Callable[[Request, Exception], Awaitable[JSONResponse]]] = {
    StackyardError: _stackyard_error,
    RequestValidationError: _validation_error,
    StarletteHTTPException: _http_error,
    RecursionError: _too_deep,
    Exception: _unexpected_error,
}


def install_problem_handlers(app: FastAPI) -> None:
    for kind, handler in HANDLERS.items():
        app.add_exception_handler(kind, handler)


async def problem_for(request: Request, error: Exception) -> JSONResponse:
    """The answer to `error`, from the handlers the app has, for code that answers outside FastAPI's routing."""
    handler = next(HANDLERS[kind] for kind in type(error).__mro__ if kind in HANDLERS)
    return await handler(request, error)


def problem_openapi(app: FastAPI, described: Sequence[BaseRoute] = ()) -> dict[str, Any]:
    """The OpenAPI document, with every error response described as what it is: problem+json.

    FastAPI documents error models as application/json and adds its own 422 shape; Stackyard answers every error
    with the RFC 9457 body instead, under any status, so each operation gets a `default` problem response too.
    """
    if app.openapi_schema is not None:
        return app.openapi_schema
    routes = [*app.routes, *described]  # `described`: operations answered outside FastAPI's routing (the run lane)
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    components["OpenAIError"] = OPENAI_ERROR_SCHEMA
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    # The OpenAI-compatible routes answer their own errors in OpenAI's shape, which OpenAI's clients read; access
    # control answers theirs (401, 403) as problems still.
    openai = {**problem, "application/json": {"schema": {"$ref": "#/components/schemas/OpenAIError"}}}
    for path, operations in schema.get("paths", {}).items():
        content = openai if path.startswith("/v1/") else problem
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                if status == "default" or int(status) >= 400:
                    response["content"] = content
            responses["default"] = {"description": "An error, as RFC 9457 problem details", "content": content}
    app.openapi_schema = schema
    return schema


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details; conditions add their own members (line, component, rule, ...).",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
    "additionalProperties": True,
}

OPENAI_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "OpenAIError",
    "description": "An error of the OpenAI-compatible routes, in OpenAI's shape.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
