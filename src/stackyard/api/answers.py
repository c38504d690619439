"""What the management routes answer: a pipeline's summary and detail as this process sees it, a write's answer,
and the problems they document."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from stackyard.api.bodies import PipelineDetail, PipelineSummary, WriteAnswer, problems
from stackyard.api.dependencies import AppState
from stackyard.api.headers import revision_headers
from stackyard.changes.manager import Applied
from stackyard.serving.sharing import warnings_for
from stackyard.store import Outcome, PipelineRecord
from stackyard.wire.build_info import BuildInfo

PROBLEMS = problems(
    {
        400: "Bad request: invalid name, body or header",
        404: "No such pipeline",
        412: "The pipeline changed since you read it",
        413: "The definition is too large",
        415: "Unsupported content type",
        422: "The definition is not valid",
    }
)

RUN_PROBLEMS = problems(
    {
        400: "Bad request",
        429: "Too many runs of this pipeline at once",
        404: "No such pipeline",
        422: "The inputs do not fit the pipeline",
        500: "A component failed",
        503: "The pipeline is disabled or does not serve on this process",
        504: "The run took longer than the run timeout",
    }
)


def summary(state: AppState, record: PipelineRecord) -> PipelineSummary:
    live = state.registry.get(record.name)
    failure = state.registry.failure(record.name)
    return PipelineSummary(
        name=record.name,
        revision=record.revision,
        description=record.description,
        labels=record.labels,
        enabled=record.enabled,
        state=state.registry.state(record.name, record.revision),
        live_revision=live.revision if live else None,
        error=failure.error if failure and failure.revision >= record.revision else None,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def detail(state: AppState, record: PipelineRecord) -> PipelineDetail:
    return PipelineDetail(**summary(state, record).model_dump(), yaml=record.yaml)


def write_response(state: AppState, applied: Applied, warnings: list[str] | None = None) -> JSONResponse:
    result = applied.result
    body = WriteAnswer(
        **detail(state, result.record).model_dump(),
        outcome=result.outcome.value,
        generation=result.generation,
        warnings=warnings or [],
    )
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=201 if result.outcome is Outcome.CREATED else 200,
        headers={
            **revision_headers(result.record.revision),
            "Location": f"/pipelines/{result.record.name}",
            "X-Stackyard-Generation": str(result.generation),
        },
    )


async def deploy_warnings(state: AppState, build: BuildInfo | None) -> list[str]:
    """The risks of what a change made live: its definition's own warnings, and per-process stores served by many."""
    builds = [build] if build is not None else []
    own = [text for each in builds for text in each.definition.warnings]
    return own + await warnings_for(state.settings, state.store, builds)
