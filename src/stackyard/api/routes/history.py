"""Reading history: revisions, one revision, and the diff between two."""

from __future__ import annotations

import difflib
from datetime import datetime

import anyio
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel

from stackyard.api.answers import PROBLEMS
from stackyard.api.bodies import MAX_INT, Offset, RevisionNumber
from stackyard.api.dependencies import Name, State
from stackyard.api.headers import preferred
from stackyard.errors import PipelineNotFound, RevisionNotFound
from stackyard.store import RevisionRecord

router = APIRouter(prefix="/pipelines", tags=["revisions"])


class Revision(BaseModel):
    number: int
    description: str
    labels: dict[str, str]
    author: str
    message: str
    created_at: datetime


class RevisionDetail(Revision):
    yaml: str


class RevisionPage(BaseModel):
    pipeline: str
    revisions: list[Revision]
    total: int
    limit: int
    offset: int


class Diff(BaseModel):
    pipeline: str
    from_revision: int
    to_revision: int
    diff: str


def _revision(record: RevisionRecord) -> Revision:
    return Revision(
        number=record.number,
        description=record.description,
        labels=record.labels,
        author=record.author,
        message=record.message,
        created_at=record.created_at,
    )


async def _one(state: State, name: str, number: int) -> RevisionRecord:
    record = await anyio.to_thread.run_sync(state.store.revision, name, number)
    if record is None:
        raise RevisionNotFound(f"Pipeline '{name}' has no revision {number}; see GET /pipelines/{name}/revisions.")
    return record


@router.get(
    "/{name}/revisions", summary="A pipeline's revisions, newest first", response_model=RevisionPage, responses=PROBLEMS
)
async def list_revisions(
    name: Name,
    state: State,
    limit: int = Query(default=20, ge=1, le=200),
    offset: Offset = 0,
) -> RevisionPage:
    records, total = await anyio.to_thread.run_sync(state.store.revisions, name, limit, offset)
    if total == 0:
        raise PipelineNotFound(f"Pipeline '{name}' has no history.")
    return RevisionPage(
        pipeline=name, revisions=[_revision(record) for record in records], total=total, limit=limit, offset=offset
    )


@router.get(
    "/{name}/revisions/{number:int}",
    summary="One revision (JSON, or its YAML with Accept: application/yaml)",
    response_model=RevisionDetail,
    responses={200: {"content": {"application/yaml": {"schema": {"type": "string"}}}}, **PROBLEMS},
)
async def get_revision(name: Name, number: RevisionNumber, request: Request, state: State) -> Response:
    record = await _one(state, name, number)
    if preferred(request, ["application/json", "application/yaml"]) == "application/yaml":
        return PlainTextResponse(record.yaml, media_type="application/yaml")
    detail = RevisionDetail(**_revision(record).model_dump(), yaml=record.yaml)
    return JSONResponse(detail.model_dump(mode="json"))


@router.get(
    "/{name}/diff",
    summary="Unified diff of the YAML of two revisions (default: the previous one against the live one)",
    response_model=Diff,
    responses={200: {"content": {"text/x-diff": {"schema": {"type": "string"}}}}, **PROBLEMS},
)
async def diff_revisions(
    name: Name,
    request: Request,
    state: State,
    from_: int | None = Query(default=None, alias="from", ge=1, le=MAX_INT),
    to: int | None = Query(default=None, ge=1, le=MAX_INT),
) -> Response:
    if to is None:
        live = await anyio.to_thread.run_sync(state.store.get, name)
        if live is None:
            raise PipelineNotFound(f"There is no pipeline named '{name}'; name both revisions with ?from=&to=.")
        to = live.revision
    newer = await _one(state, name, to)
    if from_ is None:
        # Revision numbers of a pipeline have no gaps (the revision cap drops only the oldest), so the one before
        # `to` is `to - 1`, whatever the number of revisions.
        if to == 1:
            raise RevisionNotFound(f"Revision 1 of '{name}' has no earlier revision to compare with.")
        from_ = to - 1
    older = await _one(state, name, from_)
    text = "".join(
        difflib.unified_diff(
            older.yaml.splitlines(keepends=True),
            newer.yaml.splitlines(keepends=True),
            fromfile=f"{name}@{older.number}",
            tofile=f"{name}@{newer.number}",
        )
    )
    if preferred(request, ["application/json", "text/x-diff", "text/plain"]) != "application/json":
        return PlainTextResponse(text, media_type="text/x-diff")
    return JSONResponse(
        Diff(pipeline=name, from_revision=older.number, to_revision=newer.number, diff=text).model_dump()
    )
