"""`POST /validate`: the deploy checks without side effects, breaking-change warnings, simulation."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import REPO, yard
from tests.yamls import BM25, prompt_yaml

YAML = {"Content-Type": "application/yaml"}
INDEXING = (REPO / "examples/pipelines/indexing.yml").read_text()


def test_a_good_definition_is_valid_with_its_schema_and_nothing_is_stored(client: TestClient, app: FastAPI) -> None:
    answer = client.post("/validate", content=BM25, headers=YAML)
    assert answer.status_code == 200
    body = answer.json()
    assert (body["valid"], body["problems"], body["warnings"]) == (True, [], [])
    assert "query" in body["inputs"]["anyOf"][0]["properties"]
    assert client.get("/pipelines").json()["pipelines"] == []
    assert yard(app).store.generation() == 0


def test_a_bad_definition_lists_its_problem_with_component_and_line(client: TestClient) -> None:
    text = prompt_yaml().replace("required_variables: [name]", "required_variables: [name]\n      bogus: 1")
    body = client.post("/validate", json={"yaml": text}).json()
    assert body["valid"] is False
    (problem,) = body["problems"]
    assert (problem["component"], problem["line"]) == ("prompt", 2)
    assert "bogus" in problem["message"]


def test_malformed_yaml_problem_has_line_and_column(client: TestClient) -> None:
    body = client.post("/validate", content="components:\n  a: [1\n  b: 2\n", headers=YAML).json()
    assert body["valid"] is False
    assert (body["problems"][0]["line"], body["problems"][0]["column"]) == (3, 4)


def test_breaking_changes_against_the_live_pipeline_are_warned(client: TestClient) -> None:
    client.put("/pipelines/greet", content=prompt_yaml("Hello {{ name }}"), headers=YAML)
    candidate = prompt_yaml("Hello {{ person }} from {{ place }}", required="person, place")
    body = client.post("/validate", json={"yaml": candidate, "name": "greet"}).json()
    assert body["valid"] is True
    kinds = {(warning["kind"], warning["name"]) for warning in body["warnings"]}
    assert kinds == {
        ("input-removed", "name"),
        ("mandatory-input-added", "person"),
        ("mandatory-input-added", "place"),
    }
    assert client.get("/pipelines/greet").json()["revision"] == 1


def test_removed_output_is_warned(client: TestClient) -> None:
    query = (REPO / "examples/pipelines/query.yml").read_text()
    client.put("/pipelines/query", content=query, headers=YAML)
    candidate = query.replace("  documents: retriever.documents\n", "")
    body = client.post("/validate", json={"yaml": candidate, "name": "query"}).json()
    assert [(w["kind"], w["name"]) for w in body["warnings"]] == [("output-removed", "documents")]


def test_simulation_returns_outputs_and_component_timings(client: TestClient) -> None:
    body = client.post("/validate", json={"yaml": BM25, "sample_input": {"query": "hay"}}).json()
    simulation = body["simulation"]
    assert simulation["result"] == {"prompt": {"prompt": "hay: "}}
    assert set(simulation["timings_ms"]) == {"retriever", "prompt"}
    assert all(ms >= 0 for ms in simulation["timings_ms"].values())
    assert simulation["error"] is None


def test_simulation_with_bad_input_reports_the_run_problem(client: TestClient) -> None:
    simulation = client.post("/validate", json={"yaml": BM25, "sample_input": {}}).json()["simulation"]
    assert simulation["result"] is None
    assert "Missing mandatory input" in simulation["error"]["message"]


def test_simulating_a_writer_is_refused_unless_writes_are_allowed(client: TestClient) -> None:
    sample = {"files": [{"text": "simulated hay", "mime_type": "text/plain", "meta": {"file_name": "a.txt"}}]}
    refused = client.post("/validate", json={"yaml": INDEXING, "sample_input": sample})
    assert refused.status_code == 422
    assert refused.json()["type"].endswith("/simulation-refused")
    assert "writer" in refused.json()["detail"]
    allowed = client.post("/validate", json={"yaml": INDEXING, "sample_input": sample, "allow_writes": True})
    assert allowed.json()["simulation"]["result"] == {"written": 1}


def test_validate_refuses_bodies_it_cannot_read(client: TestClient) -> None:
    assert client.post("/validate", content="{x", headers={"Content-Type": "application/json"}).status_code == 400
    assert client.post("/validate", json={"nope": 1}).status_code == 422  # well formed, but not what the API takes
    assert client.post("/validate", content=b"x", headers={"Content-Type": "image/png"}).status_code == 415
    assert client.post("/validate", json={"yaml": BM25, "name": "Bad Name"}).status_code == 400
