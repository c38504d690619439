"""Every management and run route through the real app on a real SQLite file."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import REPO, yard
from tests.yamls import BM25, prompt_yaml

YAML = {"Content-Type": "application/yaml"}


def test_put_creates_then_replaces_with_new_revisions_and_etags(client: TestClient) -> None:
    created = client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    assert created.status_code == 201
    assert created.json()["revision"] == 1
    assert created.json()["outcome"] == "created"
    assert created.headers["etag"] == '"1"'
    assert created.headers["location"] == "/pipelines/greet"
    replaced = client.put("/pipelines/greet", content=prompt_yaml("Hi {{ name }}"), headers=YAML)
    assert replaced.status_code == 200
    assert (replaced.json()["revision"], replaced.json()["outcome"]) == (2, "updated")
    assert client.post("/pipelines/greet/run", json={"data": {"name": "Ada"}}).json()["result"] == {
        "prompt": {"prompt": "Hi Ada"}
    }


def test_json_body_carries_description_and_labels(client: TestClient) -> None:
    body = {"yaml": prompt_yaml(), "description": "Greets", "labels": {"team": "search"}}
    assert client.put("/pipelines/greet", json=body).status_code == 201
    got = client.get("/pipelines/greet").json()
    assert (got["description"], got["labels"], got["state"]) == ("Greets", {"team": "search"}, "serving")


def test_identical_put_is_a_no_op_that_keeps_the_live_build(client: TestClient, app: FastAPI) -> None:
    client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    live_before = yard(app).registry.get("greet")
    again = client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    assert again.status_code == 200
    assert (again.json()["revision"], again.json()["outcome"]) == (1, "unchanged")
    assert yard(app).registry.get("greet") is live_before


def test_list_shows_each_pipeline_with_revision_state_and_times(client: TestClient) -> None:
    client.put("/pipelines/b", json={"yaml": prompt_yaml(), "description": "bee", "labels": {"x": "1"}})
    client.put("/pipelines/a", content=prompt_yaml(), headers=YAML)
    client.put("/pipelines/a", content=prompt_yaml("Yo {{ name }}"), headers=YAML)
    listed = client.get("/pipelines").json()["pipelines"]
    assert [(p["name"], p["revision"], p["state"]) for p in listed] == [("a", 2, "serving"), ("b", 1, "serving")]
    assert listed[1]["description"] == "bee"
    assert listed[1]["labels"] == {"x": "1"}
    assert listed[0]["updated_at"] >= listed[0]["created_at"]


def test_get_returns_the_yaml_exactly_as_submitted(client: TestClient) -> None:
    text = "# a comment that Haystack would drop\n" + prompt_yaml().replace("connections: []", "connections:   []")
    client.put("/pipelines/greet", content=text, headers=YAML)
    as_yaml = client.get("/pipelines/greet", headers={"Accept": "application/yaml"})
    assert as_yaml.status_code == 200
    assert as_yaml.headers["content-type"].startswith("application/yaml")
    assert as_yaml.text == text
    assert as_yaml.headers["etag"] == '"1"'
    as_json = client.get("/pipelines/greet")
    assert as_json.json()["yaml"] == text
    assert as_json.json()["revision"] == 1


def test_delete_answers_204_then_404_and_stops_serving(client: TestClient) -> None:
    client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    assert client.delete("/pipelines/greet").status_code == 204
    assert client.get("/pipelines/greet").status_code == 404
    assert client.post("/pipelines/greet/run", json={"data": {"name": "x"}}).status_code == 404
    second = client.delete("/pipelines/greet")
    assert second.status_code == 404
    assert second.headers["content-type"] == "application/problem+json"


def test_run_accepts_flat_and_per_component_inputs(client: TestClient) -> None:
    client.put("/pipelines/search", content=BM25, headers=YAML)
    flat = client.post("/pipelines/search/run", json={"data": {"query": "hay"}})
    assert flat.status_code == 200
    assert flat.json() == {"pipeline": "search", "revision": 1, "result": {"prompt": {"prompt": "hay: "}}}
    nested = client.post(
        "/pipelines/search/run", json={"data": {"retriever": {"query": "a"}, "prompt": {"query": "b"}}}
    )
    assert nested.json()["result"] == {"prompt": {"prompt": "b: "}}


def test_include_outputs_from_returns_intermediate_documents_as_plain_json(client: TestClient) -> None:
    client.put("/pipelines/search", content=BM25, headers=YAML)
    result = client.post(
        "/pipelines/search/run", json={"data": {"query": "hay"}, "include_outputs_from": ["retriever"]}
    ).json()["result"]
    assert result["retriever"] == {"documents": []}


def test_friendly_inputs_and_outputs_map_to_sockets(client: TestClient) -> None:
    text = (REPO / "examples/pipelines/query.yml").read_text()
    client.put("/pipelines/query", content=text, headers=YAML)
    answer = client.post("/pipelines/query/run", json={"data": {"query": "What is a stackyard?"}})
    assert answer.status_code == 200
    result = answer.json()["result"]
    assert set(result) == {"answers", "documents"}
    assert result["answers"][0]["query"] == "What is a stackyard?"
    assert "What is a stackyard?" in result["answers"][0]["data"]
    assert result["documents"] == []


def test_documents_and_chat_messages_come_back_as_plain_json(client: TestClient) -> None:
    text = """components:
  writer:
    type: haystack.components.writers.document_writer.DocumentWriter
    init_parameters:
      document_store:
        type: haystack.document_stores.in_memory.document_store.InMemoryDocumentStore
        init_parameters: {index: test-plain-json}
  llm:
    type: haystack.components.generators.chat.mock.MockChatGenerator
    init_parameters: {}
