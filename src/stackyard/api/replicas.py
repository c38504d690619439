"""Replicas and rollouts: which processes are live, and which revision of a pipeline each one serves.

Also the `?wait=all&timeout=S` of a change (read-your-writes across replicas): answer only when every live replica
has applied the change's generation, or 202 with the rollout as it stands when the timeout passes.
"""

from __future__ import annotations

import time
from datetime import datetime

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from stackyard.api.bodies import Problem
from stackyard.api.state import AppState, State, Stored
from stackyard.errors import InvalidRequest
from stackyard.replicas import state_on
from stackyard.store import ReplicaRecord

router = APIRouter(tags=["replicas"])
MAX_WAIT = 300.0
DEFAULT_WAIT = 10.0
WAIT_POLL = 0.05  # seconds between two reads of the replicas' reports while a change waits for them


class LoadedBody(BaseModel):
    live_revision: int | None
    failed_revision: int | None = None
    error: str | None = None


class ReplicaBody(BaseModel):
    id: str
    host: str
    pid: int
    started_at: datetime
    seen_at: datetime | None
    generation: int = Field(description="The store generation this replica has applied.")
    this: bool = Field(description="True for the replica that answered this request.")
    pipelines: dict[str, LoadedBody]


class ReplicaList(BaseModel):
    generation: int = Field(description="The store's current generation.")
    replicas: list[ReplicaBody]


class ReplicaRollout(BaseModel):
    id: str
    host: str
    generation: int
    applied: bool = Field(description="This replica has applied the rollout's generation.")
    live_revision: int | None
    state: str = Field(description="serving, degraded, failed, pending, or removed for a deleted pipeline")
    error: str | None = None


class Rollout(BaseModel):
    pipeline: str
    revision: int | None = Field(description="The stored revision; null when the pipeline was deleted.")
    generation: int = Field(description="The generation of the pipeline's last change.")
    complete: bool = Field(description="Every live replica has applied that generation.")
    replicas: list[ReplicaRollout]


def _live_replicas(state: AppState) -> list[ReplicaRecord]:
    return state.store.replicas(state.settings.replica_timeout)


def rollout_of(name: str, revision: int | None, generation: int, replicas: list[ReplicaRecord]) -> Rollout:
    rows = []
    for replica in replicas:
        loaded = replica.pipelines.get(name)
        shown = state_on(replica, name, revision)
        rows.append(
            ReplicaRollout(
                id=replica.id,
                host=replica.host,
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


@router.get("/replicas", summary="Live replicas and what each one serves", response_model=ReplicaList)
async def list_replicas(state: State) -> ReplicaList:
    replicas = await anyio.to_thread.run_sync(_live_replicas, state)
    generation = await anyio.to_thread.run_sync(state.store.generation)
    me = state.settings.replica_id
    return ReplicaList(
        generation=generation,
        replicas=[
            ReplicaBody(
                id=r.id,
                host=r.host,
                pid=r.pid,
                started_at=r.started_at,
                seen_at=r.seen_at,
                generation=r.generation,
                this=r.id == me,
                pipelines={
                    name: LoadedBody(live_revision=p.live, failed_revision=p.failed, error=p.error)
                    for name, p in r.pipelines.items()
                },
            )
            for r in replicas
        ],
    )


@router.get(
    "/pipelines/{name}/rollout",
    summary="Which live replica serves which revision of a pipeline",
    response_model=Rollout,
    responses={404: {"model": Problem, "description": "No such pipeline"}},
)
async def pipeline_rollout(record: Stored, state: State) -> Rollout:
    replicas = await anyio.to_thread.run_sync(_live_replicas, state)
    return rollout_of(record.name, record.revision, record.generation, replicas)


def wait_requested(request: Request) -> float | None:
    """The timeout of `?wait=all&timeout=S` (default 10 s), or None when the caller does not wait.

    Checked before the change is made, so a malformed parameter changes nothing.
    """
    wait = request.query_params.get("wait")
    if wait is None:
        return None
    if wait != "all":
        raise InvalidRequest(f"wait={wait!r} is not supported: use wait=all (every live replica) or leave it out.")
    raw = request.query_params.get("timeout", str(DEFAULT_WAIT))
    try:
        timeout = float(raw)
    except ValueError:
        timeout = -1.0
    if not 0 <= timeout <= MAX_WAIT:
        raise InvalidRequest(f"timeout={raw!r} must be a number of seconds from 0 to {MAX_WAIT:g}.")
    return timeout


async def wait_for_rollout(
    state: AppState, name: str, revision: int | None, generation: int, wait: float | None
) -> JSONResponse | None:
    """Wait until every live replica applied `generation`: None then (answer as usual), else a 202 with the rollout."""
    if wait is None:
        return None
    state.sync.wake.set()  # this replica converges at once rather than at its next tick
    deadline = time.monotonic() + wait
    while True:
        replicas = await anyio.to_thread.run_sync(_live_replicas, state)
        rollout = rollout_of(name, revision, generation, replicas)
        if rollout.complete:
            return None
        if time.monotonic() >= deadline:
            return JSONResponse(
                rollout.model_dump(mode="json"),
                status_code=202,
                headers={"X-Stackyard-Generation": str(generation)},
            )
        await anyio.sleep(WAIT_POLL)
