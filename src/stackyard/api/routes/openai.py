"""The OpenAI-compatible chat API: `GET /v1/models` and `POST /v1/chat/completions`, streaming and not.

The models are the pipelines that declare themselves chat models (`api/chat_models.py`). A completion is a run of
that pipeline, through `Leases.run` like any other (gates, timeouts, workers, metrics), streamed as
`chat.completion.chunk` events when asked. Tokens apply: access control lets in a token that holds `run`; here a
model is offered to, and run for, only a token that may run its pipeline. Problems are answered in OpenAI's error
shape (`{"error": {"message", "type", "param", "code"}}`), which OpenAI's clients read.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from stackyard.api.chat_models import ChatModel, chat_models
from stackyard.api.dependencies import AppState
from stackyard.api.event_stream import END, STREAM_HEADERS, start_stream
from stackyard.api.mcp_tools import may_run
from stackyard.errors import StackyardError
from stackyard.serving.registry import LiveRevision
from stackyard.wire.definition import CHAT_PARAMETERS
from stackyard.wire.jobs import Run

router = APIRouter(prefix="/v1", tags=["openai"])
# Answered by the run lane (`api/middleware/run_lane.py`), before FastAPI's layers: the route below documents it.
CHAT_PATH = "/v1/chat/completions"


class ChatCompletionRequest(BaseModel):
    """What Stackyard reads of an OpenAI chat completion request. The sampling parameters are checked as OpenAI
    checks them and passed on to pipelines that list them (`metadata.chat.parameters`); other parameters are
    accepted and left to the pipeline's own settings."""

    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = False
    n: int | None = None
    stream_options: dict[str, Any] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    stop: str | Annotated[list[str], Field(max_length=4)] | None = None
    seed: int | None = None

    def parameters(self) -> dict[str, Any]:
        """The sampling parameters the request set (`wire.definition.CHAT_PARAMETERS`)."""
        return {name: value for name in CHAT_PARAMETERS if (value := getattr(self, name)) is not None}


@router.get("/models", summary="Chat models (OpenAI-compatible)")
async def list_models(request: Request) -> JSONResponse:
    state: AppState = request.app.state.stackyard
    models = [model for model in chat_models(state.registry).values() if _may_run(request, model.pipeline)]
    created = int(time.time())
    return JSONResponse(
        {
            "object": "list",
            "data": [
                {"id": model.model, "object": "model", "created": created, "owned_by": "stackyard"} for model in models
            ],
        }
    )


@router.post("/chat/completions", summary="Chat completion (OpenAI-compatible), streaming or not")
async def chat_completion(request: Request, body: ChatCompletionRequest) -> Response:
    state: AppState = request.app.state.stackyard
    model = chat_models(state.registry).get(body.model)
    if model is None or not _may_run(request, model.pipeline):
        return _error(
            404, f"The model '{body.model}' does not exist; GET /v1/models lists them.", "model", "model_not_found"
        )
    if body.n not in (None, 1):
        return _error(400, "This server answers one choice per request (n = 1).", "n", "unsupported_value")
    try:
        data = model.data(body.messages, body.parameters())
    except StackyardError as error:
        return _problem(error)
    completion = _Completion(body.model)
    if body.stream:
        usage = bool((body.stream_options or {}).get("include_usage"))
        return await _stream(state, model, data, completion, usage)
    try:
        _live, result = await state.leases.run(model.pipeline, Run(data))
    except StackyardError as error:
        return _problem(error)
    text, meta = model.reply(json.loads(result))
    return JSONResponse(completion.whole(text, meta))


class _Completion:
    """One completion's identity, and its bodies in OpenAI's shape."""

    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.model = model
        self.created = int(time.time())

    def whole(self, text: str, meta: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {
            **self._head("chat.completion"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": meta.get("finish_reason") or "stop",
                }
            ],
        }
        if isinstance(meta.get("usage"), dict):
            body["usage"] = meta["usage"]
        return body

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            **self._head("chat.completion.chunk"),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }

    def _head(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}


async def _stream(
    state: AppState, model: ChatModel, data: dict[str, Any], completion: _Completion, usage: bool
) -> Response:
    """Start the run; answer the stream once it has something to say, or the problem that stopped it first."""
    started = await start_stream(state, model.pipeline, Run(data, stream=True))
    error = started.task.exception() if started.first is END else None
    if error is not None:
        return _problem(error) if isinstance(error, StackyardError) else _error(500, "The run failed.", None, None)
    return StreamingResponse(
        _chunks(model, completion, started.first, started.events, started.task, usage),
        media_type="text/event-stream",
        headers=STREAM_HEADERS,
    )


async def _chunks(
    model: ChatModel,
    completion: _Completion,
    first: Any,
    events: asyncio.Queue[Any],
    task: asyncio.Future[tuple[LiveRevision, Any]],
    usage: bool,
) -> AsyncIterator[bytes]:
    try:
        # The role goes out with the first chunk, in one write: a reader waits for the content, not the role.
        head = _data(completion.chunk({"role": "assistant", "content": ""}))
        item = first
        while item is not END:
            content = json.loads(item).get("content")
            if content:
                yield head + _data(completion.chunk({"content": content}))
                head = b""
            item = await events.get()
        if head:
            yield head
        try:
            _live, result = task.result()
        except StackyardError as error:
            yield _data(_error_body(error.detail, error.slug, None, None))
            return
        _text, meta = model.reply(json.loads(result))
        yield _data(completion.chunk({}, meta.get("finish_reason") or "stop"))
        if usage and isinstance(meta.get("usage"), dict):
            yield _data({**completion.chunk({}), "choices": [], "usage": meta["usage"]})
        yield b"data: [DONE]\n\n"
    finally:
        if not task.done():  # the client went away mid-stream: the run ends with it
            task.cancel()


def _may_run(request: Request, pipeline: str) -> bool:
    state: AppState = request.app.state.stackyard
    return may_run(getattr(request.state, "token", None), bool(state.settings.token_lines()), pipeline)


def _data(body: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(body, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


def _problem(error: StackyardError) -> JSONResponse:
    kind = "invalid_request_error" if error.status < 500 else "server_error"
    return _error(error.status, error.detail, None, error.slug, kind, dict(error.headers or {}))


def _error(
    status: int,
    message: str,
    param: str | None,
    code: str | None,
    kind: str = "invalid_request_error",
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(_error_body(message, code, param, kind), status_code=status, headers=headers or None)


def _error_body(message: str, code: str | None, param: str | None, kind: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind or "server_error", "param": param, "code": code}}
