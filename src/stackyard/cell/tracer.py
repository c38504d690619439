"""The Haystack tracer a cell installs: component timings for the server's metrics, and spans without content.

Haystack opens a span around every pipeline run and every component run (`haystack.tracing`). Stackyard installs one
process-wide tracer that reads the current `JobScope` (a context variable the run path sets in the job thread's
copy of the job's context) to know which pipeline and which app's metrics a component belongs to. Spans go on to the
scope's span recorder (the server replays them into OpenTelemetry, when enabled) or else to whatever tracer was
installed before Stackyard's. Inputs and outputs never go anywhere: content tags are dropped, whatever
`HAYSTACK_CONTENT_TRACING_ENABLED` says, and so is the input data Haystack puts on the pipeline span as a plain tag.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

from haystack.tracing.tracer import Span, Tracer, enable_tracing, is_tracing_enabled
from haystack.tracing.tracer import tracer as haystack_tracer
from haystack.tracing.utils import coerce_tag_value

from stackyard.wire.replies import ComponentTiming, SpanRecord

COMPONENT_RUN = "haystack.component.run"
COMPONENT_NAME = "haystack.component.name"
# Tags that carry run data rather than structure. Haystack sets the pipeline's input as a plain tag.
CONTENT_TAGS = frozenset(
    {
        "haystack.pipeline.input_data",
        "haystack.pipeline.output_data",
        "haystack.component.input",
        "haystack.component.output",
    }
)


class TimingSink(Protocol):
    """Where component runs are reported: a run's measurements, sent back with its answer."""

    def component_ran(self, pipeline: str, component: str, seconds: float) -> None: ...

    def component_failed(self, pipeline: str, component: str) -> None: ...


class Stopped(Exception):
    """The job was cancelled (its caller left, its deadline passed): raised where a sync run can stop, before its
    next component and at its next streamed chunk."""


@dataclass(frozen=True)
class JobScope:
    """Which pipeline revision is running in this context, where its measurements and spans go, and the flag that
    says it was cancelled."""

    pipeline: str
    revision: int
    metrics: TimingSink
    spans: Tracer | None = None
    stop: threading.Event | None = None


class Measurements:
    """The component runs of one job, as the server records them in its metrics."""

    def __init__(self) -> None:
        self.timings: list[ComponentTiming] = []
        self._failed: set[str] = set()

    def component_failed(self, pipeline: str, component: str) -> None:
        self._failed.add(component)

    def component_ran(self, pipeline: str, component: str, seconds: float) -> None:
        failed = component in self._failed
        self._failed.discard(component)
        self.timings.append(ComponentTiming(component, seconds, failed))


class _RecordedSpan(Span):
    def __init__(self, span_id: int, parent: int | None) -> None:
        self.id = span_id
        self.parent = parent
        self.tags: dict[str, Any] = {}

    def set_tag(self, key: str, value: Any) -> None:
        self.tags[key] = coerce_tag_value(value)

    def raw_span(self) -> Any:
        return self


class SpanRecorder(Tracer):
    """Haystack's spans of one job, written down for the server to replay under the request's own span."""

    def __init__(self) -> None:
        self.records: list[SpanRecord] = []
        self._ids = itertools.count(1)

    @contextlib.contextmanager
    def trace(
        self, operation_name: str, tags: dict[str, Any] | None = None, parent_span: Span | None = None
    ) -> Iterator[Span]:
        parent = parent_span.raw_span() if parent_span is not None else None
        span = _RecordedSpan(next(self._ids), parent.id if isinstance(parent, _RecordedSpan) else None)
        span.set_tags(tags or {})
        started, failed = time.time_ns(), False
        try:
            yield span
        except BaseException:
            failed = True
            raise
        finally:
            record = SpanRecord(span.id, span.parent, operation_name, span.tags, started, time.time_ns(), failed)
            self.records.append(record)

    def current_span(self) -> Span | None:
        return None


_scope: ContextVar[JobScope | None] = ContextVar("stackyard_run_scope", default=None)


