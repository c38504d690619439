"""What the lifespan makes and the handlers use, reached through typed dependencies."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

import anyio
from fastapi import Depends, Path, Request

from stackyard.changes.manager import Manager
from stackyard.changes.seed import IgnoredFile
from stackyard.changes.sync import Synchronizer
from stackyard.definitions.names import NAME_PATTERN, check_name
from stackyard.errors import PipelineNotFound
from stackyard.observability.process import Observability
from stackyard.serving.cell_pool import CellPool
from stackyard.serving.leases import Leases
from stackyard.serving.registry import Registry
from stackyard.settings import Settings
from stackyard.store import DefinitionStore, PipelineRecord


async def _pipeline_name(
    # Declared in the OpenAPI document but checked by `check_name`, so a bad name gets its own problem (400).
    name: Annotated[
        str,
        Path(description=f"The pipeline name, matching {NAME_PATTERN}", json_schema_extra={"pattern": NAME_PATTERN}),
    ],
) -> str:
    return check_name(name)


Name = Annotated[str, Depends(_pipeline_name)]
"""The `{name}` path parameter of every pipeline route, checked once, here."""


@dataclass
class AppState:
    settings: Settings
    store: DefinitionStore
    registry: Registry
    manager: Manager
    sync: Synchronizer
    observability: Observability
    leases: Leases  # the run path: gates, leases, workers, timeout
    pool: CellPool  # the cells where component code runs
    ignored_files: list[IgnoredFile] = field(default_factory=list)  # start-up files the stored pipelines won over


# `async def` on purpose: FastAPI runs a plain `def` dependency in the threadpool, a thread hop on every request.
async def _app_state(request: Request) -> AppState:
    state: AppState = request.app.state.stackyard
    return state


async def _registry(request: Request) -> Registry:
    registry: Registry = request.app.state.stackyard.registry
    return registry


State = Annotated[AppState, Depends(_app_state)]
RegistryDep = Annotated[Registry, Depends(_registry)]


def _actor(request: Request) -> str:
    # Authentication, when configured, stores the caller's token name here; without it every caller is anonymous.
    return str(getattr(request.state, "actor", "anonymous"))


Actor = Annotated[str, Depends(_actor)]


async def _stored(name: Name, state: State) -> PipelineRecord:
    record = await anyio.to_thread.run_sync(state.store.get, name)
    if record is None:
        raise PipelineNotFound(f"There is no pipeline named '{name}'. List them with GET /pipelines.")
    return record


Stored = Annotated[PipelineRecord, Depends(_stored)]
"""The pipeline that `{name}` names, as stored; 404 when there is none."""
