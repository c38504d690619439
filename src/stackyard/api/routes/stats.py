"""`GET /stats`: each pipeline's runs, errors and latency, and its components' timings, for people to read.

The same numbers as `/metrics`, summed over revisions and workers, as JSON (`observability/figures.py`); and each
component's last runs in the process that answers (`observability/recent.py`).
"""

from __future__ import annotations

import dataclasses
import time

import anyio
from fastapi import APIRouter
from pydantic import BaseModel, Field

from stackyard.api.dependencies import State
from stackyard.observability.figures import ComponentFigures, PipelineFigures, read_figures
from stackyard.observability.recent import SIZE, RecentRuns, Window

router = APIRouter(tags=["observability"])


class RecentStats(BaseModel):
    runs: int = Field(description=f"The component's last runs in the process that answered: at most {SIZE}.")
    failures: int
    mean_seconds: float
    p95_seconds: float = Field(description="The 95th percentile of those runs' times.")


class ComponentStats(BaseModel):
    name: str
    runs: int
    failures: int
    mean_seconds: float | None
    p95_seconds: float | None = Field(description="Estimated from the histogram's buckets, as Prometheus does.")
    recent: RecentStats | None = Field(
        description="The same figures over the component's last runs, as the server process that answered saw "
        "them; null if it has seen none."
    )


class PipelineStats(BaseModel):
    name: str
    runs: int = Field(description="Runs answered since this process started, every outcome included.")
    errors: int = Field(description="Runs that did not succeed: bad input, failures, timeouts and refusals.")
    error_rate: float | None = Field(description="errors / runs; null before the first run.")
    outcomes: dict[str, int]
    mean_seconds: float | None
    p95_seconds: float | None = Field(description="Estimated from the histogram's buckets, as Prometheus does.")
    components: list[ComponentStats]


class StatsAnswer(BaseModel):
    at: float = Field(description="When the figures were read (Unix seconds): two readings give rates.")
    pipelines: list[PipelineStats]


@router.get(
    "/stats",
    summary="Each pipeline's runs, error rate and latency, and its components' timings, since start-up",
    description="Cumulative figures from this server's own metrics (all its workers). Runs per second is the "
    "difference of `runs` between two readings divided by the difference of `at`.",
    response_model=StatsAnswer,
)
async def stats(state: State) -> StatsAnswer:
    metrics = state.observability.metrics
    # Reading the other workers' metric files is blocking I/O.
    figures = await anyio.to_thread.run_sync(lambda: read_figures(metrics.collect()))
    pipelines = [_pipeline(name, f, metrics.recent) for name, f in sorted(figures.items())]
    return StatsAnswer(at=time.time(), pipelines=pipelines)


def _pipeline(name: str, figures: PipelineFigures, recent: RecentRuns) -> PipelineStats:
    runs = figures.runs
    return PipelineStats(
        name=name,
        runs=round(runs),
        errors=round(figures.errors),
        error_rate=figures.errors / runs if runs else None,
        outcomes={outcome: round(count) for outcome, count in figures.outcomes.items()},
        mean_seconds=figures.latency.mean(),
        p95_seconds=figures.latency.quantile(0.95),
        components=[
            _component(component, c, recent.window(name, component))
            for component, c in sorted(figures.components.items())
        ],
    )


def _component(name: str, figures: ComponentFigures, window: Window | None) -> ComponentStats:
    return ComponentStats(
        name=name,
        runs=round(figures.latency.count),
        failures=round(figures.failures),
        mean_seconds=figures.latency.mean(),
        p95_seconds=figures.latency.quantile(0.95),
        recent=RecentStats(**dataclasses.asdict(window)) if window is not None else None,
    )