def enter_run_scope(scope: JobScope) -> None:
    """Attribute the spans opened from here on in this context to `scope`, for good: call it at the start of a
    run in a context of its own (a thread's copy), where nothing needs it reset."""
    _scope.set(scope)


class ContentFreeSpan(Span):
    """Wraps the span of the tracer spans go to (if any); drops content tags."""

    __slots__ = ("inner",)

    def __init__(self, inner: Span | None) -> None:
        self.inner = inner

    def set_tag(self, key: str, value: Any) -> None:
        if self.inner is not None and key not in CONTENT_TAGS:
            self.inner.set_tag(key, value)

    def set_content_tag(self, key: str, value: Any) -> None:
        """Never recorded: run inputs and outputs stay in the process."""

    def raw_span(self) -> Any:
        return self.inner.raw_span() if self.inner is not None else self

    def get_correlation_data_for_logs(self) -> dict[str, Any]:
        return self.inner.get_correlation_data_for_logs() if self.inner is not None else {}


class StackyardTracer(Tracer):
    """Times component runs per pipeline and forwards content-free spans."""

    def __init__(self, fallback: Tracer | None = None) -> None:
        self.fallback = fallback
        self._current: ContextVar[ContentFreeSpan | None] = ContextVar("stackyard_span", default=None)

    def trace(  # type: ignore[override]  # Haystack declares a generator; any context manager of a Span will do
        self, operation_name: str, tags: dict[str, Any] | None = None, parent_span: Span | None = None
    ) -> _Traced:
        return _Traced(self, operation_name, tags, parent_span)

    def current_span(self) -> Span | None:
        return self._current.get()


class _Traced:
    """One span's lifetime. A class rather than a generator: Haystack opens one per component run, on the hot path."""

    __slots__ = ("component", "inner", "operation", "parent", "scope", "started", "tags", "token", "tracer")

    def __init__(self, tracer: StackyardTracer, operation: str, tags: dict[str, Any] | None, parent: Span | None):
        self.tracer = tracer
        self.operation = operation
        self.tags = tags or {}
        self.parent = parent
        self.scope = _scope.get()
        self.component = self.tags.get(COMPONENT_NAME) if operation == COMPONENT_RUN else None
        self.inner: contextlib.AbstractContextManager[Span] | None = None

    def __enter__(self) -> ContentFreeSpan:
        scope = self.scope
        if scope is not None and scope.stop is not None and scope.stop.is_set() and self.component is not None:
            raise Stopped("the run was cancelled before this component")
        target = scope.spans if scope is not None and scope.spans is not None else self.tracer.fallback
        inner: Span | None = None
        if target is not None:
            clean = {key: value for key, value in self.tags.items() if key not in CONTENT_TAGS}
            if scope is not None:
                clean["stackyard.pipeline"] = scope.pipeline
                clean["stackyard.revision"] = scope.revision
            parent = self.parent.inner if isinstance(self.parent, ContentFreeSpan) else self.parent
            self.inner = target.trace(self.operation, tags=clean, parent_span=parent)
            inner = self.inner.__enter__()
        span = ContentFreeSpan(inner)
        self.token = self.tracer._current.set(span)
        self.started = time.perf_counter()
        return span

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: Any) -> bool | None:
        elapsed = time.perf_counter() - self.started
        self.tracer._current.reset(self.token)
        scope = self.scope
        if scope is not None and self.component is not None:
            if error is not None:
                scope.metrics.component_failed(scope.pipeline, str(self.component))
            scope.metrics.component_ran(scope.pipeline, str(self.component), elapsed)
        if self.inner is not None:
            return self.inner.__exit__(kind, error, traceback)
        return None


def install_tracer() -> StackyardTracer:
    """Make Stackyard's tracer Haystack's tracer (once per process); a tracer set before it keeps getting spans."""
    current = haystack_tracer.actual_tracer
    if isinstance(current, StackyardTracer):
        return current
    installed = StackyardTracer(fallback=current if is_tracing_enabled() else None)
    enable_tracing(installed)
    return installed
