"""What a cell tells of a build it made (`describe`), and `POST /validate`'s work on a throwaway build: one
simulated run, timed per component.

A simulation runs the candidate build in isolation, never the live one; since in-memory document stores with the
same index share storage with live pipelines in a cell, a candidate that writes is refused unless the caller
accepts writes explicitly.
"""

from __future__ import annotations

import time
from typing import Any

from haystack.components.writers import DocumentWriter
from haystack.document_stores.in_memory import InMemoryDocumentStore

from stackyard.cell.build import Build
from stackyard.cell.docstores import held_stores
from stackyard.cell.inputs import InputPolicy, accepted_names
from stackyard.cell.runner import run_build
from stackyard.cell.schema import input_schema, output_schema
from stackyard.errors import SimulationRefused, StackyardError
from stackyard.wire.build_info import BuildInfo
from stackyard.wire.findings import Simulation, problem_of


def writers(build: Build) -> list[str]:
    """Components of the candidate that write documents."""
    found = []
    for name in build.pipeline.graph.nodes:
        instance = build.pipeline.get_component(name)
        if isinstance(instance, DocumentWriter) or type(instance).__name__.endswith("Writer"):
            found.append(name)
    return found


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


def describe(key: str, built: Build, grown_bytes: int = 0) -> BuildInfo:
    """What the server keeps of `built`: schemas, names, and what decides where it is placed: the in-memory
    indexes whose documents live in this cell, what building it added to the cell's memory, and whether a
    component of it runs natively async."""
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
        grown_bytes=grown_bytes,
        runs_async=runs_async(built),
    )


def runs_async(build: Build) -> bool:
    """Whether a component of the build has a native `run_async` (Haystack marks those it found at
    registration): such a run is awaited on the cell's loop, so its wait on a remote model holds no thread."""
    return any(
        getattr(build.pipeline.graph.nodes[name].get("instance"), "__haystack_supports_async__", False)
        for name in build.pipeline.graph.nodes
    )


def examine(
    build: Build, key: str, sample_input: dict[str, Any] | None, *, allow_writes: bool, policy: InputPolicy
) -> tuple[BuildInfo, Simulation | None]:
    """`POST /validate`'s work on a throwaway build of the candidate, in a cell: what it is, and one simulated run
    when `sample_input` is given."""
    info = describe(key, build)
    if sample_input is None:
        return info, None
    return info, simulate(build, sample_input, allow_writes=allow_writes, policy=policy)


def simulate(build: Build, sample_input: dict[str, Any], *, allow_writes: bool, policy: InputPolicy) -> Simulation:
    """Run the candidate once and time each component: the work of a throwaway build in a cell."""
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
