"""Checking a candidate definition without storing or swapping anything, and simulating one run of it.

`validate` uses the same parse-and-build path as a deploy, so a definition that validates deploys. A simulation runs
the candidate build in isolation, never the live one; since in-memory document stores with the same index share
storage with live pipelines, a candidate that writes is refused unless the caller accepts writes explicitly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from haystack.components.writers import DocumentWriter
from haystack.document_stores.in_memory import InMemoryDocumentStore

from stackyard.definitions.build import Build, BuildInfo
from stackyard.definitions.schema import input_schema, output_schema
from stackyard.errors import SimulationRefused, StackyardError
from stackyard.serving.docstores import held_stores
from stackyard.serving.inputs import InputPolicy, accepted_names
from stackyard.serving.runner import run_build


@dataclass(frozen=True)
class Finding:
    message: str
    title: str
    component: str | None = None
    line: int | None = None
    column: int | None = None


@dataclass(frozen=True)
class BreakingChange:
    kind: str  # input-removed, output-removed, mandatory-input-added, ignored-key
    name: str
    message: str


@dataclass(frozen=True)
class Simulation:
    result: dict[str, Any] | None
    timings_ms: dict[str, float]
    total_ms: float
    error: Finding | None = None


@dataclass(frozen=True)
class Report:
    valid: bool
    problems: list[Finding] = field(default_factory=list)
    warnings: list[BreakingChange] = field(default_factory=list)
    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    simulation: Simulation | None = None


def problem_of(error: StackyardError) -> Finding:
    extensions = error.extensions
    return Finding(
        message=error.detail,
        title=error.title,
        component=extensions.get("component"),
        line=extensions.get("line"),
        column=extensions.get("column"),
    )


def writers(build: Build) -> list[str]:
    """Components of the candidate that write documents."""
    found = []
    for name in build.pipeline.graph.nodes:
        instance = build.pipeline.get_component(name)
        if isinstance(instance, DocumentWriter) or type(instance).__name__.endswith("Writer"):
            found.append(name)
    return found


def breaking_changes(live: BuildInfo, candidate: BuildInfo) -> list[BreakingChange]:
    """What a caller of the live pipeline would notice: inputs or outputs gone, a new mandatory input."""
    warnings: list[BreakingChange] = []
    for name in sorted(set(live.accepted_inputs) - set(candidate.accepted_inputs)):
        warnings.append(
            BreakingChange("input-removed", name, f"Input '{name}' is accepted now and would not be any more.")
        )
    for name in sorted(set(candidate.mandatory_inputs) - set(live.mandatory_inputs)):
        warnings.append(
            BreakingChange(
                "mandatory-input-added", name, f"Input '{name}' would become mandatory; current callers omit it."
            )
        )
    for name in sorted(set(live.outputs) - set(candidate.outputs)):
        warnings.append(
            BreakingChange("output-removed", name, f"Output '{name}' is returned now and would not be any more.")
        )
    return warnings


def mandatory_inputs(build: Build, inputs: dict[str, Any] | None = None) -> tuple[str, ...]:
    """The flat inputs a run must give; from `inputs`, the build's input schema, when it is at hand."""
    schema = inputs if inputs is not None else input_schema(build)
    return tuple(schema["anyOf"][0].get("required", []))


def default_outputs(build: Build) -> tuple[str, ...]:
    if build.definition.outputs:
        return tuple(build.definition.outputs)
    return tuple(
        f"{component}.{socket}" for component, sockets in build.sockets.leaf_outputs.items() for socket in sockets
    )


def describe(key: str, built: Build) -> BuildInfo:
    """What the server keeps of `built`: schemas, names, and whether its documents live in this worker."""
    memory = [store for _name, store in held_stores(built.pipeline) if isinstance(store, InMemoryDocumentStore)]
    inputs = input_schema(built)
    return BuildInfo(
        key=key,
        definition=built.definition,
        inputs_schema=inputs,
        outputs_schema=output_schema(built),
        accepted_inputs=tuple(accepted_names(built)),
        mandatory_inputs=mandatory_inputs(built, inputs),
        outputs=default_outputs(built),
        in_memory_indexes=tuple(sorted({store.index for store in memory})),
        pinned=bool(memory),
    )


def examine(
    build: Build, key: str, sample_input: dict[str, Any] | None, *, allow_writes: bool, policy: InputPolicy
) -> tuple[BuildInfo, Simulation | None]:
    """`POST /validate`'s work on a throwaway build of the candidate, in a worker: what it is, and one simulated
    run when `sample_input` is given."""
    info = describe(key, build)
    if sample_input is None:
        return info, None
    return info, simulate(build, sample_input, allow_writes=allow_writes, policy=policy)


def simulate(build: Build, sample_input: dict[str, Any], *, allow_writes: bool, policy: InputPolicy) -> Simulation:
    """Run the candidate once and time each component: the work of a throwaway build in a worker process."""
    writing = writers(build)
    if writing and not allow_writes:
        raise SimulationRefused(
            f"Component(s) {', '.join(map(repr, writing))} write to a document store, which a simulation would change "
            "for real. Pass allow_writes: true to simulate anyway.",
            components=writing,
        )
    timings: dict[str, float] = {}
    _time_components(build, timings)
    started = time.perf_counter()
    try:
        result = run_build(build, sample_input, policy=policy)
    except StackyardError as error:
        return Simulation(None, timings, _ms(started), problem_of(error))
    return Simulation(result, timings, _ms(started))


def _time_components(build: Build, timings: dict[str, float]) -> None:
    # The candidate is a throwaway build that no request can reach, so timing its components by wrapping their
    # `run` methods affects nothing else (live pipelines are timed through Haystack's tracing instead).
    for name in build.pipeline.graph.nodes:
        instance = build.pipeline.get_component(name)
        original = instance.run

        def timed(*args: Any, __name: str = name, __run: Any = original, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return __run(*args, **kwargs)
            finally:
                timings[__name] = timings.get(__name, 0.0) + _ms(started)

        instance.run = timed  # type: ignore[method-assign]  # instance-level shadowing is the point


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def ignored_keys(candidate: BuildInfo) -> list[BreakingChange]:
    """The keys of the candidate that Haystack 3 reads past, as warnings."""
    definition = candidate.definition
    return [
        BreakingChange("ignored-key", key, message)
        for key, message in zip(definition.ignored_keys, definition.warnings, strict=True)
    ]


def report_for(candidate: BuildInfo, live: BuildInfo | None) -> Report:
    return Report(
        valid=True,
        warnings=ignored_keys(candidate) + (breaking_changes(live, candidate) if live is not None else []),
        inputs=candidate.inputs_schema,
        outputs=candidate.outputs_schema,
    )
