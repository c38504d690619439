"""The server's settings: one validated object, read once and passed into `create_app`."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from stackyard.wire.cell_config import DEFAULT_DENIED_COMPONENTS, DefinitionRules

DEFAULT_STORE_URL = "sqlite:///stackyard.db"


class Settings(BaseSettings):
    """Everything the server can be told, from `STACKYARD_*` variables or keyword arguments.

    Example:
        >>> Settings(store_url="sqlite:///tmp/yard.db", pipeline_paths=[Path("examples/pipelines")])
    """

    model_config = SettingsConfigDict(env_prefix="STACKYARD_", extra="forbid", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    store_url: str = Field(
        default=DEFAULT_STORE_URL,
        description="Where definitions live: sqlite:///relative.db, sqlite:////absolute.db or postgresql://...",
    )
    pipeline_paths: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="YAML files or folders loaded into the store at start-up (name = file stem).",
    )
    legacy_pipeline_yaml_path: Path | None = Field(
        default=None,
        validation_alias="PIPELINE_YAML_PATH",
        description="The Haystack 1.x REST API's variable, honoured for users who migrate: one more start-up file.",
    )
    seed_mode: Literal["create", "replace"] = Field(
        default="create",
        description=(
            "What start-up files do to a pipeline that is already stored: 'create' leaves it as it is, so a change "
            "made through the API is never reverted by a restart; 'replace' makes the file's content live."
        ),
    )
    sync_interval: float | None = Field(
        default=None,
        gt=0,
        description="Seconds between two checks of the store for changes made by other processes "
        "(default: 2 on PostgreSQL, where NOTIFY pushes changes at once; 0.1 on SQLite).",
    )
    replica_id: str = Field(
        default_factory=lambda: uuid.uuid4().hex[:12],
        max_length=128,
        description="This process's name in GET /replicas, /status and the X-Stackyard-Replica header; made once "
        "per process unless set.",
    )
    heartbeat_interval: float = Field(default=1.0, gt=0, description="Seconds between two replica heartbeats.")
    replica_timeout: float = Field(
        default=10.0, gt=0, description="A replica silent for this many seconds is no longer listed nor waited for."
    )
    ready_without_store: bool = Field(
        default=False,
        description="Keep /readyz at 200 (status 'unconfirmed' in the body) while the store cannot be read: for "
        "deployments where serving possibly older revisions beats serving nothing during an outage of the store.",
    )
    keep_revisions: int | None = Field(
        default=50,
        ge=1,
        description="Revisions kept per pipeline; the oldest go first (the live one always stays).",
    )
    max_pipelines: int = Field(
        default=1000,
        ge=1,
        description="Pipelines the store may hold; creating one more is refused (409), updates are not.",
    )
    build_timeout: float = Field(default=120.0, gt=0, description="Seconds a build and warm-up may take.")
    max_yaml_bytes: int = Field(default=1_000_000, gt=0)
    extra_allowed_modules: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Python modules, besides Haystack's own, whose components a definition may name.",
    )
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = Field(default="text", description="'json' writes one JSON object a line.")
    otel_tracing: bool = Field(
        default=False,
        description="Export OpenTelemetry spans through OTLP (needs stackyard[otel]; configured by OTEL_* variables).",
    )

    # -- definition policy (see policy.py) --
    secret_env_allowlist: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Environment variables a definition may read as secrets."
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hosts (glob patterns, names or addresses) component code may connect to, checked as each "
        "connection opens; none: component code reaches no host. A component holding a secret may point its "
        "endpoint parameters only at these.",
    )
    worker_environment: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Environment variables, not secrets, that component code may read (HF_HOME, say); besides "
        "these and STACKYARD_SECRET_ENV_ALLOWLIST it sees only PATH, HOME, the locale and the time zone.",
    )
    allowed_components: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Class paths (glob patterns) allowed despite the default denylist."
    )
    denied_components: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_DENIED_COMPONENTS),
        description="Class paths (glob patterns) refused: components that reach arbitrary URLs or local files.",
    )
    allow_callables: bool = Field(
        default=False, description="Allow init parameters that take Python callables or tools (found by their type)."
    )
    max_components: int = Field(default=100, ge=1)
    max_runs_per_component: int = Field(default=100, ge=1, description="Cap on a definition's max_runs_per_component.")
    # -- access and limits --
    tokens: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Token lines from `stackyard token create` (name:scopes:sha256$salt$digest), ';' or newline "
        "separated. None configured: open development mode.",
    )
    tokens_file: Path | None = Field(default=None, description="A file with one token line per line.")
    allow_insecure: bool = Field(
        default=False,
        description="Serve management routes and feedback reads without tokens on a non-loopback address.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Origins allowed by CORS; none (the default) sends no CORS headers."
    )
    max_body_bytes: int = Field(
        default=10_000_000, gt=0, description="Largest request body of every route but the upload routes."
    )
    max_upload_bytes: int = Field(
        default=100_000_000, gt=0, description="Largest body of the upload routes (multipart files)."
    )
    body_read_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a request body may stall between two of its chunks before it is dropped (408).",
    )
    run_timeout: float = Field(default=60.0, gt=0, description="Seconds a run may take before the answer is 504.")
    run_workers: int = Field(
        default_factory=lambda: len(os.sched_getaffinity(0)),
        ge=1,
        description="Cells (contained processes where component code runs) shared by the small pipelines (default: "
        "one per CPU core this process may use). Each serves many runs at once; pipelines that hold a model or an "
        "in-memory store, or ask for it (`metadata.serving`), get cells of their own (docs/architecture.md).",
    )
    cell_threads: int = Field(
        default=64,
        ge=1,
        description="Threads per cell for the sync components of its runs: the most runs of sync components one "
        "cell does at once (async components wait on the cell's event loop and hold no thread).",
    )
    worker_memory_bytes: int | None = Field(
        default=8 * 1024**3,
        gt=0,
        description="Address space a cell may use (RLIMIT_AS); past it the run fails with a clear problem and the "
        "cell is replaced. Unset: no limit.",
    )
    memory_budget_bytes: int | None = Field(
        default=None,
        gt=0,
        description="Memory this server process and all its cells may hold together (resident). Unset: the "
        "cgroup's limit (a container's, a pod's) or else the host's memory, shared between the processes of "
        "`--workers N`. Near it, the cell holding the most is ended and replaced, and the server refuses new runs "
        "while it holds a quarter of it itself.",
    )
    run_cpu_seconds: float | None = Field(
        default=300.0,
        gt=0,
        description="CPU time one build or run may use; past it the run fails and its cell is replaced. Unset: no "
        "limit beyond the timeouts.",
    )
    max_concurrent_runs: int = Field(
        default=256,
        ge=1,
        description="Runs of one pipeline at the same time. A run waiting on a model holds no process, so this "
        "bounds memory and fairness, not processes.",
    )
    max_queued_runs: int = Field(
        default=256, ge=0, description="Runs of one pipeline waiting for a slot; beyond it the answer is 429."
    )
    max_result_bytes: int = Field(
        default=100_000_000,
        gt=0,
        description="The largest result a run may answer (its JSON); checked in the cell, before it is sent.",
    )
    max_input_chars: int | None = Field(
        default=None,
        gt=0,
        description="The longest string a run may send in any input, unless its definition says otherwise "
        "(`metadata.serving.max_input_chars`). Unset: bounded by the body limit only.",
    )
    readable_dirs: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Directories whose files run inputs may name by path and component code may read (default: "
        "none besides Python's and the installed packages').",
    )
    writable_dirs: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Directories component code may write to besides its worker's private scratch folder "
        "(default: none).",
    )
    # -- indexing, documents and the Haystack 1.x routes --
    max_file_bytes: int = Field(default=50_000_000, gt=0, description="Largest single file in an upload.")
    max_files: int = Field(default=100, ge=1, description="Most files in one upload request.")
    query_pipeline: str = Field(default="query", description="The pipeline the 1.x route POST /query runs.")
    indexing_pipeline: str = Field(
        default="indexing", description="The pipeline the 1.x route POST /file-upload feeds."
    )
    workers: int = Field(
        default=1, ge=1, description="Worker processes of this server (set by `stackyard serve --workers N`)."
    )

    @field_validator("tokens", mode="before")
    @classmethod
    def _split_token_lines(cls, value: object) -> object:
        # Token lines contain commas (scopes), so they are separated by ';' or newlines instead.
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [line.strip() for line in value.replace(";", "\n").splitlines() if line.strip()]
        return value

    def token_lines(self) -> list[str]:
        """`tokens` plus the lines of `tokens_file` (blank lines and # comments skipped)."""
        lines = list(self.tokens)
        if self.tokens_file is not None:
            text = self.tokens_file.read_text(encoding="utf-8")
            lines.extend(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))
        return lines

    def policy(self) -> DefinitionRules:
        """The definition policy these settings describe."""
        return DefinitionRules(
            allowed_modules=("haystack", "haystack_integrations", *self.extra_allowed_modules),
            denied_components=tuple(self.denied_components),
            allowed_components=tuple(self.allowed_components),
            secret_env_allowlist=tuple(self.secret_env_allowlist),
            allowed_hosts=tuple(self.allowed_hosts),
            max_components=self.max_components,
            max_runs_per_component=self.max_runs_per_component,
            allow_callables=self.allow_callables,
        )

    def start_up_files(self) -> list[Path]:
        """`pipeline_paths` plus the legacy `PIPELINE_YAML_PATH`, in that order."""
        paths = list(self.pipeline_paths)
        if self.legacy_pipeline_yaml_path is not None:
            paths.append(self.legacy_pipeline_yaml_path)
        return paths

    @field_validator(
        "pipeline_paths",
        "extra_allowed_modules",
        "secret_env_allowlist",
        "allowed_hosts",
        "allowed_components",
        "denied_components",
        "readable_dirs",
        "writable_dirs",
        "worker_environment",
        "cors_origins",
        mode="before",
    )
    @classmethod
    def _split_comma_list(cls, value: object) -> object:
        # Environment variables carry lists as "a,b,c"; JSON lists still work.
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
