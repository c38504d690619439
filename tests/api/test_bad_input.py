"""Every bad input gets a clear 4xx problem, and leaves the stored definition and the live pipeline untouched."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import yard
from tests.yamls import BM25, PROMPT, prompt_yaml

YAML = {"Content-Type": "application/yaml"}
WRITER = "haystack.components.writers.document_writer.DocumentWriter"
STORE = "haystack.document_stores.in_memory.document_store.InMemoryDocumentStore"

BAD_DEFINITIONS = {
    "malformed-yaml": ("components:\n  a: [1, 2\n  b: c\n", 422, "line 3"),
    "not-a-mapping": ("- a\n- b\n", 422, "not a mapping"),
    "empty": ("", 422, "empty"),
    "only-a-comment": ("# nothing\n", 422, "empty"),
    "no-components": ("connections: []\n", 422, "'components'"),
    "unknown-top-level-key": ("components: {}\nnope: 1\n", 422, "'nope'"),
    "component-not-a-mapping": ("components:\n  a: 5\n", 422, "'a'"),
    "component-without-type": ("components:\n  a: {init_parameters: {}}\n", 422, "'type'"),
    "unknown-component-type": (
        "components:\n  a:\n    type: haystack.components.nope.Nope\n",
        422,
        "not a Haystack component",
    ),
    "module-outside-allowlist": ("components:\n  a:\n    type: os.system\n", 422, "allowlist"),
    "python-yaml-tag": ("components: !!python/object/apply:os.system ['true']\n", 422, "line 1"),
    "bad-init-parameter": (
        f"components:\n  p:\n    type: {PROMPT}\n    init_parameters: {{template: x, bogus: 1}}\n",
        422,
        "'p'",
    ),
    "connection-to-missing-component": (
        prompt_yaml().replace("connections: []", "connections:\n  - {sender: prompt.prompt, receiver: ghost.x}"),
        422,
        "ghost",
    ),
    "connection-to-missing-socket": (
        BM25.replace("receiver: prompt.documents", "receiver: prompt.nosuchsocket"),
        422,
        "nosuchsocket",
    ),
    "socket-type-mismatch": (
        f"components:\n  p:\n    type: {PROMPT}\n    init_parameters: {{template: x}}\n"
        f"  w:\n    type: {WRITER}\n    init_parameters:\n      document_store: {{type: {STORE}}}\n"
        "connections:\n  - {sender: p.prompt, receiver: w.documents}\n",
        422,
        "connection",
    ),
    "input-mapping-to-missing-component": (prompt_yaml() + "inputs:\n  who: ghost.name\n", 422, "ghost"),
    "input-mapping-to-missing-socket": (prompt_yaml() + "inputs:\n  who: prompt.nosuch\n", 422, "nosuch"),
    "input-mapping-not-dotted": (prompt_yaml() + "inputs:\n  who: prompt\n", 422, "component.socket"),
    "output-mapping-to-missing-socket": (prompt_yaml() + "outputs:\n  out: prompt.nosuch\n", 422, "nosuch"),
}


@pytest.mark.parametrize(("text", "status", "needle"), BAD_DEFINITIONS.values(), ids=BAD_DEFINITIONS.keys())
def test_bad_definition_is_refused_with_a_problem(live: TestClient, text: str, status: int, needle: str) -> None:
    answer = live.put("/pipelines/target", content=text, headers=YAML)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert {"type", "title", "status", "detail"} <= problem.keys()
    assert problem["status"] == status
    assert needle in problem["detail"]
    assert len(problem["detail"]) <= 500


def test_malformed_yaml_reports_line_and_column(live: TestClient) -> None:
    problem = live.put("/pipelines/target", content="components:\n  a: [1, 2\n  b: c\n", headers=YAML).json()
    assert (problem["line"], problem["column"]) == (3, 4)


def test_a_bad_definition_for_a_new_name_stores_nothing(live: TestClient) -> None:
    assert live.put("/pipelines/fresh", content="- a\n", headers=YAML).status_code == 422
    assert live.get("/pipelines/fresh").status_code == 404
    assert [p["name"] for p in live.get("/pipelines").json()["pipelines"]] == ["target"]


@pytest.mark.parametrize("name", ["Upper", "-lead", "has space", "a" * 64, "dot.ted", "ünï"])
def test_invalid_pipeline_names_are_refused(live: TestClient, name: str) -> None:
    for answer in (
        live.put(f"/pipelines/{name}", content=prompt_yaml(), headers=YAML),
        live.get(f"/pipelines/{name}"),
        live.post(f"/pipelines/{name}/run", json={"data": {}}),
    ):
        assert answer.status_code == 400, answer.text
        assert answer.json()["type"].endswith("/invalid-pipeline-name")


def test_body_that_is_not_json_is_a_400(live: TestClient) -> None:
    put = live.put("/pipelines/target", content="{nope", headers={"Content-Type": "application/json"})
    run = live.post("/pipelines/target/run", content="{nope", headers={"Content-Type": "application/json"})
    for answer in (put, run):
        assert answer.status_code == 400
        assert answer.json()["detail"] == "The body is not valid JSON."


def test_json_definition_without_yaml_field_is_a_422_naming_the_member(live: TestClient) -> None:
    answer = live.put("/pipelines/target", json={"description": "no yaml"})
    assert (answer.status_code, answer.json()["type"]) == (422, "https://stackyard.dev/problems/request-not-valid")
    assert answer.json()["errors"][0]["location"] == "body.yaml"


def test_unsupported_content_type_is_a_415(live: TestClient) -> None:
    answer = live.put("/pipelines/target", content=b"x", headers={"Content-Type": "image/png"})
    assert answer.status_code == 415


def test_oversized_definition_is_a_413(live: TestClient, app: FastAPI) -> None:
    limit = yard(app).settings.max_yaml_bytes
    text = prompt_yaml() + "#" * limit
    assert live.put("/pipelines/target", content=text, headers=YAML).status_code == 413


BAD_RUNS = {
    "missing-mandatory-input": ({"data": {}}, 422, "Missing mandatory input 'name'"),
    "unknown-input-name": ({"data": {"name": "x", "nmae": "y"}}, 422, "'nmae'"),
    "unknown-socket-of-component": ({"data": {"prompt": {"nope": 1}}}, 422, "'nope'"),
    "unknown-include-outputs-from": ({"data": {"name": "x"}, "include_outputs_from": ["ghost"]}, 422, "ghost"),
    "data-not-an-object": ({"data": [1, 2]}, 422, "data"),
    "unknown-body-field": ({"data": {"name": "x"}, "debug": True}, 422, "debug"),
}


@pytest.mark.parametrize(("body", "status", "needle"), BAD_RUNS.values(), ids=BAD_RUNS.keys())
def test_bad_run_input_is_refused_with_a_problem(live: TestClient, body: object, status: int, needle: str) -> None:
    answer = live.post("/pipelines/target/run", json=body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert needle in answer.json()["detail"]


def test_run_input_of_the_wrong_type_is_a_422(live: TestClient) -> None:
    live.put("/pipelines/search", content=BM25, headers=YAML)
    answer = live.post("/pipelines/search/run", json={"data": {"query": {"not": "a string"}}})
    assert answer.status_code == 422
    assert "retriever.query" in answer.json()["detail"]


def test_unknown_pipeline_is_a_404_on_every_route(live: TestClient) -> None:
    for answer in (
        live.get("/pipelines/ghost"),
        live.delete("/pipelines/ghost"),
        live.post("/pipelines/ghost/run", json={"data": {}}),
        live.get("/pipelines/ghost/schema"),
    ):
        assert answer.status_code == 404
        assert answer.json()["type"].endswith("/pipeline-not-found")


def test_errors_never_echo_secret_values(live: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACKYARD_TEST_SECRET", "sk-do-not-leak-0123456789")
    text = """components:
  llm:
    type: haystack.components.generators.chat.openai.OpenAIChatGenerator
    init_parameters:
      api_key: {type: env_var, env_vars: [STACKYARD_TEST_SECRET], strict: true}
      no_such_parameter: 1
