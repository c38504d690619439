"""Hayhooks YAML files deploy on Stackyard as they are; the ones Hayhooks refuses are refused here too, with a 4xx.

The files in `tests/files/hayhooks/` follow, one for one, the YAML files of Hayhooks' own test suite (see the README
there). The server here is set up as an operator who trusts those files would set it: `OPENAI_API_KEY` (a dummy
value; nothing is called) and the Hugging Face token variables may be read as secrets, and `LinkContentFetcher` is
allowed despite the default denylist. Nothing is run that would need the network.

Files Hayhooks deploys that cannot build here, each refused with a clear 422 naming the component:
- `inputs_outputs_pipeline.yml`: HTMLToDocument needs the optional package `trafilatura`, which Stackyard does
  not install;
- `working_pipelines/*` (deployed by earlier Hayhooks releases, whose test of them is skipped today): they name
  components that left Haystack 3's core (`OpenAIGenerator`, the sentence-transformers embedders) or need
  `haystack_experimental` and the Qdrant integration.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from stackyard.settings import Settings
from tests.conftest import REPO, exported, yard

YAML = {"Content-Type": "application/yaml"}
FILES = REPO / "tests/files/hayhooks"
DEPLOYS = [
    "sample_pipeline",
    "utf8_pipeline",
    "multi_output_pipeline",
    "list_input",
    "multi_llm_streaming_pipeline",
    "multi_llm_streaming_all_pipeline",
]
REFUSED = {
    "broken/broken_rag_pipeline": ("invalid-definition", "Component 'llm' cannot be created"),
    "broken/duplicate_input_target": ("invalid-definition", "Inputs 'query' and 'other_query' both map to"),
    "inputs_outputs_pipeline": ("invalid-definition", "trafilatura"),
    "working_pipelines/basic_rag_pipeline": ("invalid-definition", "'haystack.components.generators.openai."),
    "working_pipelines/minimal_retriever": ("invalid-definition", "sentence_transformers_text_embedder"),
    "working_pipelines/pipeline_qdrant": ("policy-violation", "haystack_experimental"),
}


def text(name: str) -> str:
    return (FILES / f"{name}.yml").read_text(encoding="utf-8")


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-dummy-never-sent")
    return Settings(
        store_url=f"sqlite:///{tmp_path}/yard.db",
        secret_env_allowlist=["OPENAI_API_KEY", "HF_API_TOKEN", "HF_TOKEN"],
        allowed_components=["haystack.components.fetchers.link_content.LinkContentFetcher"],
        extra_allowed_modules=["tests.components"],
    )


@pytest.mark.parametrize("name", DEPLOYS)
def test_a_file_hayhooks_deploys_deploys_unchanged(client: TestClient, app: FastAPI, name: str) -> None:
    pipeline = name.replace("_", "-")
    answer = client.put(f"/pipelines/{pipeline}", content=text(name).encode(), headers=YAML)
    assert answer.status_code == 201, answer.text
    assert answer.json()["state"] == "serving"
    stored = client.get(f"/pipelines/{pipeline}", headers={"Accept": "application/yaml"})
    assert stored.text == text(name)
    assert client.get(f"/pipelines/{pipeline}/schema").status_code == 200


@pytest.mark.parametrize(
    ("name", "data", "result"),
    [
        ("sample_pipeline", {"value": 3}, {"result": 10}),
        ("utf8_pipeline", {"value": 3}, {"result": 10}),
        ("multi_output_pipeline", {"value": 3}, {"doubled": 10, "final": 15}),
    ],
)
def test_an_offline_hayhooks_file_runs_with_its_friendly_names(
    client: TestClient, name: str, data: dict[str, int], result: dict[str, int]
) -> None:
    client.put("/pipelines/calc", content=text(name).encode(), headers=YAML)
    answer = client.post("/pipelines/calc/run", json={"data": data})
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"] == result


def test_utf8_metadata_reaches_the_pipeline(client: TestClient, app: FastAPI) -> None:
    client.put("/pipelines/utf8", content=text("utf8_pipeline").encode(), headers=YAML)
    assert exported(client, app, "utf8")["metadata"]["author"] == "測試 🚀"


@pytest.mark.parametrize(
    ("name", "streaming"),
    [("multi_llm_streaming_pipeline", ("llm_1", "llm_2")), ("multi_llm_streaming_all_pipeline", "all")],
)
def test_streaming_components_are_kept_with_the_live_definition(
    client: TestClient, app: FastAPI, name: str, streaming: object
) -> None:
    client.put("/pipelines/chain", content=text(name), headers=YAML)
    live = yard(app).registry.get("chain")
    assert live is not None
    assert live.info.definition.streaming_components == streaming


def test_list_inputs_feed_every_socket_listed(client: TestClient) -> None:
    client.put("/pipelines/summary", content=text("list_input"), headers=YAML)
    schema = client.get("/pipelines/summary/schema").json()["inputs"]["anyOf"][0]
    assert "query" in schema["required"]
    assert "query" in schema["properties"]


@pytest.mark.parametrize(("name", "slug", "needle"), [(k, *v) for k, v in REFUSED.items()], ids=REFUSED.keys())
def test_a_file_that_cannot_work_is_refused_with_a_clear_4xx_and_nothing_changes(
    client: TestClient, app: FastAPI, name: str, slug: str, needle: str
) -> None:
    answer = client.put("/pipelines/refused", content=text(name), headers=YAML)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["type"].endswith(f"/{slug}")
    assert needle in problem["detail"]
    assert client.get("/pipelines/refused").status_code == 404
    assert yard(app).registry.get("refused") is None


# -- outputs that list several sockets ------------------------------------------------------------------------------

BRANCHES = """components:
  router:
    type: haystack.components.routers.conditional_router.ConditionalRouter
    init_parameters:
      routes:
        - {condition: "{{ value > 0 }}", output: "{{ value }}", output_name: positive, output_type: int}
        - {condition: "{{ value <= 0 }}", output: "{{ value }}", output_name: other, output_type: int}
  double:
    type: haystack.testing.sample_components.double.Double
    init_parameters: {}
  shift:
    type: haystack.testing.sample_components.add_value.AddFixedValue
    init_parameters: {add: 100}
connections:
  - {sender: router.positive, receiver: double.value}
  - {sender: router.other, receiver: shift.value}
inputs:
  value: router.value
outputs:
  answer: [double.value, shift.result]
"""


@pytest.mark.parametrize(("value", "answer"), [(3, 6), (-1, 99)])
def test_an_output_listing_sockets_answers_from_the_branch_that_ran(
    client: TestClient, value: int, answer: int
) -> None:
    assert client.put("/pipelines/branches", content=BRANCHES, headers=YAML).status_code == 201
    ran = client.post("/pipelines/branches/run", json={"data": {"value": value}})
    assert ran.status_code == 200, ran.text
    assert ran.json()["result"] == {"answer": answer}


def test_an_output_listing_sockets_has_one_schema(client: TestClient) -> None:
    client.put("/pipelines/branches", content=BRANCHES, headers=YAML)
    outputs = client.get("/pipelines/branches/schema").json()["outputs"]
    assert outputs["properties"] == {"answer": {"type": "integer"}}


def test_an_output_listing_a_missing_socket_is_refused(client: TestClient) -> None:
    text = BRANCHES.replace("[double.value, shift.result]", "[double.value, shift.nothing]")
    answer = client.put("/pipelines/branches", content=text, headers=YAML)
    assert answer.status_code == 422
    assert "'shift.nothing'" in answer.json()["detail"]
