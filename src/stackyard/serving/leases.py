"""Doing work on a pipeline's live revision: the lookup, the slot (per-pipeline gates), the lease, the worker and
the timeout of a run.

The run lane, file uploads and the Haystack 1.x routes all run pipelines the same way, through `Leases.run`; the
document routes only need the lease (`Leases.use`). The work itself is a picklable callable (a module-level
function, or a `functools.partial` of one) that a worker process calls with its build (`serving.pool`).

This is the hot path of every run, so it is written for the event loop's sake: a free slot is taken without
suspending, and nothing but the worker's socket is waited on. The slot and the lease go back only once the work
has really stopped: when the worker answered, or when it was ended for overstaying, never when the caller gave up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from stackyard.definitions.build import Build
from stackyard.definitions.names import check_name
from stackyard.errors import PipelineDisabled, PipelineNotFound, PipelineUnavailable, RunTimeout, TooManyRuns
from stackyard.observability.tracer import RunScope
from stackyard.serving.messages import Answer, OnChunk, SpanRecord
from stackyard.serving.pool import WorkerPool, WorkTimedOut
from stackyard.serving.registry import LiveRevision, Registry

T = TypeVar("T")


class _Gate:
    """The slots of one pipeline. A free slot is taken without suspending; a full gate queues on the semaphore."""

    __slots__ = ("slots", "waiting")

    def __init__(self, concurrent: int) -> None:
        self.slots = asyncio.Semaphore(concurrent)
        self.waiting = 0

    def release(self) -> None:
        self.slots.release()


@dataclass
class RunLimits:
    """At most `concurrent` runs of one pipeline at once, and at most `queued` more waiting; beyond that, 429."""

    concurrent: int
    queued: int
    _gates: dict[str, _Gate] = field(default_factory=dict)

    async def enter(self, pipeline: str) -> _Gate:
        """Take a slot of `pipeline`, waiting in its queue if need be; pair with the gate's `release()`."""
        gate = self._gates.get(pipeline)
        if gate is None:
            gate = self._gates[pipeline] = _Gate(self.concurrent)
        if not gate.slots.locked():
            await gate.slots.acquire()  # returns at once: asyncio's semaphore only suspends when it must wait
            return gate
        if gate.waiting >= self.queued:
            raise TooManyRuns(
                f"Pipeline '{pipeline}' runs {self.concurrent} requests and has {gate.waiting} waiting; retry shortly."
            )
        gate.waiting += 1
        try:
            await gate.slots.acquire()
        finally:
            gate.waiting -= 1
        return gate


def missing(registry: Registry, name: str) -> Exception:
    """The problem for a pipeline this process does not serve: failed to build here, unknown, or not a name at all.

    Only a miss needs the name checked: every name the registry holds was checked when it was deployed.
    """
    check_name(name)
    failure = registry.failure(name)
    if failure is not None:
        return PipelineUnavailable(
            f"Pipeline '{name}' is stored, but revision {failure.revision} failed to build here: {failure.error}",
            revision=failure.revision,
        )
    return PipelineNotFound(f"There is no pipeline named '{name}'. List them with GET /pipelines.")


@dataclass
class Leases:
    """How work reaches a live revision: the lookup, the gate (runs only), the lease, the worker and the timeout.

    Made once by the lifespan. `run` is one counted run of a pipeline, within its gate and the run timeout; `use`
    only holds the lease (the document routes: a revision is never let go while its store is being read).
    """

    registry: Registry
    gates: RunLimits
    pool: WorkerPool
    timeout: float
    scopes: Callable[[str, int], RunScope]  # where a revision's runs are measured (`RunScopes`)
    replay: Callable[[tuple[SpanRecord, ...]], None] | None = None  # a run's spans, under the request's span

    async def run(
        self, name: str, work: Callable[[Build], T], on_chunk: OnChunk | None = None
    ) -> tuple[LiveRevision, T]:
        """Do `work(build)` on the live revision of `name` in a worker, as one run: counted, within the gate and
        the timeout. Answers the revision it ran on and what `work` answered. With `on_chunk`, a streaming run:
        the chunks the work sends go there as they come (`serving/streams.py`)."""
        registry = self.registry
        current = registry.get(name)
        if current is None:
            raise missing(registry, name)
        scope = self.scopes(current.name, current.revision)
        series = scope.series
        assert series is not None  # every scope `RunScopes` makes has its series
        started = series.started()
        error: BaseException | None = None
        try:
            if not registry.is_enabled(name):
                raise PipelineDisabled(
                    f"Pipeline '{name}' is disabled; PATCH it with {{\"enabled\": true}} to serve it again."
                )
            gate = await self.gates.enter(name)
            # Taken after the wait for a slot, so a queued run starts on the newest revision.
            live = registry.acquire(name)
            if live is None:
                gate.release()
                raise missing(registry, name)
            series.executing()

            def ended() -> None:  # the work has really stopped: only now are the slot and the lease free again
                series.stopped()
                gate.release()
                registry.release(live)

            if on_chunk is not None:
                on_chunk = series.streaming(started, on_chunk)
            answer = await self._in_worker(live, work, ended, scope, on_chunk)
            self._measure(scope, answer)
            if answer.error is not None:
                raise answer.error
        except BaseException as raised:
            error = raised
            raise
        finally:
            series.finished(started, error)
        return live, answer.value

    async def use(self, name: str, work: Callable[[Build], T]) -> tuple[LiveRevision, T]:
        """Do `work(build)` in a worker under a lease on the live revision of `name` (no gate, not counted)."""
        registry = self.registry
        live = registry.acquire(name)
        if live is None:
            raise missing(registry, name)
        answer = await self._in_worker(live, work, lambda: registry.release(live))
        if answer.error is not None:
            raise answer.error
        return live, answer.value

    async def _in_worker(
        self,
        live: LiveRevision,
        work: Callable[[Build], Any],
        ended: Callable[[], None],
        scope: RunScope | None = None,
        on_chunk: OnChunk | None = None,
    ) -> Answer:
        try:
            return await self.pool.run(
                live.info,
                work,
                seconds=self.timeout,
                scope=(live.name, live.revision) if scope is not None else None,
                spans=scope is not None and scope.spans is not None,
                on_end=ended,
                on_chunk=on_chunk,
            )
        except WorkTimedOut:
            raise RunTimeout(
                f"Pipeline '{live.name}' did not finish within {self.timeout:g} s (STACKYARD_RUN_TIMEOUT); the "
                "work was stopped."
            ) from None

    def _measure(self, scope: RunScope, answer: Answer) -> None:
        sink = scope.metrics
        for timing in answer.timings:
            if timing.failed:
                sink.component_failed(scope.pipeline, timing.component)
            sink.component_ran(scope.pipeline, timing.component, timing.seconds)
        if answer.spans and self.replay is not None:
            self.replay(answer.spans)