connections: []
"""
    assert client.put("/pipelines/mixed", content=text, headers=YAML).status_code == 201
    ran = client.post(
        "/pipelines/mixed/run",
        json={
            "data": {
                "writer": {"documents": [{"id": "d1", "content": "hay"}]},
                "llm": {"messages": [{"role": "user", "content": [{"text": "hi"}]}]},
            }
        },
    )
    assert ran.status_code == 200, ran.text
    result = ran.json()["result"]
    assert result["writer"] == {"documents_written": 1}
    reply = result["llm"]["replies"][0]
    assert (reply["text"], reply["role"]) == ("hi", "assistant")


def test_schema_describes_inputs_and_outputs(client: TestClient) -> None:
    client.put("/pipelines/search", content=BM25, headers=YAML)
    schema = client.get("/pipelines/search/schema").json()
    flat, nested = schema["inputs"]["anyOf"]
    assert flat["properties"]["query"]["type"] == "string"
    assert "query" in flat["required"]
    assert "top_k" in flat["properties"]
    assert set(nested["properties"]) == {"retriever", "prompt"}
    assert schema["outputs"]["properties"]["prompt"]["properties"]["prompt"]["type"] == "string"


def test_schema_uses_friendly_names_when_the_yaml_maps_them(client: TestClient) -> None:
    client.put("/pipelines/query", content=(REPO / "examples/pipelines/query.yml").read_text(), headers=YAML)
    schema = client.get("/pipelines/query/schema").json()
    flat = schema["inputs"]["anyOf"][0]
    assert flat["required"] == ["query"]
    assert set(schema["outputs"]["properties"]) == {"answers", "documents"}


def test_openapi_documents_every_route(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    assert {"get", "put", "delete"} <= set(paths["/pipelines/{name}"])
    assert "post" in paths["/pipelines/{name}/run"]
    assert "get" in paths["/pipelines/{name}/schema"]
    assert "get" in paths["/pipelines"]
    put_body = paths["/pipelines/{name}"]["put"]["requestBody"]["content"]
    assert {"application/yaml", "application/json"} <= set(put_body)
    assert client.get("/docs").status_code == 200


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"


def test_routes_do_not_grow_when_pipelines_change(client: TestClient, app: FastAPI) -> None:
    before = len(app.routes)
    for i in range(5):
        client.put(f"/pipelines/p{i}", content=prompt_yaml(), headers=YAML)
        client.put(f"/pipelines/p{i}", content=prompt_yaml("v2 {{ name }}"), headers=YAML)
        client.delete(f"/pipelines/p{i}")
    assert len(app.routes) == before
