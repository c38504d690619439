"""What operators read: Prometheus metrics, this process's status, and the readiness of one pipeline."""

from __future__ import annotations

import logging
from datetime import datetime

import anyio
from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from stackyard import __version__
from stackyard.api.answers import summary
from stackyard.api.bodies import Problem
from stackyard.api.dependencies import AppState, Name, State
from stackyard.errors import PipelineDisabled, PipelineNotFound, PipelineUnavailable
from stackyard.observability.metrics import EXPOSITION_TYPE
from stackyard.serving.registry import ServingState
from stackyard.serving.sharing import warnings_for
from stackyard.store import PipelineRecord
from stackyard.wire.build_info import BuildInfo

log = logging.getLogger(__name__)
router = APIRouter(tags=["observability"])


class StoreStatus(BaseModel):
    kind: str
    generation: int | None = Field(description="The store's generation now; null when the store cannot be read.")
    applied_generation: int = Field(description="The generation this process has converged to.")
    error: str | None = None


class PipelineStatus(BaseModel):
    name: str
    revision: int | None = Field(description="The stored revision; null when the store cannot be read.")
    live_revision: int | None
    state: ServingState
    error: str | None


class CellStatus(BaseModel):
    name: str
    group: str = Field(
        description="The cells that hold the same builds: `shared`, `indexes:a,b` (pipelines sharing in-memory "
        "indexes), `pipeline:NAME` (one pipeline's own); docs/architecture.md, Placement."
    )
    state: str = Field(description="starting, serving or draining (replaced; ends once its jobs are done)")
    pid: int
    jobs: int = Field(description="Jobs in flight in the cell now.")
    pipelines: list[str] = Field(description="The pipelines this cell's group serves.")


class IgnoredStartUpFile(BaseModel):
    file: str
    pipeline: str
    revision: int = Field(description="The stored revision that served instead of the file at start-up.")
    detail: str = Field(description="What happened and how to make the file's content live.")


class Status(BaseModel):
    version: str
    replica: str
    pid: int
    started_at: datetime
    uptime_seconds: float
    ready: bool
    store: StoreStatus
    pipelines: list[PipelineStatus]
    cells: list[CellStatus] = Field(description="The processes where this server's component code runs.")
    warnings: list[str] = Field(default_factory=list, description="e.g. in-memory document stores in many processes")
    ignored_files: list[IgnoredStartUpFile] = Field(
        default_factory=list,
        description="Start-up files that differ from their stored pipeline, which kept serving "
        "(STACKYARD_SEED_MODE=create); listed until the stored pipeline matches the file.",
    )


class PipelineReadiness(BaseModel):
    pipeline: str
    revision: int = Field(description="The revision this process serves.")
    state: ServingState


@router.get(
    "/metrics",
    summary="Prometheus metrics (summed over the workers of this server)",
    response_class=Response,
    responses={200: {"content": {EXPOSITION_TYPE: {"schema": {"type": "string"}}}}},
)
async def metrics(state: State) -> Response:
    observability = state.observability
    observability.publish_state(state.registry, state.sync.applied_generation, state.pool)
    # Reading the other workers' files is blocking I/O.
    text = await anyio.to_thread.run_sync(observability.metrics.exposition)
    return Response(text, media_type=EXPOSITION_TYPE)


@router.get(
    "/status", summary="This process: version, replica, store, and each pipeline's state", response_model=Status
)
async def status(state: State) -> Status:
    replica = state.observability.replica
    store = StoreStatus(kind=state.store.kind, generation=None, applied_generation=state.sync.applied_generation)
    ignored = state.ignored_files
    try:
        store.generation = await anyio.to_thread.run_sync(state.store.generation)
        records = await anyio.to_thread.run_sync(state.store.pipelines)
        pipelines = [_from_record(state, record) for record in records]
        stored = {record.name: record for record in records}
        ignored = [file for file in ignored if file.differs_from(stored.get(file.definition.name))]
    except Exception as error:
        # Status must answer during a store outage: that is when it is read most. Show what this process serves.
        log.warning("status without the store", extra={"error": type(error).__name__})
        store.error = f"The store cannot be read: {type(error).__name__}."
        pipelines = _from_registry(state)
    return Status(
        version=__version__,
        replica=replica.id,
        pid=replica.pid,
        started_at=replica.started_at,
        uptime_seconds=round(replica.uptime(), 3),
        ready=state.sync.ready.is_set(),
        store=store,
        pipelines=pipelines,
        cells=[CellStatus(**cell) for cell in state.pool.census()],
        warnings=await warnings_for(state.settings, state.store, _live_builds(state)),
        ignored_files=[
            IgnoredStartUpFile(
                file=str(file.definition.path),
                pipeline=file.definition.name,
                revision=file.revision,
                detail=file.advice(),
            )
            for file in ignored
        ],
    )


def _live_builds(state: AppState) -> list[BuildInfo]:
    return [live.info for name in state.registry.names() if (live := state.registry.get(name)) is not None]


def _from_record(state: AppState, record: PipelineRecord) -> PipelineStatus:
    brief = summary(state, record)
    return PipelineStatus(
        name=brief.name,
        revision=brief.revision,
        live_revision=brief.live_revision,
        state=brief.state,
        error=brief.error,
    )


def _from_registry(state: AppState) -> list[PipelineStatus]:
    answer = []
    for name in state.registry.names():
        live = state.registry.get(name)
        failure = state.registry.failure(name)
        degraded = failure is not None and live is not None and failure.revision > live.revision
        answer.append(
            PipelineStatus(
                name=name,
                revision=None,
                live_revision=live.revision if live is not None else None,
                state=ServingState.DEGRADED if degraded else ServingState.SERVING,
                error=failure.error if degraded and failure is not None else None,
            )
        )
    return answer


@router.get(
    "/pipelines/{name}/ready",
    summary="Whether this process serves one pipeline",
    description="200 while a revision of the pipeline serves here (state `degraded` when a newer stored revision "
    "failed to build here); 503 when it is disabled, or known but nothing serves; 404 when this process does not "
    "know it.",
    response_model=PipelineReadiness,
    responses={404: {"model": Problem}, 503: {"model": Problem}},
)
async def pipeline_ready(name: Name, state: State) -> PipelineReadiness:
    live = state.registry.get(name)
    failure = state.registry.failure(name)
    if live is None:
        if failure is not None:
            raise PipelineUnavailable(
                f"Pipeline '{name}' does not serve here: revision {failure.revision} failed to build: {failure.error}",
                revision=failure.revision,
            )
        raise PipelineNotFound(f"Pipeline '{name}' is not served by this process.")
    if not state.registry.is_enabled(name):
        raise PipelineDisabled(
            f"Pipeline '{name}' is disabled: its runs are refused; PATCH it with {{\"enabled\": true}} to serve it."
        )
    degraded = failure is not None and failure.revision > live.revision
    return PipelineReadiness(
        pipeline=name, revision=live.revision, state=ServingState.DEGRADED if degraded else ServingState.SERVING
    )
