"""A streaming run, in the worker: Haystack's `Pipeline.stream()`, each `StreamingChunk` sent to the server as it
arrives, then the same result a run answers.

Which components stream follows the Hayhooks key `streaming_components` in the definition: a list, or `all`;
without it, the last streaming-capable component in the definition's order (the one that writes the answer in a
retrieval-augmented chat). A component is streaming-capable when it runs asynchronously and takes a
`streaming_callback` (Haystack's own test, the one `Pipeline.stream()` applies). A pipeline with none of them
streams no chunks: its stream holds only the result.

The worker sets where chunks go (`CHUNKS`) for the request it is doing; they cross the process boundary as they
come (`messages.Chunk`), before the request's answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from haystack import Pipeline

from stackyard.definitions.build import Build, can_stream
from stackyard.serving.inputs import InputPolicy
from stackyard.serving.outputs import jsonable
from stackyard.serving.runner import execute_build

# Where the chunks of the request being done go; set by the worker (`serving/worker.py`) for a streaming request.
CHUNKS: ContextVar[Callable[[dict[str, Any]], None] | None] = ContextVar("stackyard_chunks", default=None)


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


def chunk_fields(chunk: Any) -> dict[str, Any]:
    """A `StreamingChunk` as plain JSON values, with the component that made it by name."""
    fields: dict[str, Any] = jsonable(chunk.to_dict())
    info = fields.pop("component_info", None) or {}
    fields["component"] = info.get("name")
    return fields


def _streamed(build: Build, inputs: dict[str, Any], wanted: set[str]) -> dict[str, Any]:
    send = CHUNKS.get()
    if send is None:  # not a streaming request after all: a run as any other
        return build.pipeline.run(inputs, include_outputs_from=wanted or None)
    return asyncio.run(_drain(build.pipeline, inputs, wanted, streaming_components(build), send))


async def _drain(
    pipeline: Pipeline,
    inputs: dict[str, Any],
    wanted: set[str],
    components: list[str] | None,
    send: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    handle = pipeline.stream(inputs, streaming_components=components, include_outputs_from=wanted or None)
    async for chunk in handle:
        send(chunk_fields(chunk))
    return handle.result
