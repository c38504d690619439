"""A complete policy: every rule holds inside nested pipelines and components as it does at the top.

Four findings of a red-team pass, each as it was found and then by other ways around it: the caps on components and
on `max_runs_per_component` inside a SuperComponent (and an Agent's tools, and any parameter shaped like a
pipeline); callables found by their parameter's type, not its name, in nested components too; `unsafe` in any
truthy spelling; and template item keys however they are built. Every refusal is a 422 naming its rule, and leaves
the stored definition and the live pipeline exactly as they were. Legitimate definitions still deploy.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from stackyard.api import create_app
from stackyard.settings import Settings
from tests.conftest import REPO, yard
from tests.yamls import PROMPT, prompt_yaml

YAML = {"Content-Type": "application/yaml"}
SUPER = "haystack.core.super_component.super_component.SuperComponent"
AGENT = "haystack.components.agents.agent.Agent"
MOCK = "haystack.components.generators.chat.mock.MockChatGenerator"
SPLITTER = "haystack.components.preprocessors.document_splitter.DocumentSplitter"
ADAPTER = "haystack.components.converters.output_adapter.OutputAdapter"
ROUTER = "haystack.components.routers.conditional_router.ConditionalRouter"
PIPELINE_TOOL = "haystack.tools.pipeline_tool.PipelineTool"
AZURE_RESPONSES = "haystack.components.generators.chat.azure_responses.AzureOpenAIResponsesChatGenerator"
FORMATTING = "tests.components.FormattingChat"
EXAMPLES = sorted((REPO / "examples/pipelines").glob("*.yml"))


# -- definitions, written as data ---------------------------------------------------------------------------------


def spec(type_: str, **init_parameters: Any) -> dict[str, Any]:
    return {"type": type_, "init_parameters": init_parameters}


def prompt(template: str = "Hello {{ name }}") -> dict[str, Any]:
    return spec(PROMPT, template=template)


def pipeline(components: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"components": components, "connections": [], **top}


def superc(components: dict[str, Any], **top: Any) -> dict[str, Any]:
    """A SuperComponent wrapping a pipeline of `components`."""
    return spec(SUPER, pipeline=pipeline(components, **top))


def agent(chat_generator: dict[str, Any], **init_parameters: Any) -> dict[str, Any]:
    return spec(AGENT, chat_generator=chat_generator, **init_parameters)


def text(components: dict[str, Any], **top: Any) -> str:
    return yaml.safe_dump(pipeline(components, **top), sort_keys=False)


def many(count: int, prefix: str = "p") -> dict[str, Any]:
    return {f"{prefix}{index}": prompt() for index in range(count)}


def unsafe_adapter(value: Any) -> dict[str, Any]:
    return spec(ADAPTER, template="{{ x }}", output_type="str", unsafe=value)


def with_flag(component: dict[str, Any], value: Any) -> dict[str, Any]:
    return {**component, "unsafe": value}


# -- the server, and what a refusal must leave alone --------------------------------------------------------------


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACKYARD_TEST_KEY", "sk-allowlisted-secret-value")


def _client(tmp_path: Path, **settings: Any) -> TestClient:
    return TestClient(
        create_app(
            Settings(
                store_url=f"sqlite:///{tmp_path}/yard.db",
                extra_allowed_modules=["tests.components"],
                secret_env_allowlist=["STACKYARD_TEST_KEY"],
                allowed_hosts=["*.openai.azure.com"],
                **settings,
            )
        )
    )


@pytest.fixture
def guarded(tmp_path: Path, secret_env: None) -> Iterator[TestClient]:
    with _client(tmp_path) as client:
        yield client


@pytest.fixture
def trusting(tmp_path: Path) -> Iterator[TestClient]:
    """A server whose operator allows callables: every other rule still holds."""
    with _client(tmp_path, allow_callables=True) as client:
        yield client


def assert_refused(client: TestClient, definition: str, rule: str, *needles: str) -> dict[str, Any]:
    """PUT `definition` over a live pipeline: a 422 naming `rule` (and `needles`), and nothing changed."""
    app: FastAPI = client.app  # type: ignore[assignment]  # TestClient keeps the ASGI app it was given
    assert client.put("/pipelines/target", content=prompt_yaml(), headers=YAML).status_code == 201
    live = yard(app).registry.get("target")
    generation = yard(app).store.generation()

    answer = client.put("/pipelines/target", content=definition, headers=YAML)

    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = answer.json()
    assert problem["rule"] == rule, problem
    for needle in needles:
        assert needle in problem["detail"], problem
    assert yard(app).registry.get("target") is live
    assert yard(app).store.generation() == generation
    assert client.get("/pipelines/target", headers={"Accept": "application/yaml"}).text == prompt_yaml()
    assert client.post("/pipelines/target/run", json={"data": {"name": "x"}}).json()["revision"] == 1
    return problem


def assert_deploys(client: TestClient, definition: str, name: str = "legit") -> None:
    answer = client.put(f"/pipelines/{name}", content=definition, headers=YAML)
    assert answer.status_code == 201, answer.text


# -- 1. the caps hold in nested pipelines -------------------------------------------------------------------------


def test_a_super_component_cannot_lift_max_runs_past_the_cap(guarded: TestClient) -> None:
    definition = text({"super": superc({"p": prompt()}, max_runs_per_component=500)})
    assert_refused(guarded, definition, "max-runs-per-component", "'super'", "500", "init_parameters.pipeline")


def test_a_super_component_cannot_hold_components_past_the_cap(guarded: TestClient) -> None:
    definition = text({"super": superc(many(150))})
    assert_refused(guarded, definition, "max-components", "151 components", "nested")


NESTED_CAPS = {
    "max-runs-two-levels-down": (
        {"outer": superc({"inner": superc({"p": prompt()}, max_runs_per_component=500)})},
        "max-runs-per-component",
    ),
    "max-runs-zero-nested": ({"super": superc({"p": prompt()}, max_runs_per_component=0)}, "max-runs-per-component"),
    "max-runs-not-a-number-nested": (
        {"super": superc({"p": prompt()}, max_runs_per_component="lots")},
        "max-runs-per-component",
    ),
    # Found by its shape: a parameter no class declares still holds a pipeline someone could build.
    "max-runs-in-a-pipeline-shaped-parameter": (
        {"p": spec(PROMPT, template="x", extra={"components": {}, "max_runs_per_component": 500})},
        "max-runs-per-component",
    ),
    "components-split-across-levels": ({**many(60), "super": superc(many(45, "q"))}, "max-components"),
    "components-split-across-two-super-components": (
        {"a": superc(many(50)), "b": superc({"c": superc(many(50))})},
        "max-components",
    ),
}


@pytest.mark.parametrize(("components", "rule"), NESTED_CAPS.values(), ids=NESTED_CAPS.keys())
def test_the_caps_hold_however_deep_the_pipeline(guarded: TestClient, components: dict[str, Any], rule: str) -> None:
    assert_refused(guarded, text(components), rule)


def test_a_pipeline_tool_is_held_to_the_caps_even_where_callables_are_allowed(trusting: TestClient) -> None:
    tool = {
        "type": PIPELINE_TOOL,
        "data": {"pipeline": pipeline({"p": prompt()}, max_runs_per_component=500), "name": "t", "description": "d"},
    }
    definition = text({"agent": agent(spec(MOCK), tools=[tool])})
    assert_refused(trusting, definition, "max-runs-per-component", "'agent'")


def test_components_held_by_other_components_count_against_the_cap(tmp_path: Path) -> None:
    # Three agents are three components in the YAML, but six once each has built its chat generator.
    with _client(tmp_path, max_components=5) as client:
        definition = text({f"agent{index}": agent(spec(MOCK)) for index in range(3)})
        assert_refused(client, definition, "max-components", "5 components")


def test_a_super_component_within_the_caps_deploys_and_runs(tmp_path: Path) -> None:
    # Exactly at both caps: the SuperComponent and its one component; ten runs each, at both levels.
    with _client(tmp_path, max_components=2, max_runs_per_component=10) as client:
        inner = superc({"p": prompt()}, max_runs_per_component=10)
        assert_deploys(client, text({"super": inner}, max_runs_per_component=10))
        answer = client.post("/pipelines/legit/run", json={"data": {"name": "Ada"}})
        assert answer.status_code == 200, answer.text
        assert answer.json()["result"]["super"]["prompt"] == "Hello Ada"


# -- 2. callables, by their parameter's type ----------------------------------------------------------------------


def test_a_splitting_function_is_refused_by_its_type(guarded: TestClient) -> None:
    definition = text({"splitter": spec(SPLITTER, split_by="function", splitting_function="builtins.print")})
    assert_refused(guarded, definition, "callables", "'splitter'", "splitting_function", "STACKYARD_ALLOW_CALLABLES")


CALLABLES = {
    # Each is refused by Policy.pre_init, which Haystack calls for every component it builds, nested ones included:
    # the YAML-side list of parameter names holds none of these parameters.
    "splitter-inside-a-super-component": (
        {"super": superc({"s": spec(SPLITTER, split_by="function", splitting_function="builtins.print")})},
        ("'super'", "DocumentSplitter", "splitting_function"),
    ),
    "callable-typed-parameter-given-a-name": (
        {"chat": spec(FORMATTING, formatter="builtins.print")},
        ("'chat'", "FormattingChat", "formatter"),
    ),
    "an-agents-chat-generator": (
        {"agent": agent(spec(FORMATTING, formatter="builtins.print"))},
        ("'agent'", "FormattingChat", "formatter"),
    ),
    "an-agent-in-a-super-component-in-a-super-component": (
        {"outer": superc({"inner": superc({"agent": agent(spec(FORMATTING, formatter="builtins.print"))})})},
        ("'outer'", "FormattingChat", "formatter"),
    ),
    # Typed `dict[str, Any]`: the function Haystack makes of the handler is found by value.
    "a-state-schema-handler": (
        {"agent": agent(spec(MOCK), state_schema={"notes": {"type": "list", "handler": "builtins.print"}})},
        ("'agent'", "Agent", "state_schema"),
    ),
}


@pytest.mark.parametrize(("components", "needles"), CALLABLES.values(), ids=CALLABLES.keys())
def test_a_callable_is_refused_wherever_it_is_built(
    guarded: TestClient, components: dict[str, Any], needles: tuple[str, ...]
) -> None:
    assert_refused(guarded, text(components), "callables", *needles)


def test_an_operator_who_allows_callables_can_deploy_one(trusting: TestClient) -> None:
    definition = text({"splitter": spec(SPLITTER, split_by="function", splitting_function="builtins.print")})
    assert_deploys(trusting, definition)


def test_a_parameter_that_takes_a_secret_or_a_callable_still_takes_a_secret(guarded: TestClient) -> None:
    # `api_key: Secret | Callable[[], str]`: a Secret is data of a type the union allows, not code.
    generator = spec(
        AZURE_RESPONSES,
        api_key={"type": "env_var", "env_vars": ["STACKYARD_TEST_KEY"], "strict": True},
        azure_endpoint="https://example.openai.azure.com",
    )
    assert_deploys(guarded, text({"llm": generator}))


def test_an_agent_without_callables_deploys(guarded: TestClient) -> None:
    assert_deploys(guarded, text({"agent": agent(spec(FORMATTING, formatter=None))}))


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_the_examples_deploy(guarded: TestClient, path: Path) -> None:
    assert_deploys(guarded, path.read_text(), path.stem)


# -- 3. unsafe, in any truthy spelling ----------------------------------------------------------------------------


def test_unsafe_one_is_refused(guarded: TestClient) -> None:
    assert_refused(guarded, text({"adapter": unsafe_adapter(1)}), "unsafe", "'adapter'")


UNSAFE = {
    "the-string-yes": {"adapter": unsafe_adapter("yes")},
    "the-string-true": {"adapter": unsafe_adapter("true")},
    "the-string-false": {"adapter": unsafe_adapter("false")},
    "a-float": {"adapter": unsafe_adapter(0.5)},
    "a-list": {"adapter": unsafe_adapter([0])},
    "component-level-one": {"p": with_flag(prompt(), 1)},
    "component-level-string": {"p": with_flag(prompt(), "on")},
    "router-parameter": {
        "router": spec(
            ROUTER,
            routes=[{"condition": "{{ true }}", "output": "{{ x }}", "output_name": "o", "output_type": "str"}],
            unsafe="1",
        )
    },
    "inside-a-super-component": {"super": superc({"adapter": unsafe_adapter(1)})},
    "component-level-inside-a-super-component": {"super": superc({"p": with_flag(prompt(), "yes")})},
    "an-agents-chat-generator-level": {"agent": agent(with_flag(spec(MOCK), 1))},
}


@pytest.mark.parametrize("components", UNSAFE.values(), ids=UNSAFE.keys())
def test_unsafe_is_refused_in_any_truthy_spelling_at_any_level(guarded: TestClient, components: dict[str, Any]) -> None:
    assert_refused(guarded, text(components), "unsafe")


@pytest.mark.parametrize("value", [False, 0, None], ids=["false", "zero", "null"])
def test_unsafe_off_deploys(guarded: TestClient, value: Any) -> None:
    assert_deploys(guarded, text({"adapter": unsafe_adapter(value)}))


# -- 4. template item keys, however they are built ----------------------------------------------------------------


def test_a_concatenated_dunder_key_is_refused(guarded: TestClient) -> None:
    definition = text({"p": prompt("{{ x['_' ~ '_class_' ~ '_'] }}")})
    assert_refused(guarded, definition, "template-sandbox", "'p'")


TEMPLATES = {
    "run-data-after-an-underscore": "{{ x['_' ~ name] }}",
    "plus": "{{ x['_' + '_class__'] }}",
    "reversed": "{{ x['__ssalc__'|reverse] }}",
    "joined": "{{ x[['_', '_class__']|join] }}",
    "percent-formatted": "{{ x['%c_class__' % 95] }}",
    "format-method-with-fill": "{{ x['{0:_^9}'.format('class')] }}",
    "sliced-literal": "{{ x['a_'[1] ~ '_class__'] }}",
    "repeated": "{{ x['_' * 2 ~ 'class' ~ '_' * 2] }}",
    "lowered": "{{ x['__CLASS__'|lower] }}",
    "set-then-used": "{% set k = '__cl' ~ 'ass__' %}{{ x[k] }}",
    "set-block": "{% set k %}__class__{% endset %}{{ x[k] }}",
    "loop-variable": "{% for k in ['__class__'] %}{{ x[k] }}{% endfor %}",
    "macro-argument": "{% macro m(k) %}{{ x[k] }}{% endmacro %}{{ m('__class__') }}",
    "namespace": "{% set ns = namespace(k='__class__') %}{{ x[ns.k] }}",
    "map-attribute": "{{ x|map(attribute='__class__')|list }}",
    "selectattr": "{{ x|selectattr('__class__')|list }}",
    "sort-dotted-attribute": "{{ x|sort(attribute='meta.__class__') }}",
    "groupby-built-attribute": "{{ x|groupby('_' ~ 'x') }}",
    "map-to-attr": "{{ x|map('attr', '__class__')|list }}",
}


@pytest.mark.parametrize("template", TEMPLATES.values(), ids=TEMPLATES.keys())
def test_an_item_key_reaching_for_internals_is_refused_however_built(guarded: TestClient, template: str) -> None:
    assert_refused(guarded, text({"p": prompt(template)}), "template-sandbox")


def test_a_built_key_is_refused_in_a_nested_router_condition(guarded: TestClient) -> None:
    route = {
        "condition": "{{ x['_' ~ '_class_' ~ '_'] }}",
        "output": "{{ x }}",
        "output_name": "o",
        "output_type": "str",
    }
    definition = text({"super": superc({"router": spec(ROUTER, routes=[route])})})
    assert_refused(guarded, definition, "template-sandbox", "'super'")


def test_a_built_key_is_refused_in_a_run_time_template(guarded: TestClient) -> None:
    opted_in = prompt_yaml().replace("connections: []", "connections: []\nrun_time_templates: [prompt]")
    assert_deploys(guarded, opted_in, "greet")
    template = "{{ x['_' ~ '_class_' ~ '_'] }}"
    answer = guarded.post("/pipelines/greet/run", json={"data": {"name": "Ada", "template": template}})
    assert answer.status_code == 422, answer.text
    assert answer.json()["rule"] == "template-sandbox"


def test_a_variable_key_lookup_deploys_and_renders(guarded: TestClient) -> None:
    template = "{{ meta[key] }} {{ names|map(attribute='first')|join(', ') }} {{ title|replace(' ', '_') }}"
    assert_deploys(guarded, text({"p": prompt(template)}))
    data = {"meta": {"lang": "en"}, "key": "lang", "names": [{"first": "Ada"}, {"first": "Bob"}], "title": "a b"}
    answer = guarded.post("/pipelines/legit/run", json={"data": data})
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["p"]["prompt"] == "en Ada, Bob a_b"
