"""Turning a parsed `Definition` into a warmed-up Haystack `Pipeline`, or a clear `InvalidDefinition`.

A build runs off the event loop and before anything is stored or swapped, so a definition that fails here changes
nothing. Haystack's own messages can echo a whole component's data and list every registered class; they are
replaced or trimmed here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from haystack import Pipeline
from haystack.core.errors import DeserializationError, PipelineConnectError, PipelineError
from haystack.core.serialization import DeserializationCallbacks

from stackyard.definitions.parsing import Definition, SocketRef, component_line
from stackyard.errors import InvalidDefinition, trim
from stackyard.serving.index_guard import guard_pipeline_stores

# `component_pre_init(name, cls, init_params)`: a policy may refuse a class or rewrite parameters before `__init__`.
PreInitHook = Callable[[str, type, dict[str, Any]], None]


@dataclass(frozen=True)
class Sockets:
    """The run-time surface of a built pipeline, computed once per build so runs do not recompute it."""

    # component -> socket -> {"type", "is_mandatory", "default_value"?}: sockets no other component feeds.
    inputs: dict[str, dict[str, dict[str, Any]]]
    # component -> socket -> {"type"}: every output socket, connected or not.
    outputs: dict[str, dict[str, dict[str, Any]]]
    # component -> socket -> {"type"}: outputs that no other component consumes (what `run` returns by default).
    leaf_outputs: dict[str, dict[str, dict[str, Any]]]


@dataclass(frozen=True)
class Build:
    """A definition together with the pipeline built and warmed up from it."""

    definition: Definition
    pipeline: Pipeline
    sockets: Sockets

    def close(self) -> None:
        """Release what the components hold (clients, files); called once the last run on it has ended."""
        self.pipeline.close()


def build_pipeline(
    definition: Definition,
    *,
    allowed_modules: list[str] | None = None,
    pre_init: PreInitHook | None = None,
    warm_up: bool = True,
) -> Build:
    """Load `definition` with Haystack, check its friendly-name mapping, and warm it up once.

    Blocking: call it in a worker thread. Raises `InvalidDefinition` for everything a definition can get wrong.
    """
    callbacks = DeserializationCallbacks(component_pre_init=pre_init) if pre_init else None
    try:
        pipeline = Pipeline.from_dict(definition.pipeline, callbacks, allowed_modules=allowed_modules or None)
    except InvalidDefinition:
        raise
    except PipelineConnectError as error:
        raise InvalidDefinition(f"A connection is not valid: {trim(str(error), 400)}") from None
    except DeserializationError as error:
        raise _deserialization_problem(definition, error) from None
    except PipelineError as error:
        raise _unknown_type_problem(definition, error) from None
    except Exception as error:  # a component's own __init__ may raise anything; it is still the definition's fault
        raise InvalidDefinition(
            f"The pipeline cannot be built: {type(error).__name__}: {trim(str(error), 300)}"
        ) from None

    sockets = Sockets(
        inputs=_plain(pipeline.inputs()),
        outputs=_plain(pipeline.outputs(include_components_with_connected_outputs=True)),
        leaf_outputs=_plain(pipeline.outputs()),
    )
    _check_mapping(definition, pipeline, sockets)
    guard_pipeline_stores(pipeline)  # before any run can write or query
    if warm_up:
        try:
            pipeline.warm_up()
        except Exception as error:
            pipeline.close()
            raise InvalidDefinition(
                f"The pipeline was built but its warm-up failed: {type(error).__name__}: {trim(str(error), 300)}"
            ) from None
    return Build(definition=definition, pipeline=pipeline, sockets=sockets)


def _plain(sockets: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    return {component: dict(component_sockets) for component, component_sockets in sockets.items()}


def _deserialization_problem(definition: Definition, error: DeserializationError) -> InvalidDefinition:
    message = str(error)
    if message.startswith("Refusing to deserialize"):
        # Haystack's text ends with advice on loosening the allowlist in code; keep only the refusal itself.
        return InvalidDefinition(
            trim(message.split(":", 1)[0] + ": the module is not on the trusted-module allowlist.")
        )
    if message.startswith("Error while unmarshalling"):
        return InvalidDefinition("The YAML cannot be parsed.")
    if message.startswith("Couldn't deserialize component"):
        # Haystack embeds up to 1,000 characters of the component's data here; name the component and the cause only.
        match = re.match(r"Couldn't deserialize component '(.+?)' of class", message)
        name = match.group(1) if match else "?"
        cause = error.__cause__ if error.__cause__ is not None else error
        return InvalidDefinition(
            f"Component '{name}' cannot be created from its init_parameters: "
            f"{type(cause).__name__}: {trim(str(cause), 300)}",
            component=name,
            line=component_line(definition.text, name),
        )
    return InvalidDefinition(trim(message, 300))


def _unknown_type_problem(definition: Definition, error: PipelineError) -> InvalidDefinition:
    message = str(error)
    for name, spec in definition.pipeline.get("components", {}).items():
        if f"(name: '{name}')" in message:
            return InvalidDefinition(
                f"Component '{name}' has type '{trim(str(spec.get('type')), 200)}', which is not a Haystack component "
                "class that can be imported. Use the class's defining module path, such as "
                "'haystack.components.builders.prompt_builder.PromptBuilder'.",
                component=name,
                line=component_line(definition.text, name),
            )
    return InvalidDefinition(trim(message, 300))


def _check_mapping(definition: Definition, pipeline: Pipeline, sockets: Sockets) -> None:
    components = set(pipeline.graph.nodes)

    def check(ref: SocketRef, kind: str, friendly: str, available: dict[str, dict[str, Any]]) -> None:
        if ref.component not in components:
            raise InvalidDefinition(
                f"{kind} '{friendly}' maps to '{ref}', but there is no component '{ref.component}'.",
                component=ref.component,
            )
        if ref.socket not in available.get(ref.component, {}):
            offered = ", ".join(sorted(available.get(ref.component, {}))) or "none"
            raise InvalidDefinition(
                f"{kind} '{friendly}' maps to '{ref}', but '{ref.component}' has no such "
                f"{'open input' if kind == 'Input' else 'output'} socket (it offers: {offered}).",
                component=ref.component,
            )

    for friendly, refs in definition.inputs.items():
        for ref in refs:
            check(ref, "Input", friendly, sockets.inputs)
    for friendly, refs in definition.outputs.items():
        for ref in refs:
            check(ref, "Output", friendly, sockets.outputs)
