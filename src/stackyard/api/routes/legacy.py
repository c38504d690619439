"""The Haystack 1.x REST API routes, for users who migrate: same paths, same request and response shapes.

`POST /query` runs `STACKYARD_QUERY_PIPELINE` (default `query`), `POST /file-upload` feeds
`STACKYARD_INDEXING_PIPELINE` (default `indexing`); the document routes use the query pipeline's document store,
as 1.x did; feedback is kept as the query pipeline's feedback. See `docs/migrating-from-haystack-1.md`.
"""

from __future__ import annotations

import json
import os
from importlib.metadata import version
from typing import Any

import anyio
import msgspec
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from stackyard import __version__
from stackyard.api.dependencies import Actor, AppState, State
from stackyard.api.forms import index_uploads, json_field, params_field, read_form, upload_body, uploads_from
from stackyard.haystack1.labels import (
    USER_FEEDBACK,
    Label,
    feedback_accuracy,
    feedback_from_label,
    is_user_feedback,
    label_of,
    squad_export,
)
from stackyard.haystack1.queries import document_1x, filters_from_1x, query_answer_1x
from stackyard.store import Feedback
from stackyard.wire.jobs import Documents
from stackyard.wire.jobs import Query as QueryJob

# 1.x clients often send JSON without a Content-Type (requests' `data=json.dumps(...)`), and 1.x read it as JSON.
router = APIRouter(tags=["haystack-1.x"], strict_content_type=False)
HAYSTACK_VERSION = version("haystack-ai")
FEEDBACK_PAGE = 10_000


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1)
    params: dict[str, Any] | None = Field(
        default=None,
        description="Per component ({component: {input: value}}) or flat ({input: value}), with Haystack 3 names.",
    )
    debug: StrictBool | None = Field(default=False, description="Adds `_debug`: every component's outputs.")


class FilterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filters: dict[str, Any] | None = None


@router.get("/initialized", summary="1.x: whether the server is ready")
async def initialized(state: State) -> bool:
    return state.sync.ready.is_set()


@router.get("/hs_version", summary="1.x: the Haystack version")
async def hs_version() -> dict[str, str]:
    return {"hs_version": HAYSTACK_VERSION, "stackyard_version": __version__}


@router.get("/health", summary="1.x: health (no GPU or usage figures are collected)")
async def health() -> dict[str, Any]:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return {"version": HAYSTACK_VERSION, "cpu": {"used": round(load, 2)}, "memory": {"used": None}, "gpus": []}


@router.post("/query", summary="1.x: run the query pipeline")
async def query(body: QueryRequest, state: State) -> JSONResponse:
    name = state.settings.query_pipeline

    job = QueryJob(body.query, body.params or {}, bool(body.debug))
    live, value = await state.leases.run(name, job)
    debugged, result, plain = json.loads(value)
    answer = query_answer_1x(body.query, plain)
    if debugged:  # 1.x gave each node's `input` and `output`; Haystack 3 runs report outputs
        answer["_debug"] = {component: {"output": result.get(component, {})} for component in debugged}
    return JSONResponse(answer, headers={"X-Stackyard-Revision": str(live.revision)})


@router.post(
    "/file-upload",
    summary="1.x: index files with the indexing pipeline",
    openapi_extra=upload_body(
        meta="JSON object: metadata of every document",
        additional_params="JSON object: further run inputs of the indexing pipeline",
        fileconverter_params="1.x converter options: accepted and ignored (set them in the pipeline's YAML)",
        preprocessor_params="1.x preprocessor options: accepted and ignored (set them in the pipeline's YAML)",
    ),
)
async def file_upload(request: Request, state: State) -> JSONResponse:
    form = await read_form(request, state)
    try:
        # 1.x `fileconverter_params` and `preprocessor_params` configured 1.x nodes; they have no meaning for a
        # Haystack 3 pipeline and are ignored (set converter and splitter options in the pipeline's YAML).
        # `additional_params` were 1.x run parameters, and are run inputs here.
        params = params_field(form, "additional_params")
        uploads = await uploads_from(form, state, json_field(form, "meta"))
    finally:
        await form.close()
    # 1.x named every document after its file (over any `name` in `meta`); 1.x filters on `name` rely on it.
    named = [msgspec.structs.replace(upload, meta={**upload.meta, "name": upload.file_name}) for upload in uploads]
    answer = await index_uploads(state, state.settings.indexing_pipeline, named, params)
    headers = {"X-Stackyard-Revision": str(answer.revision)}
    if answer.warnings:
        headers["X-Stackyard-Warning"] = answer.warnings[0]
    return JSONResponse(None, headers=headers)  # 1.x answered null


