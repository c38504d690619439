"""Users' verdicts on answers and documents, per pipeline and revision, kept in the definition store."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from stackyard.api.bodies import MAX_ID, MAX_INT, Offset, RequestBody, one_of_required, problems
from stackyard.api.dependencies import Actor, AppState, Name, State, Stored
from stackyard.definitions.names import check_name
from stackyard.errors import FeedbackNotFound, PipelineNotFound, RevisionNotFound
from stackyard.json_types import integral
from stackyard.store import Feedback

router = APIRouter(prefix="/pipelines", tags=["feedback"])
FeedbackId = Annotated[int, Path(ge=1, le=MAX_ID, description="The id the feedback was stored with.")]
PROBLEMS = problems({404: "No such pipeline or feedback", 422: "The feedback is not valid"})


class FeedbackBody(RequestBody):
    model_config = ConfigDict(
        json_schema_extra=one_of_required(answer={"type": "string"}, document_id={"type": "string"})
    )

    query: str = Field(max_length=10_000)
    answer: str | None = Field(default=None, max_length=100_000, description="The answer text judged.")
    document_id: str | None = Field(default=None, max_length=1000, description="The document judged.")
    is_correct: bool
    comment: str = Field(default="", max_length=10_000)
    meta: dict[str, Any] = Field(default_factory=dict)
    # Constraints before the validator: so they reach the OpenAPI document as minimum and maximum.
    revision: Annotated[int, Field(ge=1, le=MAX_INT), BeforeValidator(integral)] | None = Field(
        default=None, description="The revision that produced the answer (from the run); default: the live one."
    )

    @model_validator(mode="after")
    def _judges_something(self) -> FeedbackBody:
        if self.answer is None and self.document_id is None:
            raise ValueError("send 'answer', 'document_id' or both: the feedback must judge something")
        return self


class FeedbackItem(BaseModel):
    id: int
    pipeline: str
    revision: int | None
    query: str
    answer: str | None
    document_id: str | None
    is_correct: bool
    comment: str
    meta: dict[str, Any]
    actor: str
    created_at: datetime

    @classmethod
    def of(cls, record: Feedback) -> FeedbackItem:
        return cls.model_validate(vars(record))


class FeedbackList(BaseModel):
    pipeline: str
    feedback: list[FeedbackItem]


class RevisionCounts(BaseModel):
    revision: int | None
    total: int
    correct: int
    incorrect: int
    accuracy: float = Field(description="correct / total")


class FeedbackSummary(BaseModel):
    pipeline: str
    revisions: list[RevisionCounts]


class Deleted(BaseModel):
    deleted: int


async def live_or_stored_revision(state: AppState, name: str) -> int:
    """The revision this process serves, else the stored one; `PipelineNotFound` when the pipeline does not exist."""
    live = state.registry.get(name)
    if live is not None:
        return live.revision
    return await stored_revision(state, name)


async def stored_revision(state: AppState, name: str) -> int:
    record = await anyio.to_thread.run_sync(state.store.get, check_name(name))
    if record is None:
        raise PipelineNotFound(f"There is no pipeline named '{name}'. List them with GET /pipelines.")
    return record.revision


@router.post(
    "/{name}/feedback",
    summary="Record a verdict on an answer or a document",
    status_code=201,
    response_model=FeedbackItem,
    responses=PROBLEMS,
)
async def add_feedback(name: Name, body: FeedbackBody, state: State, actor: Actor) -> FeedbackItem:
    revision = await live_or_stored_revision(state, name)
    if body.revision is not None:
        if body.revision > revision:  # the live revision here may trail the store: ask it before refusing
            revision = await stored_revision(state, name)
        if body.revision > revision:
            raise RevisionNotFound(
                f"Pipeline '{name}' has no revision {body.revision} (its newest is {revision}); "
                "send the revision a run answered with."
            )
        revision = body.revision
    record = Feedback(
        pipeline=name,
        revision=revision,
        query=body.query,
        is_correct=body.is_correct,
        answer=body.answer,
        document_id=body.document_id,
        comment=body.comment,
        meta=body.meta,
        actor=actor,
    )
    return FeedbackItem.of(await anyio.to_thread.run_sync(state.store.add_feedback, record))


@router.get("/{name}/feedback", summary="List verdicts, newest first", response_model=FeedbackList)
async def list_feedback(
    stored: Stored,
    state: State,
    limit: int = Query(default=100, ge=1, le=10_000),
    offset: Offset = 0,
) -> FeedbackList:
    records = await anyio.to_thread.run_sync(state.store.feedback, stored.name, limit, offset)
    return FeedbackList(pipeline=stored.name, feedback=[FeedbackItem.of(record) for record in records])


@router.get(
    "/{name}/feedback/summary",
    summary="Counts of verdicts per revision, to compare revisions",
    response_model=FeedbackSummary,
)
async def feedback_summary(stored: Stored, state: State) -> FeedbackSummary:
    counts = await anyio.to_thread.run_sync(state.store.feedback_summary, stored.name)
    return FeedbackSummary(
        pipeline=stored.name,
        revisions=[
            RevisionCounts(**vars(item), accuracy=round(item.correct / item.total, 4) if item.total else 0.0)
            for item in counts
        ],
    )


@router.delete(
    "/{name}/feedback/{feedback_id:int}",
    summary="Delete one verdict",
    status_code=204,
    response_class=Response,
    responses=PROBLEMS,
)
async def delete_one(stored: Stored, feedback_id: FeedbackId, state: State) -> Response:
    deleted = await anyio.to_thread.run_sync(state.store.delete_feedback, stored.name, feedback_id)
    if not deleted:
        raise FeedbackNotFound(f"Pipeline '{stored.name}' has no feedback {feedback_id}.")
    return Response(status_code=204)


@router.delete("/{name}/feedback", summary="Delete every verdict on the pipeline", response_model=Deleted)
async def delete_all(stored: Stored, state: State) -> Deleted:
    return Deleted(deleted=await anyio.to_thread.run_sync(state.store.delete_feedback, stored.name))
