"""OpenTelemetry: a server span per request, Haystack's pipeline and component spans beneath, no run content."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from stackyard.api import create_app
from stackyard.settings import Settings
from tests.yamls import BM25

YAML = {"Content-Type": "application/yaml"}
SECRET = "query-nobody-may-read-51c"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def exported() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def traced(settings: Settings, exported: InMemorySpanExporter) -> Iterator[TestClient]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    with TestClient(create_app(settings, tracer_provider=provider)) as client:
        yield client


def test_a_run_is_one_request_span_with_pipeline_and_component_spans_beneath(
    traced: TestClient, exported: InMemorySpanExporter
) -> None:
    traced.put("/pipelines/search", content=BM25, headers=YAML)
    exported.clear()
    parent = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
    answer = traced.post("/pipelines/search/run", json={"data": {"query": SECRET}}, headers={"traceparent": parent})
    assert answer.status_code == 200

    spans = exported.get_finished_spans()
    [request] = [span for span in spans if span.kind is SpanKind.SERVER]
    [pipeline] = [span for span in spans if span.name == "haystack.pipeline.run"]
    components = [span for span in spans if span.name == "haystack.component.run"]
    assert request.name == "POST /pipelines/{name}/run"
    assert format(request.context.trace_id, "032x") == TRACE_ID, "the caller's trace continues"
    assert attributes(request)["http.response.status_code"] == 200
    assert attributes(request)["stackyard.pipeline"] == "search"
    assert attributes(request)["stackyard.revision"] == 1
    assert parent_of(pipeline) == request.context.span_id
    assert sorted(str(attributes(span)["haystack.component.name"]) for span in components) == ["prompt", "retriever"]
    for span in components:
        assert parent_of(span) == pipeline.context.span_id
        assert attributes(span)["stackyard.pipeline"] == "search"
    assert not [span.name for span in spans if SECRET in json.dumps(attributes(span), default=str)]


def test_content_stays_out_even_when_haystack_content_tracing_is_on(
    traced: TestClient, exported: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    from haystack.tracing.tracer import tracer

    monkeypatch.setattr(tracer, "is_content_tracing_enabled", True)
    traced.put("/pipelines/search", content=BM25, headers=YAML)
    assert traced.post("/pipelines/search/run", json={"data": {"query": SECRET}}).status_code == 200

    spans = exported.get_finished_spans()
    assert any(span.name == "haystack.component.run" for span in spans)
    assert not [span.name for span in spans if SECRET in json.dumps(attributes(span), default=str)]


def attributes(span: ReadableSpan) -> dict[str, object]:
    return dict(span.attributes or {})


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None
