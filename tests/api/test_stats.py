"""`GET /stats` through the real app: the figures of known runs, read back from the server's own metrics."""

from __future__ import annotations

import math
from collections import defaultdict

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from stackyard.observability.figures import Latency
from stackyard.observability.recent import SIZE, RecentRuns, Window
from tests.yamls import BM25, EXPLODE, prompt_yaml

YAML = {"Content-Type": "application/yaml"}


def test_runs_errors_and_latency_are_summed_over_revisions(client: TestClient) -> None:
    assert client.put("/pipelines/greet", content=prompt_yaml("v1 {{ name }}"), headers=YAML).status_code == 201
    for _ in range(3):
        assert client.post("/pipelines/greet/run", json={"data": {"name": "a"}}).status_code == 200
    assert client.put("/pipelines/greet", content=prompt_yaml("v2 {{ name }}"), headers=YAML).status_code == 200
    assert client.post("/pipelines/greet/run", json={"data": {}}).status_code == 422
    assert client.put("/pipelines/boom", content=EXPLODE, headers=YAML).status_code == 201
    assert client.post("/pipelines/boom/run", json={"data": {"text": "x"}}).status_code == 500

    answer = client.get("/stats")
    assert answer.status_code == 200
    pipelines = {p["name"]: p for p in answer.json()["pipelines"]}
    greet = pipelines["greet"]
    assert (greet["runs"], greet["errors"], greet["error_rate"]) == (4, 1, 0.25)
    assert greet["outcomes"] == {"ok": 3, "client_error": 1}
    lower, upper = _bucket_of_rank(client.get("/metrics").text, "greet", 0.95)
    assert greet["p95_seconds"] > 0
    assert lower <= greet["p95_seconds"] <= upper  # the bucket the rank falls in, however long the runs took
    assert [c["name"] for c in greet["components"]] == ["prompt"]
    boom = pipelines["boom"]
    assert (boom["runs"], boom["errors"], boom["error_rate"]) == (1, 1, 1.0)
    assert boom["components"][0]["failures"] == 1


def _bucket_of_rank(metrics: str, pipeline: str, q: float) -> tuple[float, float]:
    """The bounds of the latency bucket (summed over the pipeline's series) that holds the run of rank `q`."""
    counts: dict[float, float] = defaultdict(float)
    for family in text_string_to_metric_families(metrics):
        for found in family.samples:
            if found.name == "stackyard_run_duration_seconds_bucket" and found.labels.get("pipeline") == pipeline:
                counts[float(found.labels["le"])] += found.value
    bounds = sorted(counts)
    rank = q * counts[math.inf]
    upper = next(bound for bound in bounds if counts[bound] >= rank)
    return max((bound for bound in bounds if bound < upper), default=0.0), upper


def test_each_component_has_its_timings(client: TestClient) -> None:
    assert client.put("/pipelines/search", content=BM25, headers=YAML).status_code == 201
    for _ in range(4):
        assert client.post("/pipelines/search/run", json={"data": {"query": "q"}}).status_code == 200
    (search,) = client.get("/stats").json()["pipelines"]
    components = {c["name"]: c for c in search["components"]}
    assert set(components) == {"retriever", "prompt"}
    for component in components.values():
        assert component["runs"] == 4
        assert component["failures"] == 0
        assert component["mean_seconds"] > 0
        assert component["p95_seconds"] > 0


def test_each_component_has_its_last_runs_beside_its_totals(client: TestClient) -> None:
    assert client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML).status_code == 201
    for _ in range(SIZE + 5):
        assert client.post("/pipelines/greet/run", json={"data": {"name": "a"}}).status_code == 200
    assert client.put("/pipelines/boom", content=EXPLODE, headers=YAML).status_code == 201
    assert client.post("/pipelines/boom/run", json={"data": {"text": "x"}}).status_code == 500
    pipelines = {p["name"]: p for p in client.get("/stats").json()["pipelines"]}
    (prompt,) = pipelines["greet"]["components"]
    assert prompt["runs"] == SIZE + 5
    recent = prompt["recent"]
    assert (recent["runs"], recent["failures"]) == (SIZE, 0)  # the last ones only
    assert recent["mean_seconds"] > 0
    assert recent["p95_seconds"] > 0
    (boom,) = pipelines["boom"]["components"]
    assert (boom["recent"]["runs"], boom["recent"]["failures"]) == (1, 1)


def test_the_window_holds_the_last_runs_and_their_failures() -> None:
    recent = RecentRuns(size=100)
    assert recent.window("p", "c") is None
    for milliseconds in range(150):  # 0 .. 149 ms: the window keeps 50 .. 149
        if milliseconds % 10 == 0:
            recent.failed("p", "c")
        recent.ran("p", "c", milliseconds / 1000)
    recent.ran("p", "other", 1.0)
    window = recent.window("p", "c")
    assert window is not None
    assert (window.runs, window.failures) == (100, 10)
    assert window.mean_seconds == pytest.approx(0.0995)
    assert window.p95_seconds == pytest.approx(0.14405)  # between the 95th and 96th of 50 .. 149 ms
    assert recent.window("p", "other") == Window(1, 0, 1.0, 1.0)


def test_a_pipeline_that_never_ran_is_not_listed(client: TestClient) -> None:
    assert client.put("/pipelines/idle", content=prompt_yaml(), headers=YAML).status_code == 201
    assert client.get("/stats").json()["pipelines"] == []


@pytest.mark.parametrize(
    ("buckets", "expected"),
    [
        ({0.1: 0, 0.2: 10, float("inf"): 10}, 0.195),  # inside a bucket: linear between its bounds
        ({0.1: 10, float("inf"): 10}, 0.095),
        ({0.1: 0, float("inf"): 10}, 0.1),  # past the last finite bound: that bound
    ],
)
def test_the_p95_is_read_from_buckets_as_prometheus_does(buckets: dict[float, float], expected: float) -> None:
    latency = Latency(count=10)
    latency.buckets.update(buckets)
    assert latency.quantile(0.95) == pytest.approx(expected)


def test_a_histogram_without_samples_has_no_quantile() -> None:
    assert Latency().quantile(0.95) is None
    assert Latency().mean() is None
