"""A streaming run, in the worker: Haystack's `Pipeline.stream()`, each `StreamingChunk` sent to the server as it
arrives, then the same result a run answers.

Which components stream follows the Hayhooks key `streaming_components` in the definition: a list, or `all`;
without it, the last streaming-capable component in the definition's order (the one that writes the answer in a
retrieval-augmented chat). A component is streaming-capable when it runs asynchronously and takes a
`streaming_callback` (Haystack's own test, the one `Pipeline.stream()` applies). A pipeline with none of them
streams no chunks: its stream holds only the result.

The worker sets where chunks go (`CHUNKS`) for the request it is doing; they cross the process boundary as they
come, as JSON text (`messages.send_chunk`), before the request's answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from haystack import Pipeline
from haystack.dataclasses import StreamingChunk

from stackyard.definitions.build import Build, can_stream
from stackyard.serving.inputs import InputPolicy
from stackyard.serving.outputs import jsonable
from stackyard.serving.runner import execute_build

# Where the chunks of the request being done go; set by the worker (`serving/worker.py`) for a streaming request.
CHUNKS: ContextVar[Callable[[bytes], None] | None] = ContextVar("stackyard_chunks", default=None)


def stream_build(
    build: Build, data: dict[str, Any], include_outputs_from: list[str] | None = None, policy: InputPolicy | None = None
) -> dict[str, Any]:
    """`run_build`, streaming: the same inputs, failures and result; the chunks go to `CHUNKS` on the way."""
    return execute_build(build, data, include_outputs_from, policy, _streamed)


def streaming_components(build: Build) -> list[str] | None:
    """The components whose chunks a stream carries: None for all of them (`streaming_components: all`)."""
    chosen = build.definition.streaming_components
    if chosen == "all":
        return None
    if chosen is not None:
        return list(chosen)
    capable = [name for name in build.pipeline.graph.nodes if can_stream(build.pipeline, name)]
    return capable[-1:]


def chunk_fields(chunk: StreamingChunk) -> dict[str, Any]:
    """A `StreamingChunk` as plain JSON values, with the component that made it by name. Field by field rather than
    through `to_dict()` and a walk of the whole: a chunk is mostly empty fields, and a stream has hundreds of them."""
    info = chunk.component_info
    return {
        "content": chunk.content,
        "component": info.name if info is not None else None,
        "index": chunk.index,
        "start": chunk.start,
        "finish_reason": chunk.finish_reason,
        "tool_calls": [jsonable(call.to_dict()) for call in chunk.tool_calls] if chunk.tool_calls else None,
        "tool_call_result": jsonable(chunk.tool_call_result.to_dict()) if chunk.tool_call_result else None,
        "reasoning": jsonable(chunk.reasoning.to_dict()) if chunk.reasoning else None,
        "meta": jsonable(chunk.meta) if chunk.meta else {},
    }


def _streamed(build: Build, inputs: dict[str, Any], wanted: set[str]) -> dict[str, Any]:
    send = CHUNKS.get()
    if send is None:  # not a streaming request after all: a run as any other
        return build.pipeline.run(inputs, include_outputs_from=wanted or None)
    return _RUNNER.run(_drain(build.pipeline, inputs, wanted, streaming_components(build), send))


async def _drain(
    pipeline: Pipeline,
    inputs: dict[str, Any],
    wanted: set[str],
    components: list[str] | None,
    send: Callable[[bytes], None],
) -> dict[str, Any]:
    # Each chunk is sent from the component's own callback, as it is made: through the handle it would wait until
    # the component yields to the event loop, which a fast generator may do only once it has made them all.
    async def forward(chunk: StreamingChunk) -> None:
        send(json.dumps(chunk_fields(chunk), ensure_ascii=False, separators=(",", ":")).encode())

    every = [name for name in pipeline.graph.nodes if can_stream(pipeline, name)]
    streaming = components if components is not None else every
    for name in streaming:
        inputs.setdefault(name, {})["streaming_callback"] = forward
    handle = pipeline.stream(inputs, streaming_components=components, include_outputs_from=wanted or None)
    async for _chunk in handle:  # sent already, by `forward`
        pass
    return handle.result


# One event loop per worker for its streams, rather than a new one each (`asyncio.run`): a worker does one request
# at a time, so the loop is free whenever a stream starts.
_RUNNER = asyncio.Runner()
