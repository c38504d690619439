"""`GET /audit`: every management action, accepted or refused."""

from __future__ import annotations

from datetime import datetime

import anyio
from fastapi import APIRouter, Query
from pydantic import BaseModel

from stackyard.api.bodies import Offset, Timestamp
from stackyard.api.dependencies import State
from stackyard.store import AuditQuery

router = APIRouter(tags=["audit"])


class AuditItem(BaseModel):
    id: int | None
    at: datetime | None
    actor: str
    action: str
    pipeline: str | None
    outcome: str
    from_revision: int | None
    to_revision: int | None
    detail: str


class AuditPage(BaseModel):
    entries: list[AuditItem]


@router.get("/audit", summary="Management actions, newest first", response_model=AuditPage)
async def audit(
    state: State,
    pipeline: str | None = Query(default=None, max_length=63),
    actor: str | None = Query(default=None, max_length=200),
    since: Timestamp | None = None,
    until: Timestamp | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
    offset: Offset = 0,
) -> AuditPage:
    query = AuditQuery(pipeline=pipeline, actor=actor, since=since, until=until, limit=limit, offset=offset)
    entries = await anyio.to_thread.run_sync(state.store.audit, query)
    return AuditPage(entries=[AuditItem(**vars(entry)) for entry in entries])
