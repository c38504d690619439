"""The server's settings: one validated object, read once and passed into `create_app`."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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
        "(default: 2 on PostgreSQL, where NOTIFY pushes changes at once; 0.5 on SQLite).",
    )
    replica_id: str = Field(
        default_factory=lambda: uuid.uuid4().hex[:12],
        description="This process's name in GET /replicas; made once per process unless set.",
    )
    heartbeat_interval: float = Field(default=1.0, gt=0, description="Seconds between two replica heartbeats.")
    replica_timeout: float = Field(
        default=10.0, gt=0, description="A replica silent for this many seconds is no longer listed nor waited for."
    )
    build_timeout: float = Field(default=120.0, gt=0, description="Seconds a build and warm-up may take.")
    max_yaml_bytes: int = Field(default=1_000_000, gt=0)
    extra_allowed_modules: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Python modules, besides Haystack's own, whose components a definition may name.",
    )
    log_level: str = "INFO"

    def start_up_files(self) -> list[Path]:
        """`pipeline_paths` plus the legacy `PIPELINE_YAML_PATH`, in that order."""
        paths = list(self.pipeline_paths)
        if self.legacy_pipeline_yaml_path is not None:
            paths.append(self.legacy_pipeline_yaml_path)
        return paths

    @field_validator("pipeline_paths", "extra_allowed_modules", mode="before")
    @classmethod
    def _split_comma_list(cls, value: object) -> object:
        # Environment variables carry lists as "a,b,c"; JSON lists still work.
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
