"""Where the runs of each pipeline revision are measured, on the server's side.

Haystack's spans and component timings are taken in the cell that ran the pipeline (`cell.tracer`) and come back
with each answer; the server records them here: timings in the metrics, spans (with OpenTelemetry) beneath the
request's span.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from stackyard.observability.metrics import Metrics, RunSeries


class ComponentSink(Protocol):
    """Where component runs are reported: the metrics."""

    def component_ran(self, pipeline: str, component: str, seconds: float) -> None: ...

    def component_failed(self, pipeline: str, component: str) -> None: ...


@dataclass(frozen=True)
class RunScope:
    """Which pipeline revision is running, and where its measurements go: its run series, its component timings,
    and whether its spans are recorded (OpenTelemetry is on). Made once per revision and shared by its runs."""

    pipeline: str
    revision: int
    metrics: ComponentSink
    spans: bool = False
    series: RunSeries | None = None


@dataclass
class RunScopes:
    """The scope of each pipeline revision's runs, made at its first run; bounded, like the metric series they
    hold, by the revisions this process served."""

    metrics: Metrics
    spans: bool = False
    _scopes: dict[tuple[str, int], RunScope] = field(default_factory=dict)

    def __call__(self, pipeline: str, revision: int) -> RunScope:
        scope = self._scopes.get((pipeline, revision))
        if scope is None:
            series = self.metrics.run_series(pipeline, revision)
            scope = self._scopes[(pipeline, revision)] = RunScope(pipeline, revision, self.metrics, self.spans, series)
        return scope
