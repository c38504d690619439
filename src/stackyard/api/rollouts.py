"""The rollout of a change: which replica serves which revision of a pipeline, and the `?wait=all&timeout=S` of a
change (read-your-writes across replicas): answer only when every replica waited for has applied the change's
generation, or 202 with the rollout as it stands when the timeout passes.

The replicas waited for are those live when the wait starts, and any that join during it. One that falls silent
before it reported the change (it lost the store, or died) stays waited for: it may still be serving the old
revision, and only its own report can say otherwise. Only a replica that unregistered (a clean shutdown) is
dropped. A silent replica that cannot read the store also reports itself not ready on `/readyz`.
"""

from __future__ import annotations

import contextlib
import time
from datetime import datetime

import anyio
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from stackyard.api.dependencies import AppState
from stackyard.changes.heartbeat import state_on
from stackyard.errors import StoreUnavailable
from stackyard.store import FORGET_REPLICAS_AFTER, ReplicaRecord

WAIT_POLL = 0.05  # seconds between two reads of the replicas' reports while a change waits for them


class ReplicaRollout(BaseModel):
    id: str
    host: str
    seen_at: datetime | None = Field(description="Its last heartbeat.")
    silent: bool = Field(
        default=False,
        description="Its heartbeat stopped (it lost the store, or died) before it reported the change: it may still "
        "serve an older revision. Only in the answer of a wait.",
    )
    generation: int
    applied: bool = Field(description="This replica has applied the rollout's generation.")
    live_revision: int | None
    state: str = Field(description="serving, degraded, failed, pending, or removed for a deleted pipeline")
    error: str | None = None


class Rollout(BaseModel):
    pipeline: str
    revision: int | None = Field(description="The stored revision; null when the pipeline was deleted.")
    generation: int = Field(description="The generation of the pipeline's last change.")
    complete: bool = Field(description="Every replica listed has applied that generation.")
    replicas: list[ReplicaRollout]


def live_replicas(state: AppState) -> list[ReplicaRecord]:
    return state.store.replicas(state.settings.replica_timeout)


def rollout_of(
    name: str,
    revision: int | None,
    generation: int,
    replicas: list[ReplicaRecord],
    silent: frozenset[str] = frozenset(),
) -> Rollout:
    """Where each of `replicas` stands with the change; those in `silent` stopped their heartbeat."""
    rows = []
    for replica in replicas:
        loaded = replica.pipelines.get(name)
        shown = state_on(replica, name, revision)
        rows.append(
            ReplicaRollout(
                id=replica.id,
                host=replica.host,
                seen_at=replica.seen_at,
                silent=replica.id in silent,
                generation=replica.generation,
                applied=replica.generation >= generation,
                live_revision=loaded.live if loaded else None,
                state=shown,
                error=loaded.error if loaded and shown in ("degraded", "failed") else None,
            )
        )
    return Rollout(
        pipeline=name,
        revision=revision,
        generation=generation,
        complete=all(row.applied for row in rows),
        replicas=rows,
    )


async def wait_for_rollout(
    state: AppState, name: str, revision: int | None, generation: int, wait: float
) -> JSONResponse | None:
    """Wait until every replica waited for applied `generation`: None then (answer as usual), else a 202 with the
    rollout as last seen. A store that cannot be read meanwhile confirms nothing: the wait goes on to its deadline."""
    state.sync.wake.set()  # this replica converges at once rather than at its next tick
    deadline = time.monotonic() + wait
    waited = _Waited(name, revision, generation)
    while True:
        # The change is committed; while the store cannot be read, whether the replicas have it cannot be told.
        with contextlib.suppress(StoreUnavailable):
            await waited.read(state)
        if waited.rollout.complete:
            return None
        if time.monotonic() >= deadline:
            return JSONResponse(
                waited.rollout.model_dump(mode="json"),
                status_code=202,
                headers={"X-Stackyard-Generation": str(generation)},
            )
        await anyio.sleep(WAIT_POLL)


class _Waited:
    """The replicas one change waits for, and the rollout among them as last read from the store."""

    def __init__(self, name: str, revision: int | None, generation: int) -> None:
        self.name, self.revision, self.generation = name, revision, generation
        self.replicas: dict[str, ReplicaRecord] = {}
        self.rollout = Rollout(pipeline=name, revision=revision, generation=generation, complete=False, replicas=[])

    async def read(self, state: AppState) -> None:
        live = await anyio.to_thread.run_sync(live_replicas, state)
        # Every replica still registered, however long silent; only a clean shutdown unregisters one.
        registered = await anyio.to_thread.run_sync(state.store.replicas, FORGET_REPLICAS_AFTER)
        self.replicas.update((replica.id, replica) for replica in live)
        latest = {replica.id: replica for replica in registered}
        self.replicas = {key: latest[key] for key in self.replicas if key in latest}
        silent = frozenset(self.replicas) - {replica.id for replica in live}
        replicas = sorted(self.replicas.values(), key=lambda replica: replica.id)
        self.rollout = rollout_of(self.name, self.revision, self.generation, replicas, silent)
