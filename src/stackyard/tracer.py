"""The Haystack tracer Stackyard installs: component timings for the metrics, and spans without content.

Haystack opens a span around every pipeline run and every component run (`haystack.tracing`). Stackyard installs
one process-wide tracer that reads the current `RunScope` (a context variable set by the run path and copied into
the worker thread that runs the pipeline) to know which pipeline and which app's metrics a component belongs to.
Spans go on to the scope's span tracer (OpenTelemetry, when enabled) or else to whatever tracer was installed
before Stackyard's. Inputs and outputs never go anywhere: content tags are dropped, whatever
`HAYSTACK_CONTENT_TRACING_ENABLED` says, and so is the input data Haystack puts on the pipeline span as a plain tag.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from haystack.tracing.tracer import Span, Tracer, enable_tracing, is_tracing_enabled
from haystack.tracing.tracer import tracer as haystack_tracer

from stackyard.metrics import Metrics

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


@dataclass(frozen=True)
class RunScope:
    """Which pipeline revision is running, and where its measurements go."""

    pipeline: str
    revision: int
    metrics: Metrics
    spans: Tracer | None = None


_scope: ContextVar[RunScope | None] = ContextVar("stackyard_run_scope", default=None)


@contextlib.contextmanager
def run_scope(scope: RunScope) -> Iterator[None]:
    """Attribute the Haystack spans opened inside (and in worker threads started inside) to `scope`."""
    token = _scope.set(scope)
    try:
        yield
    finally:
        _scope.reset(token)


class ContentFreeSpan(Span):
    """Wraps the span of the tracer spans go to (if any); drops content tags."""

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

    @contextlib.contextmanager
    def trace(
        self, operation_name: str, tags: dict[str, Any] | None = None, parent_span: Span | None = None
    ) -> Iterator[Span]:
        scope = _scope.get()
        target = scope.spans if scope is not None and scope.spans is not None else self.fallback
        if target is None:
            inner_context: contextlib.AbstractContextManager[Span | None] = contextlib.nullcontext()
        else:
            clean = {key: value for key, value in (tags or {}).items() if key not in CONTENT_TAGS}
            if scope is not None:
                clean["stackyard.pipeline"] = scope.pipeline
                clean["stackyard.revision"] = scope.revision
            parent = parent_span.inner if isinstance(parent_span, ContentFreeSpan) else parent_span
            inner_context = target.trace(operation_name, tags=clean, parent_span=parent)
        component = (tags or {}).get(COMPONENT_NAME) if operation_name == COMPONENT_RUN else None
        with inner_context as inner:
            span = ContentFreeSpan(inner)
            token = self._current.set(span)
            started = time.perf_counter()
            try:
                yield span
            except BaseException:
                if scope is not None and component is not None:
                    scope.metrics.component_failed(scope.pipeline, str(component))
                raise
            finally:
                self._current.reset(token)
                if scope is not None and component is not None:
                    scope.metrics.component_ran(scope.pipeline, str(component), time.perf_counter() - started)

    def current_span(self) -> Span | None:
        return self._current.get()


def install_tracer() -> StackyardTracer:
    """Make Stackyard's tracer Haystack's tracer (once per process); a tracer set before it keeps getting spans."""
    current = haystack_tracer.actual_tracer
    if isinstance(current, StackyardTracer):
        return current
    installed = StackyardTracer(fallback=current if is_tracing_enabled() else None)
    enable_tracing(installed)
    return installed
