"""Doing work on a pipeline's live revision: the lookup, the slot (per-pipeline gates), the lease, the cell and
the deadline of a run.

The run lane, file uploads and the Haystack 1.x routes all run pipelines the same way, through `Leases.run`; the
document routes only need the lease (`Leases.use`). The work is a named job (`wire.jobs`) that a cell does on
its build (`serving.cell_pool`); its answer comes back as JSON text.

A run's deadline starts when it arrives: the wait for a slot of its pipeline counts, and a run that cannot start
before its deadline is answered 503 with Retry-After (nothing ran), never 200 after its timeout.

This is the hot path of every run, so it is written for the event loop's sake: a free slot is taken without
suspending, and nothing but the cell's socket is waited on. The slot and the lease go back only once the job has
really stopped: when the cell answered, or past the job's deadline and grace, never when the caller gave up.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from stackyard.definitions.names import check_name
from stackyard.errors import (
    PipelineDisabled,
    PipelineNotFound,
    PipelineUnavailable,
    RunNotStarted,
    RunTimeout,
    TooManyRuns,
)
from stackyard.observability.run_scopes import RunScope
from stackyard.serving.cell_pool import CellPool, WorkTimedOut
from stackyard.serving.channel import Answer, OnChunk
from stackyard.serving.registry import LiveRevision, Registry
from stackyard.wire.jobs import Documents, Export, Index, Query, Run
from stackyard.wire.replies import Failed, SpanRecord


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

    async def enter(self, pipeline: str, deadline: float) -> _Gate:
        """Take a slot of `pipeline`, waiting in its queue if need be, until `deadline` (monotonic); pair with
        the gate's `release()`."""
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
            async with asyncio.timeout_at(deadline):
                await gate.slots.acquire()
        except TimeoutError:
            raise RunNotStarted(
                f"Pipeline '{pipeline}' ran {self.concurrent} requests until this one's deadline; it did not start. "
                "Retry shortly."
            ) from None
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
    """How work reaches a live revision: the lookup, the gate (runs only), the lease, the cell and the deadline.

    Made once by the lifespan. `run` is one counted run of a pipeline, within its gate and the run timeout; `use`
    only holds the lease (the document routes: a revision is never let go while its store is being read).
    """

    registry: Registry
    gates: RunLimits
    pool: CellPool
    timeout: float
    scopes: Callable[[str, int], RunScope]  # where a revision's runs are measured (`RunScopes`)
    replay: Callable[[tuple[SpanRecord, ...]], None] | None = None  # a run's spans, under the request's span

    async def run(
        self, name: str, job: Run | Query | Index, on_chunk: OnChunk | None = None
    ) -> tuple[LiveRevision, bytes]:
        """Do `job` on the live revision of `name` in a cell, as one run: counted, within the gate and the
        deadline. Answers the revision it ran on and the job's answer as JSON text. With `on_chunk`, a streaming
        run: the chunks go there as they come (`cell/streams.py`)."""
        deadline = time.monotonic() + self.timeout  # from arrival: the wait for a slot counts
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
            if self.pool.short_of_memory:
                raise RunNotStarted(
                    "The server holds too much memory to take another run now (STACKYARD_MEMORY_BUDGET_BYTES); "
                    "retry shortly."
                )
            gate = await self.gates.enter(name, deadline)
            # Taken after the wait for a slot, so a queued run starts on the newest revision.
            live = registry.acquire(name)
            if live is None:
                gate.release()
                raise missing(registry, name)
            series.executing()

            # Called once the job has really stopped: only then are the slot and the lease free again.
            ended = (series.stopped, gate.slots.release, functools.partial(registry.release, live))

            if on_chunk is not None:
                on_chunk = series.streaming(started, on_chunk)
            scoped = msgspec.structs.replace(job, scope=(live.name, live.revision))
            if isinstance(scoped, Run) and scope.spans:
                scoped = msgspec.structs.replace(scoped, spans=True)
            answer = await self._in_cell(live, scoped, deadline, ended, on_chunk, counted=True)
            self._measure(scope, answer)
            if isinstance(answer, Failed):
                raise answer.problem.error()
        except BaseException as raised:
            error = raised
            raise
        finally:
            series.finished(started, error)
        return live, answer.value

    async def use(self, name: str, job: Documents | Export) -> tuple[LiveRevision, bytes]:
        """Do `job` in a cell under a lease on the live revision of `name` (no gate, not counted)."""
        registry = self.registry
        live = registry.acquire(name)
        if live is None:
            raise missing(registry, name)
        deadline = time.monotonic() + self.timeout
        answer = await self._in_cell(live, job, deadline, (functools.partial(registry.release, live),))
        if isinstance(answer, Failed):
            raise answer.problem.error()
        return live, answer.value

    async def _in_cell(
        self,
        live: LiveRevision,
        job: Run | Query | Index | Documents | Export,
        deadline: float,
        ended: tuple[Callable[[], None], ...],
        on_chunk: OnChunk | None = None,
        *,
        counted: bool = False,
    ) -> Answer:
        try:
            return await self.pool.call(
                live.info,
                job,
                deadline=deadline,
                pipeline=live.name if counted else None,
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
