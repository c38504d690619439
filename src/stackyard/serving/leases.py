"""Doing blocking work on a pipeline's live revision: the lookup, the slot (per-pipeline gates), the lease and the
timeout of a run.

The run lane, file uploads and the Haystack 1.x routes all run pipelines the same way, through `Leases.run`; the
document routes only need the lease (`Leases.use`).

This is the hot path of every run, so it is written for the event loop's sake: the work goes to the app's own run
threads with `run_in_executor` (anyio's `to_thread` adds checkpoints and a capacity limiter the executor already
is), the timeout is `asyncio.timeout`, a free slot is taken without suspending, and the lease goes back on the loop
unless the caller has given up.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TypeVar

from stackyard.definitions.build import Build
from stackyard.definitions.names import check_name
from stackyard.errors import PipelineDisabled, PipelineNotFound, PipelineUnavailable, RunTimeout, TooManyRuns
from stackyard.observability.tracer import RunScope, enter_run_scope
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
    """How work reaches a live revision: the lookup, the gate (runs only), the lease, the timeout and the thread.

    Made once by the lifespan. `run` is one counted run of a pipeline, within its gate and the run timeout; `use`
    only holds the lease (the document routes: a revision is never closed while its store is being read).
    """

    registry: Registry
    gates: RunLimits
    threads: Executor
    timeout: float
    scopes: Callable[[str, int], RunScope]  # where a revision's runs are measured (`RunScopes`)

    async def run(self, name: str, work: Callable[[Build], T]) -> tuple[LiveRevision, T]:
        """Run `work(build)` on the live revision of `name` in a run thread, as one run: counted, within the gate and
        the timeout. Answers the revision it ran on and what `work` answered."""
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
            try:
                # Taken after the wait for a slot, so a queued run starts on the newest revision.
                live = registry.acquire(name)
                if live is None:
                    raise missing(registry, name)
                deadline = asyncio.timeout(self.timeout)
                try:
                    async with deadline:
                        result = await _in_thread(self.threads, registry, live, work, scope)
                except TimeoutError:
                    if not deadline.expired():
                        raise
                    raise RunTimeout(
                        f"Pipeline '{name}' did not finish within {self.timeout:g} s (STACKYARD_RUN_TIMEOUT)."
                    ) from None
            finally:
                gate.release()
        except BaseException as raised:
            error = raised
            raise
        finally:
            series.finished(started, error)
        return live, result

    async def use(self, name: str, work: Callable[[Build], T]) -> tuple[LiveRevision, T]:
        """Run `work(build)` in a run thread under a lease on the live revision of `name` (no gate, not counted)."""
        live = self.registry.acquire(name)
        if live is None:
            raise missing(self.registry, name)
        return live, await _in_thread(self.threads, self.registry, live, work)


class _Handoff:
    """Who gives a lease back: the caller, unless it gave up (timeout, cancellation) while the work was running.

    Then the thread does, when the work really ends, so a revision is never closed under a run that is still going.
    Work the caller gave up on before a thread picked it up never starts.
    """

    __slots__ = ("abandoned", "finished", "lock", "started")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.started = self.finished = self.abandoned = False


async def _in_thread(
    threads: Executor,
    registry: Registry,
    live: LiveRevision,
    work: Callable[[Build], T],
    scope: RunScope | None = None,
) -> T:
    loop = asyncio.get_running_loop()
    handoff = _Handoff()

    def call() -> T:
        with handoff.lock:
            if handoff.abandoned:
                raise RuntimeError("the caller gave up before the work started")  # nobody awaits this any more
            handoff.started = True
        try:
            if scope is not None:
                enter_run_scope(scope)  # in this call's own copy of the context: nothing to reset
            return work(live.build)
        finally:
            with handoff.lock:
                handoff.finished = True
                abandoned = handoff.abandoned
            if abandoned:
                loop.call_soon_threadsafe(registry.release, live)

    try:
        # The copied context carries the request id (log records) and the run scope into the thread.
        result = await loop.run_in_executor(threads, contextvars.copy_context().run, call)
    except BaseException:
        with handoff.lock:
            handoff.abandoned = True
            mine = not handoff.started or handoff.finished
        if mine:
            registry.release(live)
        raise
    registry.release(live)
    return result
