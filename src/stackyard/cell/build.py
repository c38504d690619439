"""Turning a parsed `Definition` into a warmed-up Haystack `Pipeline`, or a clear `InvalidDefinition`.

A build runs off the event loop and before anything is stored or swapped, so a definition that fails here changes
nothing. Haystack's own messages can echo a whole component's data and list every registered class; they are
replaced or trimmed here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from haystack import Pipeline
from haystack.core.errors import DeserializationError, PipelineConnectError, PipelineError
from haystack.core.serialization import DeserializationCallbacks

from stackyard.cell.index_guard import guard_pipeline_stores
from stackyard.cell.parsing import component_line
from stackyard.errors import InvalidDefinition, trim
from stackyard.wire.definition import Definition, SocketRef

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
    pre_init: Callable[[], PreInitHook] | None = None,
    warm_up: bool = True,
    reuse: Callable[[Definition, Pipeline], None] | None = None,
) -> Build:
    """Load `definition` with Haystack, check its friendly-name mapping, and warm it up once.

    `pre_init` makes the policy's hook for one pass over the components (it counts them). Blocking: call it in a
    cell. `reuse` may hand warmed components of other builds to the new pipeline before its warm-up
    (`cell.held_builds`). Raises `InvalidDefinition` for everything a definition can get wrong.
    """
    modules = allowed_modules or None

    def callbacks() -> DeserializationCallbacks | None:
        return DeserializationCallbacks(component_pre_init=pre_init()) if pre_init else None

    try:
        pipeline = Pipeline.from_dict(definition.pipeline, callbacks(), allowed_modules=modules)
    except PipelineConnectError as error:
        raise InvalidDefinition(f"A connection is not valid: {trim(str(error), 400)}") from None
    except Exception as error:
        if (refusal := _refusal_within(error)) is not None:
            raise refusal from None
        # Haystack's error may not say which component failed: each alone, the first that fails names itself.
        # Only on this path: on success the whole is built once.
        for name, spec in definition.pipeline.get("components", {}).items():
            _component(name, spec, definition, callbacks(), modules)
        raise InvalidDefinition(f"The pipeline cannot be assembled: {trim(str(error), 300)}") from None

    sockets = Sockets(
        inputs=_plain(pipeline.inputs()),
        outputs=_plain(pipeline.outputs(include_components_with_connected_outputs=True)),
        leaf_outputs=_plain(pipeline.outputs()),
    )
    _check_mapping(definition, pipeline, sockets)
    _check_streaming(definition, pipeline, sockets)
    guard_pipeline_stores(pipeline)  # before any run can write or query
    if reuse is not None:
        reuse(definition, pipeline)
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


def _component(
    name: str,
    spec: Any,
    definition: Definition,
    callbacks: DeserializationCallbacks | None,
    allowed_modules: list[str] | None,
) -> Any:
    """The instance of one component, or an `InvalidDefinition` that names it, whatever went wrong in Haystack."""

    def where() -> dict[str, Any]:  # finding the line re-parses the whole text: only for an error message
        return {"component": name, "line": component_line(definition.text, name)}

    try:
        alone = Pipeline.from_dict({"components": {name: spec}}, callbacks, allowed_modules=allowed_modules)
    except InvalidDefinition:  # the policy's own refusal (pre_init), which names the component already
        raise
    except DeserializationError as error:
        if (refusal := _refusal_within(error)) is not None:
            raise refusal from None
        if error.__cause__ is None:  # a module off the allowlist, in its type or in its parameters
            raise InvalidDefinition(
                f"Component '{name}' names a module that is not on the trusted-module allowlist "
                "(STACKYARD_EXTRA_ALLOWED_MODULES adds your own).",
                **where(),
            ) from None
        # Haystack's text embeds up to 1,000 characters of the component's data: give the cause only.
        cause = error.__cause__
        raise InvalidDefinition(
            f"Component '{name}' cannot be created from its init_parameters: "
            f"{type(cause).__name__}: {trim(str(cause), 300)}",
            **where(),
        ) from None
    except PipelineError:  # its type: not importable, or not a registered component class
        raise InvalidDefinition(
            f"Component '{name}' has type '{trim(str(spec.get('type') if isinstance(spec, dict) else spec), 200)}', "
            "which is not a Haystack component class that can be imported. Use the class's defining module path, "
            "such as 'haystack.components.builders.prompt_builder.PromptBuilder'.",
            **where(),
        ) from None
    except Exception as error:  # a component's own __init__ may raise anything; it is still the definition's fault
        if (refusal := _refusal_within(error)) is not None:
            raise refusal from None
        raise InvalidDefinition(
            f"Component '{name}' cannot be created: {type(error).__name__}: {trim(str(error), 300)}", **where()
        ) from None
    return alone.remove_component(name)  # detached, so the whole pipeline can take it


def _refusal_within(error: BaseException) -> InvalidDefinition | None:
    """The policy's refusal (pre_init) under Haystack's wrappings: one per nesting level it was raised at (a
    component of a SuperComponent's pipeline, an Agent's chat generator)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, InvalidDefinition):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


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


def can_stream(pipeline: Pipeline, name: str) -> bool:
    """Whether component `name` can stream: its run takes a `streaming_callback` (`serving/streams.py`)."""
    return "streaming_callback" in getattr(pipeline.get_component(name), "__haystack_input__", {})


def _check_streaming(definition: Definition, pipeline: Pipeline, sockets: Sockets) -> None:
    """`streaming_components` names components that can stream, and a chat declaration (`metadata.chat`) an input a
    run takes: refused at deploy, not at each run."""
    chosen = definition.streaming_components
    if isinstance(chosen, tuple):
        unable = [name for name in chosen if not can_stream(pipeline, name)]
        if unable:
            raise InvalidDefinition(
                f"'streaming_components' names component(s) that cannot stream: {', '.join(map(repr, unable))} (a "
                "streaming component's run takes a streaming_callback).",
                component=unable[0],
            )
    metadata = definition.pipeline.get("metadata")
    chat = metadata.get("chat") if isinstance(metadata, dict) else None
    if isinstance(chat, dict):
        flat = set(definition.inputs) | {socket for specs in sockets.inputs.values() for socket in specs}
        if chat.get("parameters") and "generation_kwargs" not in flat:
            raise InvalidDefinition(
                "'metadata.chat.parameters' are passed on in the run input 'generation_kwargs', which this pipeline "
                "does not take (a chat generator's run does)."
            )
        if chat.get("input") not in flat:
            raise InvalidDefinition(
                f"'metadata.chat.input' is '{chat.get('input')}', which is not an input of this pipeline "
                f"(it takes: {', '.join(sorted(flat)) or 'none'})."
            )
