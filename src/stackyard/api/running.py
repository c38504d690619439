"""Doing blocking work on a pipeline's live revision: the lookup, the slot, the lease and the timeout of a run.

The run route, file uploads and the Haystack 1.x routes all run pipelines the same way; the document routes only
need the lease (a revision is never closed while its document store is being read).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TypeVar

import anyio

from stackyard.api.limits import RunLimits, RunTimeout
from stackyard.api.state import AppState
from stackyard.errors import PipelineDisabled, PipelineNotFound, PipelineUnavailable
from stackyard.names import check_name
from stackyard.registry import LiveRevision, Registry

T = TypeVar("T")


def missing(registry: Registry, name: str) -> Exception:
    """The problem for a pipeline this process does not serve: failed to build here, or unknown."""
    failure = registry.failure(name)
    if failure is not None:
        return PipelineUnavailable(
            f"Pipeline '{name}' is stored, but revision {failure.revision} failed to build here: {failure.error}",
            revision=failure.revision,
        )
    return PipelineNotFound(f"There is no pipeline named '{name}'. List them with GET /pipelines.")


async def run_on_live(
    state: AppState, limits: RunLimits, name: str, work: Callable[[LiveRevision], T]
) -> tuple[LiveRevision, T]:
    """Run `work(live)` in a worker thread as one run of `name`: counted, within the run limits and timeout."""
    registry = state.registry
    current = registry.get(name)
    if current is None:
        raise missing(registry, check_name(name))
    settings = state.settings
    with state.observability.run(current):
        if not registry.is_enabled(name):
            raise PipelineDisabled(
                f"Pipeline '{name}' is disabled; PATCH it with {{\"enabled\": true}} to serve it again."
            )
        async with limits.slot(name):
            # Taken after the wait for a slot, so a queued run starts on the newest revision.
            live = registry.acquire(name)
            if live is None:
                raise missing(registry, name)
            try:
                with anyio.fail_after(settings.run_timeout):
                    result = await _in_thread(registry, live, work)
            except TimeoutError:
                raise RunTimeout(
                    f"Pipeline '{name}' did not finish within {settings.run_timeout:g} s (STACKYARD_RUN_TIMEOUT)."
                ) from None
    return live, result


async def use_live(registry: Registry, name: str, work: Callable[[LiveRevision], T]) -> tuple[LiveRevision, T]:
    """Run `work(live)` in a worker thread under a lease on the live revision of `name` (no run limits)."""
    live = registry.acquire(check_name(name))
    if live is None:
        raise missing(registry, name)
    return live, await _in_thread(registry, live, work)


async def _in_thread(registry: Registry, live: LiveRevision, work: Callable[[LiveRevision], T]) -> T:
    loop = asyncio.get_running_loop()
    # Whoever takes this first releases the lease: the thread that starts the work, or the caller when it is
    # cancelled (a timeout) before a worker thread picked the work up, in which case `call` never runs.
    owner = threading.Lock()

    def call() -> T:
        if not owner.acquire(blocking=False):
            raise RuntimeError("the caller gave up before the work started")  # nobody awaits this any more
        try:
            return work(live)
        finally:
            # Released when the thread really ends, even after a timeout answered early, so the revision
            # is never closed under a run that is still going.
            loop.call_soon_threadsafe(registry.release, live)

    try:
        return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
    except BaseException:
        if owner.acquire(blocking=False):
            registry.release(live)
        raise