"""
    answer = live.put("/pipelines/target", content=text, headers=YAML)
    assert answer.status_code == 422
    assert "sk-do-not-leak" not in answer.text


def test_haystack_messages_are_trimmed(live: TestClient) -> None:
    text = (
        f"components:\n  p:\n    type: {PROMPT}\n    init_parameters:\n      template: '{'x' * 5000}'\n      bogus: 1\n"
    )
    answer = live.put("/pipelines/target", content=text, headers=YAML)
    assert answer.status_code == 422
    assert len(answer.text) < 1200


def test_unprintable_characters_in_yaml_are_a_422(live: TestClient) -> None:
    answer = live.put("/pipelines/target", json={"yaml": 'z"\u00f4\u0087\u00d9'})
    assert answer.status_code == 422
    assert "cannot be read" in answer.json()["detail"]


def test_a_component_refusing_its_inputs_is_a_422_not_a_failure(live: TestClient) -> None:
    live.put("/pipelines/search", content=BM25, headers=YAML)
    answer = live.post("/pipelines/search/run", json={"data": {"query": ""}})
    assert answer.status_code == 422
    problem = answer.json()
    assert (problem["type"].endswith("/input-rejected"), problem["component"]) == (True, "retriever")
    assert "non-empty" in problem["detail"]
