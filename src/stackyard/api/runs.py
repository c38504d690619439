"""Running pipelines and describing their inputs: the request path, which never touches the store."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anyio
from fastapi import APIRouter, Response

from stackyard.api.bodies import PipelineSchema, Problem, RunRequest, RunResponse
from stackyard.api.limits import RunLimitsDep, RunTimeout
from stackyard.api.pipelines import Name
from stackyard.api.state import RegistryDep, State
from stackyard.errors import PipelineDisabled, PipelineNotFound, PipelineUnavailable
from stackyard.names import check_name
from stackyard.registry import LiveRevision, Registry
from stackyard.runs import run_build
from stackyard.schema import input_schema, output_schema

router = APIRouter(prefix="/pipelines", tags=["runs"])
RUN_PROBLEMS: dict[int | str, dict[str, object]] = {
    status: {"model": Problem, "description": text}
    for status, text in {
        400: "Bad request",
        429: "Too many runs of this pipeline at once",
        404: "No such pipeline",
        422: "The inputs do not fit the pipeline",
        500: "A component failed",
        503: "The pipeline is disabled or does not serve on this process",
        504: "The run took longer than the run timeout",
    }.items()
}


def _missing(registry: Registry, name: str) -> Exception:
    failure = registry.failure(name)
    if failure is not None:
        return PipelineUnavailable(
            f"Pipeline '{name}' is stored, but revision {failure.revision} failed to build here: {failure.error}",
            revision=failure.revision,
        )
    return PipelineNotFound(f"There is no pipeline named '{name}'. List them with GET /pipelines.")


@router.post(
    "/{name}/run",
    summary="Run a pipeline",
    response_model=RunResponse,
    responses=RUN_PROBLEMS,
)
async def run_pipeline(
    name: Name, body: RunRequest, registry: RegistryDep, state: State, limits: RunLimitsDep
) -> Response:
    current = registry.get(name)
    if current is None:
        raise _missing(registry, check_name(name))
    settings = state.settings
    with state.observability.run(current):
        if not registry.is_enabled(name):
            raise PipelineDisabled(
                f"Pipeline '{name}' is disabled; PATCH it with {{\"enabled\": true}} to serve it again."
            )
        async with limits.slot(name):
            # Taken after the wait for a slot, so a queued run starts on the newest revision.
            live = registry.acquire(name)
            if live is None:
                raise _missing(registry, name)
            loop = asyncio.get_running_loop()

            def work() -> dict[str, Any]:
                try:
                    return run_build(live.build, body.data, body.include_outputs_from, state.manager.policy)
                finally:
                    # Released when the thread really ends, even after a timeout answered early, so the revision
                    # is never closed under a run that is still going.
                    loop.call_soon_threadsafe(registry.release, live)

            try:
                with anyio.fail_after(settings.run_timeout):
                    result = await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
            except TimeoutError:
                raise RunTimeout(
                    f"Pipeline '{name}' did not finish within {settings.run_timeout:g} s (STACKYARD_RUN_TIMEOUT)."
                ) from None
    # The revision reported is the one this run started on, even if a newer one went live meanwhile.
    payload = {"pipeline": name, "revision": live.revision, "result": result}
    return Response(
        json.dumps(payload, ensure_ascii=False, separators=(",", ":")),
        media_type="application/json",
        headers={"X-Stackyard-Revision": str(live.revision)},
    )


def _live(registry: Registry, name: str) -> LiveRevision:
    live = registry.get(name)
    if live is None:
        raise _missing(registry, check_name(name))
    return live


@router.get(
    "/{name}/schema",
    summary="JSON Schema of a pipeline's run inputs and outputs",
    response_model=PipelineSchema,
    responses=RUN_PROBLEMS,
)
async def pipeline_schema(name: Name, registry: RegistryDep) -> PipelineSchema:
    live = _live(registry, name)
    return PipelineSchema(
        pipeline=name, revision=live.revision, inputs=input_schema(live.build), outputs=output_schema(live.build)
    )
