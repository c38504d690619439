"""`POST /validate`: the deploy path without the store or the swap, and an optional simulated run."""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from stackyard.api.answers import PROBLEMS
from stackyard.api.bodies import RequestBody, read_yaml_or_json
from stackyard.api.dependencies import State
from stackyard.definitions.checks import BreakingChange, Finding, Report, Simulation, problem_of, report_for
from stackyard.definitions.names import NAME_PATTERN, check_name
from stackyard.errors import BuildTimeout, SimulationRefused, StackyardError
from stackyard.json_types import Labels
from stackyard.serving.sharing import warnings_for
from stackyard.wire.build_info import BuildInfo
from stackyard.wire.jobs import Examine
from stackyard.wire.replies import Failed

router = APIRouter(tags=["changes"])


class ValidateBody(RequestBody):
    yaml: str
    name: str | None = Field(
        default=None,
        json_schema_extra={"pattern": NAME_PATTERN},
        description="Compare with the live pipeline of this name",
    )
    description: str = ""
    labels: Labels = Field(default_factory=dict)
    sample_input: dict[str, Any] | None = Field(default=None, description="Run the candidate once with these inputs")
    allow_writes: bool = Field(default=False, description="Allow simulating a candidate that writes documents")


class ValidateAnswer(BaseModel):
    valid: bool
    problems: list[Finding]
    warnings: list[BreakingChange]
    inputs: dict[str, Any] | None
    outputs: dict[str, Any] | None
    simulation: Simulation | None


VALIDATE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "application/json": {"schema": ValidateBody.model_json_schema()},
        },
    }
}


@router.post(
    "/validate",
    summary="Check a definition (and optionally simulate one run) without storing or swapping anything",
    response_model=ValidateAnswer,
    responses=PROBLEMS,
    openapi_extra=VALIDATE_BODY,
)
async def validate(request: Request, state: State) -> ValidateAnswer:
    body = await read_yaml_or_json(request, ValidateBody)
    if body.name is not None:
        check_name(body.name)
    settings = state.settings
    # Built, described and simulated on a throwaway build in a cell of its own, never one that serves, and all of it
    # within the build timeout plus, for a simulation, the run timeout: no candidate can hold the server.
    seconds = settings.build_timeout + (settings.run_timeout if body.sample_input is not None else 0)

    def too_long() -> Exception:
        doing = "Building and simulating" if body.sample_input is not None else "Building"
        return BuildTimeout(f"{doing} the definition took longer than {seconds:g} s; it was stopped.")

    job = Examine(body.yaml, body.sample_input, body.allow_writes)
    try:
        answer = await state.pool.examine(job, seconds=seconds, too_long=too_long)
        if isinstance(answer, Failed):
            raise answer.problem.error()
    except SimulationRefused:
        raise
    except StackyardError as error:
        if error.status == 413:
            raise
        return ValidateAnswer(
            valid=False, problems=[problem_of(error)], warnings=[], inputs=None, outputs=None, simulation=None
        )
    info, simulation = msgspec.json.decode(answer.value, type=tuple[BuildInfo, Simulation | None])
    live = state.registry.get(body.name) if body.name else None
    report: Report = report_for(info, live.info if live else None)
    shared = await warnings_for(state.settings, state.store, [info])
    report.warnings.extend(BreakingChange("in-memory-store-per-process", "document_store", text) for text in shared)
    return ValidateAnswer(
        valid=True,
        problems=[],
        warnings=report.warnings,
        inputs=report.inputs,
        outputs=report.outputs,
        simulation=simulation,
    )
