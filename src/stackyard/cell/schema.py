"""JSON Schema of a pipeline's run inputs and outputs, derived from its sockets."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import TypeAdapter

from stackyard.cell.build import Build
from stackyard.cell.haystack_internals import describable_type
from stackyard.wire.definition import SocketRef


def type_schema(expected: Any) -> dict[str, Any]:
    """The JSON Schema of one socket type; `{}` (anything) for types JSON cannot describe.

    Pydantic takes milliseconds per type (a `ChatMessage` is a tree of models), and a build describes every socket:
    the schemas are kept by type, so a deploy pays for the types it has not met before. They are shared, hence
    read-only: nothing changes a schema once made (the server gets its own copy with each `BuildInfo`). No copy is
    made, since copying calls `id()` for every node, which a contained worker's audit hook sees, one call each.
    """
    try:
        return _schema_of(expected)
    except TypeError:  # an unhashable type annotation: described each time
        return _schema_of.__wrapped__(expected)


@functools.lru_cache(maxsize=1024)
def _schema_of(expected: Any) -> dict[str, Any]:
    if expected is Any:
        return {}
    try:
        schema: dict[str, Any] = TypeAdapter(describable_type(expected)).json_schema()
    except Exception:
        return {"description": f"A value of type {getattr(expected, '__name__', str(expected))}"}
    return schema


def _object(properties: dict[str, dict[str, Any]], required: list[str]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = sorted(set(required))
    return schema


def input_schema(build: Build) -> dict[str, Any]:
    """Schema of the `data` object of a run: the flat (or friendly) form, or the per-component form."""
    sockets = build.sockets.inputs
    per_component = {
        component: _object(
            {socket: type_schema(spec["type"]) for socket, spec in specs.items()},
            [socket for socket, spec in specs.items() if spec.get("is_mandatory")],
        )
        for component, specs in sockets.items()
    }
    flat_props: dict[str, dict[str, Any]] = {}
    flat_required: list[str] = []
    mapped: set[tuple[str, str]] = set()
    for friendly, refs in build.definition.inputs.items():
        first = refs[0]
        flat_props[friendly] = type_schema(sockets[first.component][first.socket]["type"])
        mapped.update((ref.component, ref.socket) for ref in refs)
        if any(sockets[ref.component][ref.socket].get("is_mandatory") for ref in refs):
            flat_required.append(friendly)
    for component, specs in sockets.items():
        for socket, spec in specs.items():
            if (component, socket) in mapped:
                continue
            flat_props.setdefault(socket, type_schema(spec["type"]))
            if spec.get("is_mandatory"):
                flat_required.append(socket)
    nested = _object(per_component, [c for c, schema in per_component.items() if schema.get("required")])
    return {"anyOf": [_object(flat_props, flat_required), nested]}


def output_schema(build: Build) -> dict[str, Any]:
    """Schema of the `result` object of a run (before the plain-JSON conversion of Haystack dataclasses)."""
    if build.definition.outputs:
        return _object(
            {friendly: _one_of(build, refs) for friendly, refs in build.definition.outputs.items()},
            [],
        )
    return _object(
        {
            component: _object({socket: type_schema(spec["type"]) for socket, spec in specs.items()}, [])
            for component, specs in build.sockets.leaf_outputs.items()
        },
        [],
    )


def _one_of(build: Build, refs: tuple[SocketRef, ...]) -> dict[str, Any]:
    """The schema of an output that answers from one of several sockets: theirs, once each."""
    schemas: list[dict[str, Any]] = []
    for ref in refs:
        schema = type_schema(build.sockets.outputs[ref.component][ref.socket]["type"])
        if schema not in schemas:
            schemas.append(schema)
    return schemas[0] if len(schemas) == 1 else {"anyOf": schemas}
