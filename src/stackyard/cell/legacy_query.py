"""Haystack 1.x `/query` in a cell: its `params` routed to a Haystack 3 pipeline's components, and the parts of the
result the 1.x answer is made from (`haystack1.queries` makes the answer on the server's side)."""

from __future__ import annotations

from typing import Any

from stackyard.cell.build import Build
from stackyard.cell.inputs import ComponentInputs, InputPolicy, mixed_inputs
from stackyard.cell.runner import run_build
from stackyard.errors import InvalidRunInput
from stackyard.haystack1.queries import filters_from_1x


def query_inputs(build: Build, query: str, params: dict[str, Any], debug: bool) -> tuple[ComponentInputs, list[str]]:
    """1.x `/query` `params` as run inputs per component, and the components whose outputs `_debug` shows.

    As in 1.x, a key naming a component holds that component's inputs; any other key is given to every component
    that takes it. Inputs for one component win over inputs for all. `debug` is not an input: the request's
    `debug`, then `params.debug`, then `params.<component>.debug` choose the components shown, the most specific
    winning. Every `filters` input is read as 1.x filters (Haystack 3 filters pass unchanged).
    """
    components = set(build.pipeline.graph.nodes)
    shown = _flag(params.get("debug", debug), "params.debug")
    debugged = set(components) if shown else set()
    shared: dict[str, Any] = {key: value for key, value in params.items() if key != "debug"}
    targeted: dict[str, dict[str, Any]] = {}
    for key in components & set(shared):
        if not isinstance(shared[key], dict):
            continue
        values = dict(shared.pop(key))
        if "debug" in values:
            if _flag(values.pop("debug"), f"params.{key}.debug"):
                debugged.add(key)
            else:
                debugged.discard(key)
        if values:  # a component asked only for its debug output may take no inputs at all
            targeted[key] = values
    routed = mixed_inputs(build, {**shared, "query": query})
    for component, values in mixed_inputs(build, targeted).items():
        routed.setdefault(component, {}).update(values)
    for values in routed.values():
        if "filters" in values:
            values["filters"] = filters_from_1x(values["filters"])
    return routed, sorted(debugged)


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidRunInput(f"'{where}' must be true or false.", input=where)
    return value


def plain_outputs(build: Build, result: dict[str, Any]) -> dict[str, Any]:
    """What a run gives without `include_outputs_from`: the friendly outputs, or the components' leaf outputs.

    The 1.x answer is made from this part only, so asking for `debug` never changes `answers`, `documents` or
    `results`.
    """
    mapping = build.definition.outputs
    if mapping:
        return {key: value for key, value in result.items() if key in mapping}
    leaves = build.sockets.leaf_outputs
    return {
        component: {socket: value for socket, value in outputs.items() if socket in leaves[component]}
        for component, outputs in result.items()
        if component in leaves and isinstance(outputs, dict)
    }


def run_query(
    build: Build, query: str, params: dict[str, Any], debug: bool, policy: InputPolicy | None = None
) -> tuple[list[str], dict[str, Any], dict[str, Any]]:
    """The work of 1.x `/query`, done in a worker: the components shown by `_debug`, the run's whole result and
    its plain part (`plain_outputs`), from which the 1.x answer is made."""
    inputs, debugged = query_inputs(build, query, params, debug)
    result = run_build(build, inputs, debugged, policy)
    return debugged, result, plain_outputs(build, result)
