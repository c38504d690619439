"""The heartbeat: every server process registers itself in the store and reports, with a heartbeat, what it serves.

A replica is one process (a worker of `--workers N`, a pod of a Deployment). Its heartbeat carries the store
generation it has applied and, per pipeline, the revision it serves and the newest revision that failed to build
on it. `GET /replicas` and `GET /pipelines/{name}/rollout` read these reports; `?wait=all` on a change waits until
every live replica has applied its generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import anyio

from stackyard.changes.sync import Synchronizer
from stackyard.observability.process import Replica
from stackyard.serving.registry import Registry, ServingState, state_of
from stackyard.settings import Settings
from stackyard.store import DefinitionStore, LoadedPipeline, ReplicaRecord

log = logging.getLogger(__name__)

REMOVED = "removed"  # the pipeline was deleted and this replica no longer serves it


def loaded_pipelines(registry: Registry) -> dict[str, LoadedPipeline]:
    """What this process has of each pipeline: the revision it serves, the newest one that failed here."""
    names = set(registry.names()) | set(registry.failed_names())
    report: dict[str, LoadedPipeline] = {}
    for name in sorted(names):
        live = registry.get(name)
        failure = registry.failure(name)
        report[name] = LoadedPipeline(
            live=live.revision if live else None,
            failed=failure.revision if failure else None,
            error=failure.error if failure else None,
        )
    return report


def state_on(replica: ReplicaRecord, name: str, stored_revision: int | None) -> str:
    """Where `replica` stands with `name` against the stored revision (None: the pipeline was deleted)."""
    loaded = replica.pipelines.get(name, LoadedPipeline(live=None))
    if stored_revision is None:
        return REMOVED if loaded.live is None else ServingState.PENDING.value
    return state_of(loaded.live, loaded.failed, stored_revision).value


@dataclass
class Heartbeat:
    """This replica's presence in the store: registered at start-up, a heartbeat while it runs, gone at shutdown."""

    replica: Replica
    settings: Settings
    store: DefinitionStore
    registry: Registry
    sync: Synchronizer
    _task: asyncio.Task[None] | None = None

    def report(self) -> ReplicaRecord:
        return ReplicaRecord(
            id=self.replica.id,
            host=self.replica.host,
            pid=self.replica.pid,
            started_at=self.replica.started_at,
            generation=self.sync.applied_generation,
            pipelines=loaded_pipelines(self.registry),
        )

    async def join(self) -> None:
        """Register before the first sync, so a change committed meanwhile is waited for on this replica too."""
        await anyio.to_thread.run_sync(self.store.beat, self.report())

    def start(self) -> None:
        self._task = asyncio.create_task(self._beat_forever(), name="stackyard-heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await anyio.to_thread.run_sync(self.store.leave, self.replica.id)
        except Exception:
            log.warning("could not unregister this replica; it drops out of GET /replicas when its heartbeat ages")

    async def _beat_forever(self) -> None:
        while True:
            # Report at once when this process applied a new generation; otherwise at the heartbeat interval.
            with anyio.move_on_after(self.settings.heartbeat_interval):
                await self.sync.converged.wait()
            self.sync.converged.clear()
            try:
                await anyio.to_thread.run_sync(self.store.beat, self.report())
            except Exception as error:
                # The store is down: keep serving; the next beat reports again.
                log.warning("replica heartbeat failed", extra={"error": type(error).__name__})  # no hosts or users
