"""The documents of a pipeline's document store: search with filters and paging, count, delete."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from stackyard.api.bodies import MAX_INT, RequestBody, one_of_required, problems
from stackyard.api.dependencies import Name, State
from stackyard.errors import InvalidRequest
from stackyard.json_types import Integer
from stackyard.wire.jobs import Documents

router = APIRouter(prefix="/pipelines", tags=["documents"])
PROBLEMS = problems(
    {
        400: "Delete without filters and without 'all'",
        404: "No such pipeline",
        422: "Invalid filters, or no (or more than one) document store",
        503: "The pipeline does not serve on this process",
    }
)
FILTERS = Field(
    default=None,
    description='Haystack filters, e.g. {"field": "meta.file_name", "operator": "==", "value": "a.txt"}.',
)
COMPONENT = Field(default=None, description="The component whose document store to use, when there are several.")


class SearchBody(RequestBody):
    filters: dict[str, Any] | None = FILTERS
    component: str | None = COMPONENT
    offset: Integer = Field(default=0, ge=0, le=MAX_INT)
    limit: Integer = Field(default=10, ge=1, le=1000)
    return_embedding: bool = False


class CountBody(RequestBody):
    filters: dict[str, Any] | None = FILTERS
    component: str | None = COMPONENT


class DeleteBody(CountBody):
    model_config = ConfigDict(
        json_schema_extra=one_of_required(filters={"type": "object"}, all={"const": True}),
    )

    all: bool = Field(default=False, description="Delete every document (when no filters are sent).")


class StoreAnswer(BaseModel):
    pipeline: str
    revision: int
    component: str = Field(description="The component whose document store answered.")


class SearchAnswer(StoreAnswer):
    total: int
    offset: int
    limit: int
    documents: list[dict[str, Any]]


class CountAnswer(StoreAnswer):
    count: int


class DeleteAnswer(StoreAnswer):
    deleted: int


@router.post(
    "/{name}/documents/search",
    summary="Documents in the pipeline's document store, by filters, a page at a time",
    response_model=SearchAnswer,
    responses=PROBLEMS,
)
async def search_documents(name: Name, body: SearchBody, state: State) -> SearchAnswer:
    job = Documents("search", name, body.component, body.filters, body.offset, body.limit, body.return_embedding)
    live, answer = await state.leases.use(name, job)
    component, (total, documents) = json.loads(answer)
    return SearchAnswer(
        pipeline=name,
        revision=live.revision,
        component=component,
        total=total,
        offset=body.offset,
        limit=body.limit,
        documents=documents,
    )


@router.post(
    "/{name}/documents/count",
    summary="How many documents the pipeline's document store holds (matching the filters)",
    response_model=CountAnswer,
    responses=PROBLEMS,
)
async def count_documents(name: Name, body: CountBody, state: State) -> CountAnswer:
    live, answer = await state.leases.use(name, Documents("count", name, body.component, body.filters))
    component, counted = json.loads(answer)
    return CountAnswer(pipeline=name, revision=live.revision, component=component, count=counted)


@router.post(
    "/{name}/documents/delete",
    summary="Delete the documents matching the filters (admin scope)",
    response_model=DeleteAnswer,
    responses=PROBLEMS,
)
async def delete_documents(name: Name, body: DeleteBody, state: State) -> DeleteAnswer:
    if body.filters is None and not body.all:
        raise InvalidRequest('Send "filters", or "all": true to delete every document of the store.')

    live, answer = await state.leases.use(name, Documents("delete", name, body.component, body.filters))
    component, deleted = json.loads(answer)
    return DeleteAnswer(pipeline=name, revision=live.revision, component=component, deleted=deleted)