async def _store_call(state: State, job: Documents) -> Any:
    _live, answer = await state.leases.use(job.pipeline, job)
    return json.loads(answer)[1]


@router.post("/documents/get_by_filters", summary="1.x: documents of the query pipeline's store, by filters")
async def get_documents(
    body: FilterRequest, state: State, component: str | None = Query(default=None, min_length=1)
) -> list[dict[str, Any]]:
    filters = filters_from_1x(body.filters)
    job = Documents("search", state.settings.query_pipeline, component, filters, offset=0, limit=2**31)
    _total, documents = await _store_call(state, job)
    return [document_1x(item) for item in documents]


@router.post("/documents/delete_by_filters", summary="1.x: delete documents of the query pipeline's store")
async def delete_documents(
    body: FilterRequest, state: State, component: str | None = Query(default=None, min_length=1)
) -> bool:
    filters = filters_from_1x(body.filters)  # no filters deletes every document, as in 1.x
    await _store_call(state, Documents("delete", state.settings.query_pipeline, component, filters))
    return True


@router.post("/feedback", summary="1.x: record a label on the query pipeline")
async def post_feedback(label: Label, state: State, actor: Actor) -> None:
    name = state.settings.query_pipeline
    live = state.registry.get(name)
    feedback = feedback_from_label(label.stored(), name, live.revision if live else None, actor)
    await anyio.to_thread.run_sync(state.store.add_feedback, feedback)


async def _labels(state: AppState) -> list[dict[str, Any]]:
    """Every label recorded on the query pipeline, oldest first (1.x answered them all at once, in that order)."""
    return [label_of(record) for record in await _records(state)]


async def _records(state: AppState) -> list[Feedback]:
    name = state.settings.query_pipeline
    records: dict[int | None, Feedback] = {}
    offset = 0
    while True:
        page = await anyio.to_thread.run_sync(state.store.feedback, name, FEEDBACK_PAGE, offset)
        # A verdict recorded meanwhile shifts the pages by one: a record seen twice is kept once.
        records.update((record.id, record) for record in page)
        if len(page) < FEEDBACK_PAGE:
            return list(reversed(records.values()))
        offset += FEEDBACK_PAGE


@router.get("/feedback", summary="1.x: every label recorded on the query pipeline, oldest first")
async def get_feedback(state: State) -> list[dict[str, Any]]:
    return await _labels(state)


@router.delete("/feedback", summary="1.x: delete the user feedback recorded on the query pipeline")
async def delete_feedback(state: State) -> Response:
    # As in 1.x, gold labels (origin "gold-label") are kept: they are evaluation data, not feedback.
    ids = [
        record.id for record in await _records(state) if record.id is not None and is_user_feedback(label_of(record))
    ]
    await anyio.to_thread.run_sync(state.store.delete_feedback_ids, state.settings.query_pipeline, ids)
    return JSONResponse(None)


@router.post("/eval-feedback", summary="1.x: accuracy of the user feedback")
async def eval_feedback(state: State, body: FilterRequest | None = None) -> dict[str, Any]:
    filters = {**((body.filters if body else None) or {}), "origin": [USER_FEEDBACK]}  # as 1.x: user feedback only
    return feedback_accuracy(await _labels(state), filters)


@router.get("/export-feedback", summary="1.x: user feedback as SQuAD JSON")
async def export_feedback(
    state: State,
    context_size: int = Query(default=100_000, ge=0),
    full_document_context: bool = Query(default=True),
    only_positive_labels: bool = Query(default=False),
) -> dict[str, Any]:
    return squad_export(await _labels(state), context_size, full_document_context, only_positive_labels)
