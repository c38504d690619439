"""Replicas: which processes are live and what each serves; a pipeline's rollout across them."""

from __future__ import annotations

from datetime import datetime

import anyio
from fastapi import APIRouter
from pydantic import BaseModel, Field

from stackyard.api.bodies import Problem
from stackyard.api.dependencies import State, Stored
from stackyard.api.rollouts import Rollout, live_replicas, rollout_of

router = APIRouter(tags=["replicas"])


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


@router.get("/replicas", summary="Live replicas and what each one serves", response_model=ReplicaList)
async def list_replicas(state: State) -> ReplicaList:
    replicas = await anyio.to_thread.run_sync(live_replicas, state)
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
    replicas = await anyio.to_thread.run_sync(live_replicas, state)
    return rollout_of(record.name, record.revision, record.generation, replicas)
