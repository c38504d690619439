"""A streaming run, in the cell: the pipeline runs as any run does, and each `StreamingChunk` a streaming
component makes is sent to the server as it is made; then the same result a run answers.

Which components stream follows the Hayhooks key `streaming_components` in the definition: a list, or `all`;
without it, the last streaming-capable component in the definition's order (the one that writes the answer in a
retrieval-augmented chat). A component is streaming-capable when its run takes a `streaming_callback` (every
Haystack generator, chat generator, tool invoker and agent). A pipeline with none of them streams no chunks: its
stream holds only the result.

The cell sets where chunks go (`CHUNKS`) for the job it is doing; they cross the process boundary as they come, as
JSON text in `Chunk` frames, before the job's answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from haystack.dataclasses import StreamingChunk

from stackyard.cell.build import Build, can_stream
from stackyard.cell.inputs import InputPolicy
from stackyard.cell.outputs import jsonable
from stackyard.cell.runner import execute_build, run_build_async

# Where the chunks of the job being done go; set by the cell (`cell/work.py`) for a streaming run.
CHUNKS: ContextVar[Callable[[bytes], None] | None] = ContextVar("stackyard_chunks", default=None)


def stream_build(
    build: Build, data: dict[str, Any], include_outputs_from: list[str] | None = None, policy: InputPolicy | None = None
) -> dict[str, Any]:
    """`run_build`, streaming: the same inputs, failures and result; the chunks go to `CHUNKS` on the way."""
    return execute_build(build, data, include_outputs_from, policy, _streamed)


async def stream_build_async(
    build: Build, data: dict[str, Any], include_outputs_from: list[str] | None = None, policy: InputPolicy | None = None
) -> dict[str, Any]:
    """`stream_build` on the cell's event loop (`Pipeline.run_async`), for builds with async components: a stream
    waiting on a remote model holds no thread. Each streaming component gets the callback its way of running
    takes: a coroutine for one that is awaited, a function for one that runs in a thread."""
    return await run_build_async(build, data, include_outputs_from, policy, _with_callbacks)


def _with_callbacks(build: Build, inputs: dict[str, Any]) -> None:
    send = CHUNKS.get()
    if send is None:
        return

    def forward(chunk: StreamingChunk) -> None:
        send(json.dumps(chunk_fields(chunk), ensure_ascii=False, separators=(",", ":")).encode())

    async def forward_async(chunk: StreamingChunk) -> None:
        forward(chunk)

    for name in streaming_components(build):
        instance = build.pipeline.get_component(name)
        awaited = bool(getattr(instance, "__haystack_supports_async__", False))
        inputs.setdefault(name, {})["streaming_callback"] = forward_async if awaited else forward


def streaming_components(build: Build) -> list[str]:
    """The components whose chunks a stream carries."""
    chosen = build.definition.streaming_components
    if chosen is not None and chosen != "all":
        return list(chosen)
    capable = [name for name in build.pipeline.graph.nodes if can_stream(build.pipeline, name)]
    return capable if chosen == "all" else capable[-1:]


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
    if send is not None:
        # Each chunk is sent from the component's own callback, as it is made. The pipeline runs as a plain run
        # does (`Pipeline.run`): the same result, and no event loop or thread to hand chunks through, which on a
        # busy core cost the first chunk milliseconds (`Pipeline.stream()` runs every component that cannot run
        # asynchronously in a thread of its own).
        def forward(chunk: StreamingChunk) -> None:
            send(json.dumps(chunk_fields(chunk), ensure_ascii=False, separators=(",", ":")).encode())

        for name in streaming_components(build):
            inputs.setdefault(name, {})["streaming_callback"] = forward
    return build.pipeline.run(inputs, include_outputs_from=wanted or None)
