"""Running one request on one live revision: inputs in, plain JSON out, failures named."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from haystack.core.errors import PipelineError, PipelineRuntimeError

from stackyard.definitions.build import Build
from stackyard.definitions.parsing import SocketRef
from stackyard.errors import InputRejected, InvalidRunInput, RunFailed, trim
from stackyard.serving.inputs import InputPolicy, prepare_inputs
from stackyard.serving.outputs import jsonable

log = logging.getLogger(__name__)


# Runs the pipeline on routed inputs, returning Haystack's raw result: `inputs`, and the components whose outputs
# the result must include.
Execute = Callable[[Build, dict[str, Any], set[str]], dict[str, Any]]


def run_build(
    build: Build, data: dict[str, Any], include_outputs_from: list[str] | None = None, policy: InputPolicy | None = None
) -> dict[str, Any]:
    """Run the pipeline once and return its result as JSON-compatible values. Blocking: call it in a worker.

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
    """`run_build` with the pipeline run by `execute` (a streaming run: `serving/streams.py`): the same inputs,
    the same failures named, the same result."""
    extra = set(include_outputs_from or ())
    unknown = sorted(extra - set(build.pipeline.graph.nodes))
    if unknown:
        raise InvalidRunInput(f"include_outputs_from names unknown component(s): {', '.join(map(repr, unknown))}.")
    inputs = prepare_inputs(build, data, policy)
    mapping = build.definition.outputs
    wanted = extra | {ref.component for refs in mapping.values() for ref in refs}
    try:
        raw = execute(build, inputs, wanted)
    except PipelineRuntimeError as error:
        component = getattr(error, "component_name", None)
        cause = error.__cause__ if error.__cause__ is not None else error
        if isinstance(cause, MemoryError):
            raise cause from None  # the worker answers it and ends: what is left of it cannot be trusted
        if isinstance(cause, ValueError | TypeError):
            # Components raise these when the values they were given do not fit (an empty query, a wrong shape):
            # the caller can fix that, so it is a 4xx, not a failure of the pipeline.
            raise InputRejected(
                f"Component '{component}' refused its inputs: {type(cause).__name__}: {trim(str(cause), 300)}",
                component=component,
            ) from None
        # The message stays in the log: it may carry what a remote service answered (an internal service's error
        # page, say), which a caller must not read through this server.
        log.warning(
            "component failed: %s: %s", type(cause).__name__, trim(str(cause), 2000), extra={"component": component}
        )
        raise RunFailed(
            f"Component '{component}' failed: {type(cause).__name__} (its message is in the server's log).",
            component=component,
        ) from None
    except ValueError as error:  # Haystack's own input validation, after ours
        raise InvalidRunInput(trim(str(error), 300)) from None
    except PipelineError as error:  # e.g. a component ran more often than max_runs_per_component allows
        raise RunFailed(trim(str(error), 300)) from None
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
