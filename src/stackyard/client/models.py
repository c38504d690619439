"""Typed results of the API, as pydantic models.

They mirror the server's response bodies but are declared here, so the client imports neither FastAPI nor Haystack.
Every model ignores fields it does not know (`extra="allow"` keeps them reachable through `model_extra`), so a newer
server that adds a field never breaks an older client.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ApplyItem",
    "ApplyResult",
    "AuditEntry",
    "BreakingChange",
    "Diff",
    "Health",
    "Pipeline",
    "PipelineReadiness",
    "PipelineSchema",
    "PipelineStatus",
    "PipelineSummary",
    "Revision",
    "RevisionDetail",
    "RevisionPage",
    "RunResult",
    "Simulation",
    "Status",
    "StoreStatus",
    "StreamChunk",
    "ValidationProblem",
    "ValidationReport",
    "WriteResult",
]


class Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class PipelineSummary(Model):
    """One pipeline as `GET /pipelines` lists it."""

    name: str
    revision: int
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True
    state: str
    live_revision: int | None = None
    error: str | None = None
    created_at: datetime
    updated_at: datetime


class Pipeline(PipelineSummary):
    """One pipeline with its YAML, as `GET /pipelines/{name}` answers."""

    yaml: str


class WriteResult(Pipeline):
    """The answer to a write (put, patch, rollback): the pipeline now, and what the write did."""

    outcome: str = Field(description="created, updated or unchanged")
    generation: int


class ApplyItem(Model):
    """One member of a declarative apply."""

    name: str
    yaml: str
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    message: str = ""


class ApplyResult(Model):
    created: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    deleted: list[str] = Field(default_factory=list)
    dry_run: bool = False
    generation: int | None = None

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)


class RunResult(Model):
    pipeline: str
    revision: int
    result: dict[str, Any]


class StreamChunk(Model):
    """One chunk of a streamed run, as a component made it (a Haystack `StreamingChunk` as JSON).

    `content` is the text it adds; `finish_reason` is set on a component's last chunk ("stop", "tool_calls", ...).
    """

    content: str = ""
    component: str | None = Field(default=None, description="The component that streamed it, by name.")
    finish_reason: str | None = None
    index: int | None = None
    start: bool = False
    meta: dict[str, Any] = Field(default_factory=dict)
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_result: dict[str, Any] | None = None
    reasoning: dict[str, Any] | None = None


class FileResult(Model):
    file_name: str
    content_type: str
    bytes: int
    documents_written: int | None


class UploadResult(Model):
    pipeline: str
    revision: int
    input: str
    files: list[FileResult]
    documents_written: int | None
    warnings: list[str]


class PipelineSchema(Model):
    pipeline: str
    revision: int
    inputs: dict[str, Any]
    outputs: dict[str, Any]


class Revision(Model):
    number: int
    description: str = ""
    labels: dict[str, str] = Field(default_factory=dict)
    author: str = ""
    message: str = ""
    created_at: datetime


class RevisionDetail(Revision):
    yaml: str


class RevisionPage(Model):
    pipeline: str
    revisions: list[Revision]
    total: int
    limit: int
    offset: int


class Diff(Model):
    pipeline: str
    from_revision: int
    to_revision: int
    diff: str


class ValidationProblem(Model):
    message: str
    title: str
    component: str | None = None
    line: int | None = None
    column: int | None = None


class BreakingChange(Model):
    kind: str
    name: str
    message: str


class Simulation(Model):
    result: dict[str, Any] | None = None
    timings_ms: dict[str, float] = Field(default_factory=dict)
    total_ms: float = 0.0
    error: ValidationProblem | None = None


class ValidationReport(Model):
    valid: bool
    problems: list[ValidationProblem] = Field(default_factory=list)
    warnings: list[BreakingChange] = Field(default_factory=list)
    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    simulation: Simulation | None = None


class AuditEntry(Model):
    id: int | None = None
    at: datetime | None = None
    actor: str
    action: str
    pipeline: str | None = None
    outcome: str
    from_revision: int | None = None
    to_revision: int | None = None
    detail: str = ""


class Health(Model):
    """`/healthz` or `/readyz`; `ready` is false when readiness answered 503."""

    status: str
    ready: bool = True
    generation: int | None = None


class StoreStatus(Model):
    kind: str
    generation: int | None = None
    applied_generation: int | None = None
    error: str | None = None


class PipelineStatus(Model):
    name: str
    revision: int | None = None
    live_revision: int | None = None
    state: str
    error: str | None = None


class IgnoredStartUpFile(Model):
    """A start-up file that differs from its stored pipeline, which kept serving."""

    file: str
    pipeline: str
    revision: int
    detail: str


class CellStatus(Model):
    """One process where the server's component code runs: its group (which pipelines share it) and load."""

    name: str
    group: str
    state: str
    pid: int
    jobs: int = 0
    pipelines: list[str] = Field(default_factory=list)


class Status(Model):
    """`GET /status`: one server process, its store, each pipeline's state there, and its cells."""

    version: str
    replica: str
    pid: int | None = None
    started_at: datetime | None = None
    uptime_seconds: float | None = None
    ready: bool = True
    store: StoreStatus | None = None
    pipelines: list[PipelineStatus] = Field(default_factory=list)
    cells: list[CellStatus] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    ignored_files: list[IgnoredStartUpFile] = Field(default_factory=list)


class PipelineReadiness(Model):
    pipeline: str
    revision: int
    state: str


class LoadedRevision(Model):
    """What one replica has of one pipeline."""

    live_revision: int | None = None
    failed_revision: int | None = None
    error: str | None = None


class Replica(Model):
    """`GET /replicas`: one live server process and the revision of each pipeline it serves."""

    id: str
    host: str
    pid: int
    started_at: datetime
    seen_at: datetime | None = None
    generation: int = Field(description="The store generation this replica has applied.")
    this: bool = Field(default=False, description="True for the replica that answered.")
    pipelines: dict[str, LoadedRevision] = Field(default_factory=dict)


class ReplicaRollout(Model):
    """Where one replica stands with a pipeline's last change."""

    id: str
    host: str
    seen_at: datetime | None = None
    silent: bool = False
    generation: int
    applied: bool
    live_revision: int | None = None
    state: str
    error: str | None = None


class Rollout(Model):
    """`GET /pipelines/{name}/rollout`, or the 202 of a change whose wait ran out: which replica serves what."""

    pipeline: str
    revision: int | None = None
    generation: int
    complete: bool
    replicas: list[ReplicaRollout] = Field(default_factory=list)
