"""Running one request on one live revision: inputs in, plain JSON out, failures named."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from haystack.core.errors import PipelineError, PipelineRuntimeError

from stackyard.cell.build import Build
from stackyard.cell.inputs import InputPolicy, prepare_inputs
from stackyard.cell.outputs import jsonable
from stackyard.errors import InputRejected, InvalidRunInput, RunFailed, trim
from stackyard.wire.definition import SocketRef

log = logging.getLogger(__name__)


# Runs the pipeline on routed inputs, returning Haystack's raw result: `inputs`, and the components whose outputs
# the result must include.
Execute = Callable[[Build, dict[str, Any], set[str]], dict[str, Any]]


def run_build(
    build: Build, data: dict[str, Any], include_outputs_from: list[str] | None = None, policy: InputPolicy | None = None
) -> dict[str, Any]:
    """Run the pipeline once and return its result as JSON-compatible values. Blocking: call it in a cell's thread.

    With an `outputs:` mapping the result is keyed by the friendly names; otherwise it is Haystack's
    `{component: {socket: value}}`. Components named in `include_outputs_from` are added under their own name.
    """
    return execute_build(build, data, include_outputs_from, policy, _run_once)


def _run_once(build: Build, inputs: dict[str, Any], wanted: set[str]) -> dict[str, Any]:
    return build.pipeline.run(inputs, include_outputs_from=wanted or None)


def execute_build(
    build: Build,
    data: dict[str, Any],
    include_outputs_from: list[str] | None,
    policy: InputPolicy | None,
    execute: Execute,
) -> dict[str, Any]:
    """`run_build` with the pipeline run by `execute` (a streaming run: `cell/streams.py`): the same inputs,
    the same failures named, the same result."""
    inputs, extra, wanted = routed(build, data, include_outputs_from, policy)
    try:
        raw = execute(build, inputs, wanted)
    except (PipelineRuntimeError, PipelineError, ValueError) as error:
        raise named(error) from None
    return shaped(build, raw, extra)


async def run_build_async(
    build: Build,
    data: dict[str, Any],
    include_outputs_from: list[str] | None,
    policy: InputPolicy | None,
    prepare: Callable[[Build, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """`run_build` on the cell's event loop (`Pipeline.run_async`): async components are awaited, sync ones run in
    the cell's threads; the same inputs, failures and result. `prepare` may add to the routed inputs (a stream's
    callbacks)."""
    inputs, extra, wanted = routed(build, data, include_outputs_from, policy)
    if prepare is not None:
        prepare(build, inputs)
    try:
        raw = await build.pipeline.run_async(inputs, include_outputs_from=wanted or None)
    except (PipelineRuntimeError, PipelineError, ValueError) as error:
        raise named(error) from None
    return shaped(build, raw, extra)


def routed(
    build: Build, data: dict[str, Any], include_outputs_from: list[str] | None, policy: InputPolicy | None
) -> tuple[dict[str, Any], set[str], set[str]]:
    """The run's inputs per component, the components asked for, and every component whose outputs it needs."""
    extra = set(include_outputs_from or ())
    unknown = sorted(extra - set(build.pipeline.graph.nodes))
    if unknown:
        raise InvalidRunInput(f"include_outputs_from names unknown component(s): {', '.join(map(repr, unknown))}.")
    inputs = prepare_inputs(build, data, policy)
    wanted = extra | {ref.component for refs in build.definition.outputs.values() for ref in refs}
    return inputs, extra, wanted


def named(error: Exception) -> BaseException:
    """What a failed run answers: the caller's mistake as a 4xx, a component's failure as a 500 that names it."""
    if isinstance(error, PipelineRuntimeError):
        component = getattr(error, "component_name", None)
        cause = error.__cause__ if error.__cause__ is not None else error
        if isinstance(cause, MemoryError):
            return cause  # the cell answers it and retires: what is left of it cannot be trusted
        if isinstance(cause, ValueError | TypeError):
            # Components raise these when the values they were given do not fit (an empty query, a wrong shape):
            # the caller can fix that, so it is a 4xx, not a failure of the pipeline.
            return InputRejected(
                f"Component '{component}' refused its inputs: {type(cause).__name__}: {trim(str(cause), 300)}",
                component=component,
            )
        # The message stays in the log: it may carry what a remote service answered (an internal service's error
        # page, say), which a caller must not read through this server.
        log.warning(
            "component failed: %s: %s", type(cause).__name__, trim(str(cause), 2000), extra={"component": component}
        )
        return RunFailed(
            f"Component '{component}' failed: {type(cause).__name__} (its message is in the server's log).",
            component=component,
        )
    if isinstance(error, PipelineError):  # e.g. a component ran more often than max_runs_per_component allows
        return RunFailed(trim(str(error), 300))
    return InvalidRunInput(trim(str(error), 300))  # Haystack's own input validation, after ours


def shaped(build: Build, raw: dict[str, Any], extra: set[str]) -> dict[str, Any]:
    """The result as JSON values: keyed by the friendly outputs when the definition maps them."""
    mapping = build.definition.outputs
    if not mapping:
        return jsonable(raw)  # type: ignore[no-any-return]
    result = {friendly: _first_produced(raw, refs) for friendly, refs in mapping.items()}
    for component in extra:
        result.setdefault(component, raw.get(component, {}))
    return jsonable(result)  # type: ignore[no-any-return]


def _first_produced(raw: dict[str, dict[str, Any]], refs: tuple[SocketRef, ...]) -> Any:
    """The value of the first socket in `refs` that the run produced (an output may list one socket per branch)."""
    for ref in refs:
        produced = raw.get(ref.component, {})
        if ref.socket in produced:
            return produced[ref.socket]
    return None
