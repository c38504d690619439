"""Optional OpenTelemetry tracing (`pip install stackyard[otel]`): a span per request, Haystack's spans beneath.

Enabled with `STACKYARD_OTEL_TRACING=true`. Export goes through OTLP and is configured by the standard variables
(`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`,
`OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`...). The provider belongs to the
app, not to the process-global OpenTelemetry state, so it does not fight with one the host application set up.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from stackyard import __version__
from stackyard.wire.replies import SpanRecord


def provider_from_environment() -> TracerProvider:
    """A tracer provider that exports in batches to the OTLP endpoint the `OTEL_*` variables name."""
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "stackyard")})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(_exporter()))
    return provider


def _exporter() -> SpanExporter:
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", ""))
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found]
                OTLPSpanExporter as GrpcExporter,  # the gRPC exporter is not a dependency: install it to use it
            )
        except ImportError as error:
            raise RuntimeError(
                "OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs opentelemetry-exporter-otlp-proto-grpc; install it, "
                "or use http/protobuf."
            ) from error
        exporter: SpanExporter = GrpcExporter()
        return exporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


class Otel:
    """The app's OpenTelemetry tracing: request spans, and the Haystack spans of runs beneath them (recorded in the
    cells, replayed here)."""

    def __init__(self, provider: TracerProvider, *, owned: bool) -> None:
        self.provider = provider
        self.owned = owned
        self.tracer = provider.get_tracer("stackyard", __version__)

    @contextlib.contextmanager
    def request_span(self, method: str, headers: Mapping[str, str]) -> Iterator[trace.Span]:
        """The server span of one request, continuing the caller's trace when it sent `traceparent`."""
        context = propagate.extract(headers)
        with self.tracer.start_as_current_span(method, context=context, kind=trace.SpanKind.SERVER) as span:
            yield span

    def replay(self, records: tuple[SpanRecord, ...]) -> None:
        """Record the spans a cell wrote down during a run, beneath the current (request) span, with the
        times they had there. Parents open before their children, so their records come first by id."""
        made: dict[int, trace.Span] = {}
        for record in sorted(records, key=lambda each: each.id):
            parent = made.get(record.parent) if record.parent is not None else None
            context = trace.set_span_in_context(parent) if parent is not None else None
            span = self.tracer.start_span(
                record.operation, context=context, start_time=record.start_ns, attributes=record.tags
            )
            if record.failed:
                span.set_status(trace.StatusCode.ERROR)
            span.end(end_time=record.end_ns)
            made[record.id] = span

    def close(self) -> None:
        if self.owned:
            self.provider.shutdown()  # flushes spans still in the batch
