"""The floor: a bare Starlette endpoint that runs one Haystack `Pipeline` in the threadpool, or streams it with
`Pipeline.stream()` as Server-Sent Events when the request accepts them (chunks, then the result).

No pipeline server can do less work per request, so Stackyard's throughput is reported as a ratio of this one.
Served by the same uvicorn (uvloop, httptools) as Stackyard:

    BENCH_FLOOR_YAML=pipeline.yml python -m uvicorn bench.floor:create_app --factory --port 9000
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import yaml
from haystack import Pipeline
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


def load_pipeline(text: str) -> Pipeline:
    """A warmed-up Pipeline from YAML with Hayhooks-style sections, which plain Haystack does not accept."""
    data = yaml.safe_load(text)
    data.pop("inputs", None)
    data.pop("outputs", None)
    pipeline = Pipeline.from_dict(
        data, allowed_modules=["bench"]
    )  # the bench's own components, as the servers allow them
    pipeline.warm_up()
    return pipeline


def create_app() -> Starlette:
    paths = [Path(part) for part in os.environ["BENCH_FLOOR_YAML"].split(",")]
    pipelines = {path.stem: load_pipeline(path.read_text()) for path in paths}

    async def run(request: Request) -> Response:
        body = await request.json()
        pipeline = pipelines[request.path_params["name"]]
        if "text/event-stream" in request.headers.get("accept", ""):
            return StreamingResponse(_events(pipeline, body["data"]), media_type="text/event-stream")
        result = await run_in_threadpool(pipeline.run, body["data"])
        return Response(_json(result), media_type="application/json")

    async def ready(request: Request) -> Response:
        return JSONResponse({"status": "ready"})

    return Starlette(routes=[Route("/pipelines/{name}/run", run, methods=["POST"]), Route("/readyz", ready)])


async def _events(pipeline: Pipeline, data: dict[str, Any]) -> AsyncIterator[str]:
    handle = pipeline.stream(data)
    async for chunk in handle:
        yield f"event: chunk\ndata: {_json({'content': chunk.content})}\n\n"
    yield f"event: result\ndata: {_json({'result': handle.result})}\n\n"


def _json(value: object) -> str:
    """JSON as the servers answer it; Haystack's dataclasses (a chat model's `ChatMessage` replies) by `to_dict`."""
    return json.dumps(value, separators=(",", ":"), default=_to_dict)


def _to_dict(value: object) -> object:
    to_dict: Callable[[], object] | None = getattr(value, "to_dict", None)
    if to_dict is None:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    return to_dict()
