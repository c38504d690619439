"""Prometheus metrics: runs, components, management and convergence, per pipeline and revision.

Each app owns its metric objects in its own `CollectorRegistry`, so two apps in one process (tests) count apart.
With several worker processes, `PROMETHEUS_MULTIPROC_DIR` names a folder where every worker writes its values and
one scrape, answered by any worker, sums them (`MultiProcessCollector`). The only labels that come from users are
pipeline and component names; every other label takes one of the fixed values below.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Metric,
    generate_latest,
    multiprocess,
)

from stackyard.errors import StackyardError
from stackyard.observability.recent import RecentRuns

T = TypeVar("T")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
EXPOSITION_TYPE = CONTENT_TYPE_LATEST
RUN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
COMPONENT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BUILD_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class RunOutcome(StrEnum):
    OK = "ok"
    CLIENT_ERROR = "client_error"  # the inputs did not fit (4xx)
    FAILED = "failed"  # a component raised (`RunFailed`) or something unexpected happened
    TIMEOUT = "timeout"  # the run took longer than it was allowed to
    REJECTED = "rejected"  # refused before it started (concurrency limit, overload)


class ChangeAction(StrEnum):
    DEPLOY = "deploy"
    UPDATE = "update"
    ROLLBACK = "rollback"
    DELETE = "delete"


class ChangeOutcome(StrEnum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"  # identical to the live revision: nothing was built or stored
    REFUSED = "refused"  # a 4xx: invalid definition, stale revision, missing pipeline...


def run_outcome(error: BaseException | None) -> RunOutcome:
    """The outcome label of a run that ended with `error` (None: it succeeded).

    An error class may name its outcome with a `run_outcome` class attribute; otherwise its HTTP status decides:
    408/504 are timeouts, 429/503 rejections, other 4xx client errors, anything else a failure.
    """
    if error is None:
        return RunOutcome.OK
    named = getattr(error, "run_outcome", None)
    if isinstance(named, RunOutcome):
        return named
    status = error.status if isinstance(error, StackyardError) else 500
    if status in (408, 504):
        return RunOutcome.TIMEOUT
    if status in (429, 503):
        return RunOutcome.REJECTED
    if 400 <= status < 500:
        return RunOutcome.CLIENT_ERROR
    return RunOutcome.FAILED


class Metrics:
    """The metric objects of one app. Record through the methods; read with `exposition()`."""

    def __init__(self, multiprocess_dir: str | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry()
        if multiprocess_dir is None:
            # Per-process collectors make no sense summed over workers; the multiprocess scrape leaves them out.
            for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
                self.registry.register(collector)
        r = self.registry

        def histogram(name: str, documentation: str, labels: list[str], buckets: tuple[float, ...]) -> Histogram:
            return Histogram(name, documentation, labels, buckets=buckets, registry=r)

        self.runs = Counter(
            "stackyard_runs", "Pipeline runs, by outcome.", ["pipeline", "revision", "outcome"], registry=r
        )
        self.run_seconds = histogram(
            "stackyard_run_duration_seconds",
            "Time from the start of a run to its answer, whatever the outcome.",
            ["pipeline", "revision"],
            RUN_BUCKETS,
        )
        self.in_flight = Gauge(
            "stackyard_runs_in_flight",
            "Runs executing in a cell now: counted from the moment the run leaves its queue until its work has really "
            "stopped (a run past its deadline counts until its cell stopped it or is gone), never while queued.",
            ["pipeline"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.cells = Gauge(
            "stackyard_cells",
            "This server's cells (the processes where component code runs), by state: starting (being built), "
            "serving, draining (replaced: ends once its jobs are done).",
            ["state"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.cell_jobs = Gauge(
            "stackyard_cell_jobs",
            "Jobs (runs, builds, document calls) in flight in this server's cells.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.first_chunk_seconds = histogram(
            "stackyard_stream_first_chunk_seconds",
            "Time from the start of a streaming run to its first chunk.",
            ["pipeline", "revision"],
            RUN_BUCKETS,
        )
        self.chunks = Counter(
            "stackyard_stream_chunks", "Chunks streamed to clients.", ["pipeline", "revision"], registry=r
        )
        self.component_seconds = histogram(
            "stackyard_component_duration_seconds",
            "Time spent in one component's run, from Haystack's tracing hooks.",
            ["pipeline", "component"],
            COMPONENT_BUCKETS,
        )
        self.component_failures = Counter(
            "stackyard_component_failures", "Component runs that raised.", ["pipeline", "component"], registry=r
        )
        self.changes = Counter(
            "stackyard_changes", "Management operations, by action and outcome.", ["action", "outcome"], registry=r
        )
        self.build_seconds = histogram(
            "stackyard_build_duration_seconds",
            "Time to parse, build and warm up a definition (API changes and sync alike).",
            ["outcome"],
            BUILD_BUCKETS,
        )
        # Lowest over live workers: a worker that lags behind shows as a lower value.
        self.live_revision = Gauge(
            "stackyard_pipeline_live_revision",
            "The revision this process serves (0: none).",
            ["pipeline"],
            registry=r,
            multiprocess_mode="livemin",
        )
        self.generation = Gauge(
            "stackyard_store_generation_applied",
            "The store generation this process has converged to.",
            registry=r,
            multiprocess_mode="livemin",
        )
        self._published: set[str] = set()
        # `labels()` validates and locks on every call; a run is cheap enough for that to show, so the children for
        # a label set are looked up once. Keys are bounded by the pipelines, revisions and components served.
        self._children: dict[tuple[str, ...], Any] = {}
        self.recent = RecentRuns()  # each component's last runs in this process, beside the totals (`/stats`)

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric._name, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def component_ran(self, pipeline: str, component: str, seconds: float) -> None:
        self._child(self.component_seconds, pipeline, component).observe(seconds)
        self.recent.ran(pipeline, component, seconds)

    def component_failed(self, pipeline: str, component: str) -> None:
        self._child(self.component_failures, pipeline, component).inc()
        self.recent.failed(pipeline, component)

    def run_series(self, pipeline: str, revision: int) -> RunSeries:
        """What runs of one pipeline revision record into: keep it, rather than look the series up on every run."""
        return RunSeries(self, pipeline, revision)

    def record_change(self, action: ChangeAction, outcome: ChangeOutcome) -> None:
        """Count one management operation. The rollback code calls `record_change(ChangeAction.ROLLBACK, ...)`."""
        self.changes.labels(action.value, outcome.value).inc()

    @contextmanager
    def build(self) -> Iterator[None]:
        """Time one build and warm-up."""
        started = time.perf_counter()
        outcome = "refused"
        try:
            yield
            outcome = "ok"
        finally:
            self.build_seconds.labels(outcome).observe(time.perf_counter() - started)

    def publish_cells(self, states: dict[str, int], jobs: int) -> None:
        """Set the cell gauges: how many cells are in each state, and the jobs in flight in them."""
        for state, count in states.items():
            self.cells.labels(state).set(count)
        self.cell_jobs.set(jobs)

    def publish_state(self, live: dict[str, int], generation: int) -> None:
        """Set the live-revision and generation gauges to what this process serves now."""
        for name, revision in live.items():
            self.live_revision.labels(name).set(revision)
        for gone in self._published - live.keys():
            if self.multiprocess_dir is None:
                self.live_revision.remove(gone)
            else:
                # Series cannot be removed from the shared files; 0 says "not served here".
                self.live_revision.labels(gone).set(0)
        self._published = set(live)
        self.generation.set(generation)

    def exposition(self) -> bytes:
        """The Prometheus text of this process, or of every worker in multiprocess mode."""
        return generate_latest(self._scraped())

    def collect(self) -> Iterable[Metric]:
        """The metric families `exposition()` writes, as objects (`observability/figures.py` reads them)."""
        return self._scraped().collect()

    def _scraped(self) -> CollectorRegistry:
        if self.multiprocess_dir is None:
            return self.registry
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return registry

    def close(self) -> None:
        """On shutdown of a worker: drop its live gauges so the scrape stops counting it."""
        if self.multiprocess_dir is not None:
            multiprocess.mark_process_dead(os.getpid(), self.multiprocess_dir)  # type: ignore[no-untyped-call]


class RunSeries:
    """The runs-in-flight, runs and duration series of one pipeline revision."""

    __slots__ = ("in_flight", "metrics", "pipeline", "revision", "seconds")

    def __init__(self, metrics: Metrics, pipeline: str, revision: int) -> None:
        self.metrics = metrics
        self.pipeline = pipeline
        self.revision = str(revision)
        self.in_flight = metrics._child(metrics.in_flight, pipeline)
        self.seconds = metrics._child(metrics.run_seconds, pipeline, self.revision)

    def started(self) -> float:
        """A run was asked for; returns its start time for `finished`."""
        return time.perf_counter()

    def executing(self) -> None:
        """The run left its queue for a cell: it is in flight until `stopped`."""
        self.in_flight.inc()

    def stopped(self) -> None:
        """The run's work has really stopped (answered, or its worker ended)."""
        self.in_flight.dec()

    def streaming(self, started: float, forward: Callable[[T], None]) -> Callable[[T], None]:
        """`forward`, counting the chunks of the streaming run that began at `started` and timing its first."""
        metrics, labels = self.metrics, (self.pipeline, self.revision)
        chunks = metrics._child(metrics.chunks, *labels)
        first = True

        def counted(chunk: T) -> None:
            nonlocal first
            if first:
                first = False
                metrics._child(metrics.first_chunk_seconds, *labels).observe(time.perf_counter() - started)
            chunks.inc()
            forward(chunk)

        return counted

    def finished(self, started: float, error: BaseException | None) -> None:
        """The run that began at `started` was answered with `error` (None: it succeeded)."""
        elapsed = time.perf_counter() - started
        # Looked up per outcome when it happens, so outcomes that never happened have no zero series.
        self.metrics._child(self.metrics.runs, self.pipeline, self.revision, run_outcome(error).value).inc()
        self.seconds.observe(elapsed)


def prepare_multiprocess_dir(workers: int) -> str | None:
    """Before uvicorn starts N > 1 workers: a fresh, empty metrics folder for them, removed at exit.

    Must run before any worker imports `prometheus_client`, which reads `PROMETHEUS_MULTIPROC_DIR` at import. A
    folder set by the operator is used as it is (and left alone).
    """
    existing = os.environ.get(MULTIPROC_ENV)
    if existing or workers <= 1:
        return existing or None
    path = tempfile.mkdtemp(prefix="stackyard-metrics-")
    os.environ[MULTIPROC_ENV] = path
    atexit.register(shutil.rmtree, path, True)
    return path
