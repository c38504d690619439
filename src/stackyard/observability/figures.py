"""Per-pipeline figures for people, read from the server's own Prometheus metrics: runs by outcome, latency
percentiles, and each component's timings. The console's overview and graph show them.

The figures are cumulative since the process started (summed over a server's workers), as the metrics are; a rate
is the difference of two readings divided by the time between them, which is what the console computes.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client import Metric
from prometheus_client.samples import Sample

from stackyard.observability.metrics import RunOutcome


@dataclass
class Latency:
    """One histogram, summed over the series it is read from: counts per upper bound, total count and sum."""

    buckets: dict[float, float] = field(default_factory=lambda: defaultdict(float))
    count: float = 0
    total: float = 0

    def quantile(self, q: float) -> float | None:
        """Prometheus's `histogram_quantile`: linear within the bucket the rank falls in; None without samples."""
        if self.count <= 0:
            return None
        rank = q * self.count
        lower, below = 0.0, 0.0
        for bound in sorted(self.buckets):
            cumulative = self.buckets[bound]
            if cumulative >= rank:
                if math.isinf(bound):
                    return lower  # past the last finite bound: its value is all a histogram can say
                inside = cumulative - below
                return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
            lower, below = bound, cumulative
        return lower

    def mean(self) -> float | None:
        return self.total / self.count if self.count else None


@dataclass
class ComponentFigures:
    latency: Latency = field(default_factory=Latency)
    failures: float = 0


@dataclass
class PipelineFigures:
    outcomes: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    latency: Latency = field(default_factory=Latency)
    components: dict[str, ComponentFigures] = field(default_factory=lambda: defaultdict(ComponentFigures))

    @property
    def runs(self) -> float:
        return sum(self.outcomes.values())

    @property
    def errors(self) -> float:
        """Runs that did not succeed, whatever the reason (bad input, a failure, a timeout, a refusal)."""
        return self.runs - self.outcomes.get(RunOutcome.OK.value, 0)


def read_figures(families: Iterable[Metric]) -> dict[str, PipelineFigures]:
    """The figures of every pipeline that has run since the process started, from collected metric families."""
    figures: dict[str, PipelineFigures] = defaultdict(PipelineFigures)
    for family in families:
        for sample in family.samples:
            labels = sample.labels
            pipeline = labels.get("pipeline")
            if pipeline is None:
                continue
            if sample.name == "stackyard_runs_total":
                figures[pipeline].outcomes[labels["outcome"]] += sample.value
            elif sample.name.startswith("stackyard_run_duration_seconds"):
                _add(figures[pipeline].latency, sample.name.removeprefix("stackyard_run_duration_seconds"), sample)
            elif sample.name.startswith("stackyard_component_duration_seconds"):
                latency = figures[pipeline].components[labels["component"]].latency
                _add(latency, sample.name.removeprefix("stackyard_component_duration_seconds"), sample)
            elif sample.name == "stackyard_component_failures_total":
                figures[pipeline].components[labels["component"]].failures += sample.value
    return dict(figures)


def _add(latency: Latency, suffix: str, sample: Sample) -> None:
    if suffix == "_bucket":
        latency.buckets[float(sample.labels["le"])] += sample.value
    elif suffix == "_count":
        latency.count += sample.value
    elif suffix == "_sum":
        latency.total += sample.value
