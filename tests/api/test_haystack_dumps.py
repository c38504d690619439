"""What Haystack's own `Pipeline.dumps()` writes deploys, and builds the pipeline Haystack itself would build.

`dumps()` writes tuples with the `!!python/tuple` tag (PyPDFToDocument's defaults, any tuple a user passed in
Python); Haystack 2 wrote `max_loops_allowed`, which Haystack 3 reads and ignores. Both deploy; every other Python
tag is still refused before anything is built, stored or swapped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from haystack import Pipeline
from haystack.components.builders import PromptBuilder
from haystack.components.converters import PyPDFToDocument

from tests.conftest import REPO, exported
from tests.yamls import prompt_yaml

YAML = {"Content-Type": "application/yaml"}
EXAMPLES = sorted((REPO / "examples/pipelines").glob("*.yml"))


def redeployed(client: TestClient, app: FastAPI, name: str, text: str) -> dict[str, Any]:
    """Deploy `text` and return the pipeline the server built from it, as Haystack describes it (`to_dict`, what
    `Pipeline.__eq__` compares), as JSON values (tuples become lists: compare with `plain`)."""
    answer = client.put(f"/pipelines/{name}", content=text, headers=YAML)
    assert answer.status_code == 201, answer.text
    return exported(client, app, name)


def plain(value: object) -> object:
    """`value` as the JSON a cell answers it in."""
    return json.loads(json.dumps(value))


@pytest.mark.parametrize("example", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_an_example_loaded_and_dumped_by_haystack_deploys_as_haystack_builds_it(
    client: TestClient, app: FastAPI, example: Path
) -> None:
    dumped = Pipeline.loads(example.read_text()).dumps()
    assert redeployed(client, app, example.stem, dumped) == plain(Pipeline.loads(dumped).to_dict())


def test_the_indexing_example_dumped_by_haystack_carries_a_tuple_and_deploys(client: TestClient, app: FastAPI) -> None:
    dumped = Pipeline.loads((REPO / "examples/pipelines/indexing.yml").read_text()).dumps()
    assert "!!python/tuple" in dumped
    served = redeployed(client, app, "indexing", dumped)
    # What the cell built, as JSON: the tuple arrived whole (a list once it is JSON).
    assert served["components"]["pdf"]["init_parameters"]["plain_mode_orientations"] == [0, 90, 180, 270]
    assert served == plain(Pipeline.loads(dumped).to_dict())


def test_pypdf_defaults_dumped_by_haystack_deploy_and_run(client: TestClient, app: FastAPI) -> None:
    pipeline = Pipeline()
    pipeline.add_component("pdf", PyPDFToDocument())
    dumped = pipeline.dumps()
    assert "plain_mode_orientations: !!python/tuple" in dumped
    assert redeployed(client, app, "pdf", dumped) == plain(pipeline.to_dict())
    answer = client.post("/pipelines/pdf/run", json={"data": {"sources": []}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"] == {"pdf": {"documents": []}}


def test_tuples_passed_in_python_survive_dumps_and_deploy(client: TestClient, app: FastAPI) -> None:
    pipeline = Pipeline()
    names = ("greeting", "name")  # Python callers pass tuples where lists are annotated; dumps() tags them
    builder = PromptBuilder(template="{{ greeting }}, {{ name }}", required_variables=names)  # type: ignore[arg-type]
    pipeline.add_component("prompt", builder)
    dumped = pipeline.dumps()
    assert "required_variables: !!python/tuple" in dumped
    assert redeployed(client, app, "tuples", dumped) == plain(pipeline.to_dict())
    answer = client.post("/pipelines/tuples/run", json={"data": {"greeting": "Hi", "name": "Ada"}})
    assert answer.json()["result"] == {"prompt": {"prompt": "Hi, Ada"}}


def test_a_policy_rule_sees_inside_tuples(client: TestClient) -> None:
    inline_token = "{type: token, token: [secret]}"
    text = (
        "components:\n  llm:\n    type: haystack.components.generators.chat.openai.OpenAIChatGenerator\n"
        f"    init_parameters:\n      generation_kwargs: {{stop: !!python/tuple [{inline_token}]}}\n"
    )
    answer = client.put("/pipelines/sneaky", content=text, headers=YAML)
    assert answer.status_code == 422, answer.text
    assert answer.json()["rule"] == "secret-token"


# -- refusals leave everything as it was (`live`) ---------------------------------------------------------------


@pytest.mark.parametrize(
    "tag", ["!!python/object/apply:os.system ['id']", "!!python/name:os.system ''", "!!python/list [name]"]
)
def test_other_python_tags_are_refused_with_line_and_column(live: TestClient, tag: str) -> None:
    text = prompt_yaml().replace("required_variables: [name]", f"required_variables: {tag}")
    for name in ("target", "fresh"):
        answer = live.put(f"/pipelines/{name}", content=text, headers=YAML)
        assert answer.status_code == 422, answer.text
        problem = answer.json()
        assert (problem["line"], problem["column"]) == (6, 27)
        assert tag.split(" ", maxsplit=1)[0] in problem["detail"]
    assert live.get("/pipelines/fresh").status_code == 404
    body = live.post("/validate", json={"yaml": text}).json()
    assert body["valid"] is False
    assert (body["problems"][0]["line"], body["problems"][0]["column"]) == (6, 27)


def test_an_unknown_top_level_key_is_still_refused(live: TestClient) -> None:
    answer = live.put("/pipelines/target", content=prompt_yaml() + "max_loop_allowed: 5\n", headers=YAML)
    assert answer.status_code == 422
    assert "'max_loop_allowed'" in answer.json()["detail"]


# -- keys Haystack 3 ignores ----------------------------------------------------------------------------------------


def test_max_loops_allowed_deploys_with_a_warning(client: TestClient, app: FastAPI) -> None:
    text = prompt_yaml() + "max_loops_allowed: 100\n"
    answer = client.put("/pipelines/old", content=text, headers=YAML)
    assert answer.status_code == 201, answer.text
    (warning,) = answer.json()["warnings"]
    assert "'max_loops_allowed'" in warning
    assert "Haystack 3" in warning
    assert client.get("/pipelines/old", headers={"Accept": "application/yaml"}).text == text  # stored as sent
    assert client.post("/pipelines/old/run", json={"data": {"name": "Ada"}}).status_code == 200
    again = client.put("/pipelines/old", content=text, headers=YAML)
    assert (again.json()["outcome"], again.json()["warnings"]) == ("unchanged", [warning])


def test_max_loops_allowed_is_warned_by_validate(client: TestClient) -> None:
    body = client.post("/validate", json={"yaml": prompt_yaml() + "max_loops_allowed: 100\n"}).json()
    assert body["valid"] is True
    (warning,) = body["warnings"]
    assert (warning["kind"], warning["name"]) == ("ignored-key", "max_loops_allowed")
    assert "Haystack 3" in warning["message"]


def test_a_pipeline_dumped_by_haystack_2_deploys(client: TestClient) -> None:
    # Early Haystack 2 releases wrote `max_loops_allowed` where later ones write `max_runs_per_component`.
    text = Pipeline.loads(prompt_yaml()).dumps().replace("max_runs_per_component: 100", "max_loops_allowed: 100")
    answer = client.put("/pipelines/haystack2", content=text, headers=YAML)
    assert answer.status_code == 201, answer.text
    assert len(answer.json()["warnings"]) == 1
