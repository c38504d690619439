"""A run may set a builder's template only where the definition opts in (`run_time_templates`), and then only a
template that passes the same checks as a definition's own."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import REPO
from tests.yamls import prompt_yaml

YAML = {"Content-Type": "application/yaml"}
GREET = (REPO / "examples/pipelines/greet.yml").read_text()
OPTED_IN = GREET.replace("connections: []", "connections: []\nrun_time_templates: [prompt]")
HOSTILE = {
    "power-of-a-variable": "{% set e = 10000000 %}{{ 7**e }}",
    "power-folded": "{{ 7 ** 10000000 }}",
    "sandbox-escape": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "huge-range": "{% for i in range(1000000000) %}x{% endfor %}",
    "chained-repetition": "{{ 'a' * 10000 * 10000 }}",
    "printf-width": "{{ '%0999999999d' % 1 }}",
    "str-format-width": "{{ '{:999999999}'.format(1) }}",
    # Past what the syntax tree shows: refused by the worker as the template renders.
    "repetition-by-variables": "{% set n = 99999 %}{{ 'a' * n * n }}",
    "width-from-a-variable": "{% set w = 999999999 %}{{ '%0*d' % (w, 1) }}",
    "nested-format-width": "{% set w = 999999999 %}{{ '{:{w}}'.format(1, w=w) }}",
    "power-by-a-filter": "{% set e = '10000000'|int %}{{ 7 ** e }}",
}
# A definition's own template that does arithmetic on run data: what the data makes is checked as it renders.
ARITHMETIC = prompt_yaml("{{ 'ab' * count }}|{{ '%0*d' % (width, 7) }}|{{ word|center(size) }}", "count")


def test_a_run_time_template_is_refused_where_the_definition_does_not_opt_in(client: TestClient) -> None:
    assert client.put("/pipelines/greet", content=GREET, headers=YAML).status_code == 201
    answer = client.post("/pipelines/greet/run", json={"data": {"name": "Ada", "template": "Bye {{ name }}"}})
    assert answer.status_code == 422, answer.text
    assert answer.json()["rule"] == "run-time-template"
    assert "run_time_templates: [prompt]" in answer.json()["detail"]
    # The pipeline still serves its own template.
    served = client.post("/pipelines/greet/run", json={"data": {"name": "Ada"}})
    assert served.json()["result"]["prompt"]["prompt"].startswith("Hello, Ada!")


def test_an_opted_in_pipeline_renders_a_benign_run_time_template(client: TestClient) -> None:
    assert client.put("/pipelines/greet", content=OPTED_IN, headers=YAML).status_code == 201
    template = "{% for word in ['Bye', 'now'] %}{{ word }} {% endfor %}{{ name }}"
    answer = client.post("/pipelines/greet/run", json={"data": {"name": "Ada", "template": template}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["prompt"]["prompt"] == "Bye now Ada"


@pytest.mark.parametrize("template", HOSTILE.values(), ids=HOSTILE.keys())
def test_an_opted_in_pipeline_refuses_a_hostile_run_time_template(client: TestClient, template: str) -> None:
    assert client.put("/pipelines/greet", content=OPTED_IN, headers=YAML).status_code == 201
    answer = client.post("/pipelines/greet/run", json={"data": {"name": "Ada", "template": template}})
    assert answer.status_code == 422, answer.text
    assert answer.json()["rule"] in ("template-arithmetic", "template-sandbox")
    assert client.post("/pipelines/greet/run", json={"data": {"name": "Ada"}}).status_code == 200


def test_run_time_templates_must_name_components_of_the_definition(client: TestClient) -> None:
    answer = client.put("/pipelines/greet", content=GREET + "run_time_templates: [nowhere]\n", headers=YAML)
    assert answer.status_code == 422, answer.text
    assert "nowhere" in answer.json()["detail"]
    assert client.get("/pipelines/greet").status_code == 404


def test_values_from_a_run_are_held_to_the_template_limits_as_it_renders(client: TestClient) -> None:
    assert client.put("/pipelines/sums", content=ARITHMETIC, headers=YAML).status_code == 201
    fair = {"count": 2, "width": 3, "word": "x", "size": 3}
    answer = client.post("/pipelines/sums/run", json={"data": fair})
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["prompt"]["prompt"] == "abab|007| x "
    for hostile in ({"count": 10**9}, {"width": 10**9}, {"size": 10**9}):
        answer = client.post("/pipelines/sums/run", json={"data": {**fair, **hostile}})
        assert answer.status_code == 422, answer.text
        problem = answer.json()
        assert (problem["rule"], problem["component"]) == ("template-arithmetic", "prompt"), problem
        assert "refused to render" in problem["detail"]
    assert client.post("/pipelines/sums/run", json={"data": fair}).status_code == 200  # the worker serves on
