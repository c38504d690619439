"""Converging this process's registry to the store: at start-up, then whenever the store's generation moves.

Other workers and replicas write to the same store; this loop is how their changes reach this process. A revision
that fails to build here is recorded as a failure and the previous revision keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio

from stackyard.changes.manager import Manager
from stackyard.errors import StackyardError
from stackyard.store import ChangeProbe, DefinitionStore, PipelineRecord
from stackyard.wire.build_info import BuildInfo

log = logging.getLogger(__name__)


@dataclass
class Synchronizer:
    manager: Manager
    applied_generation: int = 0
    ready: anyio.Event = field(default_factory=anyio.Event)
    # Set (from any thread, through the loop) when the store says something changed: converge now, not at the tick.
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    # Set whenever `applied_generation` moves, so the heartbeat reports it at once.
    converged: asyncio.Event = field(default_factory=asyncio.Event)
    _mark: int | None = None  # the store's change mark when this process last converged
    # Why the last sync failed (the store cannot be read): this process cannot confirm that it serves what the store
    # holds, so it is not ready (`/readyz`). None once a sync succeeds.
    unconfirmed: str | None = None

    async def converge(self) -> None:
        """Apply every change committed since the last call."""
        store = self.manager.store
        # A store that can say cheaply that nothing was committed spares the poll its thread hop and its query.
        mark = store.change_mark() if isinstance(store, ChangeProbe) else None
        if mark is not None and mark == self._mark:
            return
        await self._converge_from(store)
        self._mark = mark  # only once converged: after a failure the next tick reads the store again

    async def _converge_from(self, store: DefinitionStore) -> None:
        generation = await anyio.to_thread.run_sync(store.generation)
        if generation <= self.applied_generation:
            return
        for record in await anyio.to_thread.run_sync(store.changes_since, self.applied_generation):
            await self._apply(record)
        self.applied_generation = generation
        self.converged.set()

    async def run_forever(self, interval: float) -> None:
        """Converge now, mark ready, then poll the store every `interval` seconds."""
        while True:
            try:
                await self.converge()
            except StackyardError as error:  # the store cannot be read: serve what is live, retry at the next tick
                self.unconfirmed = error.detail
                log.warning("sync with the store failed; serving what is live", extra={"error": error.detail})
            except Exception as error:
                self.unconfirmed = f"The sync with the store failed ({type(error).__name__}); see the server log."
                log.exception("sync with the store failed; serving what is live")
            else:
                self.unconfirmed = None
            self.ready.set()
            with anyio.move_on_after(interval):
                await self.wake.wait()
            self.wake.clear()

    def wake_from_thread(self, loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
        """A callback that a store's listener thread calls to wake this loop."""

        def wake() -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed first: the server is shutting down
                loop.call_soon_threadsafe(self.wake.set)

        return wake

    async def _apply(self, record: PipelineRecord) -> None:
        registry = self.manager.registry
        async with registry.lock(record.name):
            if record.generation <= registry.applied(record.name):
                return  # this process applied this change, or a newer one, after the record was read
            # Installed only once built (or known not to build here): a tick that failed half way reads the store
            # again and retries.
            self.manager.install(record, await self._build_if_needed(record))

    async def _build_if_needed(self, record: PipelineRecord) -> BuildInfo | None:
        """A build of `record`, or None when none is needed here (deleted, already live, or known not to build)."""
        registry = self.manager.registry
        live = registry.get(record.name)
        if record.deleted or (live is not None and live.revision >= record.revision):
            return None
        failure = registry.failure(record.name)
        if failure is not None and failure.revision >= record.revision:
            return None
        try:
            return await self.manager.prepare(record.name, record.yaml)
        except StackyardError as error:
            registry.record_failure(record.name, record.revision, error.detail)
            log.warning(
                "stored revision failed to build here; previous revision keeps serving",
                extra={"pipeline": record.name, "revision": record.revision, "error": error.detail},
            )
            return None


def poll_interval(sync_interval: float | None, store_kind: str) -> float:
    """The configured interval, or the default of the store: PostgreSQL pushes changes, so its poll is a safety net."""
    if sync_interval is not None:
        return sync_interval
    # SQLite has no push; its poll is cheap while nothing changes (`SQLiteStore.change_mark`), so it can be quick.
    return 2.0 if store_kind == "postgresql" else 0.1
