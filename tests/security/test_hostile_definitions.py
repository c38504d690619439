"""Hostile definitions: each is refused with a 4xx naming the reason, and leaves no trace.

No trace means: the hostile module was never imported (its marker file is absent), nothing connected to a local
listener standing in for an attacker's host, and the stored definition and live pipeline are exactly as before.
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from stackyard.api import create_app
from stackyard.settings import Settings
from tests.conftest import yard
from tests.yamls import PROMPT, prompt_yaml

YAML = {"Content-Type": "application/yaml"}
OPENAI = "haystack.components.generators.chat.openai.OpenAIChatGenerator"
AZURE = "haystack.components.generators.chat.azure.AzureOpenAIChatGenerator"
ADAPTER = "haystack.components.converters.output_adapter.OutputAdapter"
ROUTER = "haystack.components.routers.conditional_router.ConditionalRouter"
MOCK = "haystack.components.generators.chat.mock.MockChatGenerator"


class Listener:
    """A TCP port on loopback that counts connections: the stand-in for a host a definition must not reach."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "hostile-imported"
    monkeypatch.setenv("STACKYARD_TEST_MARKER", str(path))
    monkeypatch.setenv("STACKYARD_TEST_KEY", "sk-allowlisted-secret-value")
    monkeypatch.setenv("NOT_ALLOWLISTED_KEY", "sk-forbidden-secret-value")
    return path


@pytest.fixture
def guarded(tmp_path: Path, marker: Path) -> Iterator[TestClient]:
    settings = Settings(
        store_url=f"sqlite:///{tmp_path}/yard.db",
        extra_allowed_modules=["tests.components"],
        secret_env_allowlist=["STACKYARD_TEST_KEY"],
        allowed_hosts=["api.openai.com", "*.openai.azure.com"],
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _nest(depth: int) -> str:
    return (
        "components:\n  p:\n    type: "
        + PROMPT
        + "\n    init_parameters:\n      template: x\n      meta: "
        + ("[" * depth + "]" * depth)
        + "\n"
    )


def _component(type_: str, params: str = "{}", name: str = "c") -> str:
    return f"components:\n  {name}:\n    type: {type_}\n    init_parameters: {params}\n"


BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))
    + "components: {}\n"
)

HOSTILE = {
    "foreign-module-os": (_component("os.system"), 422, "module-allowlist"),
    "foreign-module-subprocess": (_component("subprocess.Popen"), 422, "module-allowlist"),
    "importable-module-off-allowlist": (_component("tests.hostile.Evil"), 422, "module-allowlist"),
    "builtins-eval": (_component("builtins.eval"), 422, "module-allowlist"),
    "yaml-python-apply-tag": ("components: !!python/object/apply:os.system ['id']\n", 422, "line 1"),
    "yaml-python-name-tag": ("components:\n  c: !!python/name:os.system ''\n", 422, "cannot be parsed"),
    "yaml-python-module-tag": ("components:\n  c: !!python/module:tests.hostile ''\n", 422, "cannot be parsed"),
    "alias-bomb": (BOMB, 422, "aliases"),
    "deeply-nested": (_nest(100), 422, "nested deeper"),
    "oversized": (prompt_yaml() + "#" * 1_000_001, 413, "limit"),
    "unknown-parameter-with-nested-type": (
        _component(PROMPT, "{template: x, bogus: {type: tests.hostile.Evil, init_parameters: {}}}"),
        422,
        "module-allowlist",
    ),
    "nested-document-store-type-foreign": (
        _component(
            "haystack.components.writers.document_writer.DocumentWriter",
            "{document_store: {type: os.system, init_parameters: {}}}",
        ),
        422,
        "module-allowlist",
    ),
    "secret-env-off-allowlist": (
        _component(OPENAI, "{api_key: {type: env_var, env_vars: [NOT_ALLOWLISTED_KEY], strict: true}}"),
        422,
        "secret-env-allowlist",
    ),
    "secret-env-list-with-one-off-allowlist": (
        _component(OPENAI, "{api_key: {type: env_var, env_vars: [STACKYARD_TEST_KEY, HOME], strict: false}}"),
        422,
        "secret-env-allowlist",
    ),
    "secret-with-redirected-api-base-url": (
        _component(
            OPENAI,
            "{api_key: {type: env_var, env_vars: [STACKYARD_TEST_KEY], strict: true}, "
            "api_base_url: 'http://127.0.0.1:{port}/v1'}",
        ),
        422,
        "secret-endpoint",
    ),
    "secret-with-redirected-azure-endpoint": (
        _component(
            AZURE,
            "{api_key: {type: env_var, env_vars: [STACKYARD_TEST_KEY], strict: true}, "
            "azure_endpoint: 'http://127.0.0.1:{port}'}",
        ),
        422,
        "secret-endpoint",
    ),
    "secret-with-lookalike-host": (
        _component(
            OPENAI,
            "{api_key: {type: env_var, env_vars: [STACKYARD_TEST_KEY], strict: true}, "
            "api_base_url: 'https://api.openai.com.attacker.example/v1'}",
        ),
        422,
        "secret-endpoint",
    ),
    "secret-with-userinfo-trick": (
        _component(
            OPENAI,
            "{api_key: {type: env_var, env_vars: [STACKYARD_TEST_KEY], strict: true}, "
            "api_base_url: 'https://api.openai.com@127.0.0.1:{port}/v1'}",
        ),
        422,
        "secret-endpoint",
    ),
    "inline-token-secret": (_component(OPENAI, "{api_key: {type: token, token: sk-inline}}"), 422, "secret-token"),
    "url-fetcher": (
        _component("haystack.components.fetchers.link_content.LinkContentFetcher"),
        422,
        "component-denylist",
    ),
    "openapi-connector": (
        _component("haystack.components.connectors.openapi_service.OpenAPIServiceConnector"),
        422,
        "component-denylist",
    ),
    "local-file-reader-by-metadata": (
        _component("haystack.components.converters.image.document_to_image.DocumentToImageContent"),
        422,
        "component-denylist",
    ),
    "unsafe-output-adapter": (
        _component(ADAPTER, "{template: '{{ x }}', output_type: str, unsafe: true}"),
        422,
        "unsafe",
    ),
    "unsafe-conditional-router": (
        _component(
            ROUTER,
            "{routes: [{condition: '{{ true }}', output: '{{ x }}', output_name: o, output_type: str}], unsafe: true}",
        ),
        422,
        "unsafe",
    ),
    "component-level-unsafe-flag": (
        f"components:\n  p:\n    type: {PROMPT}\n    unsafe: true\n    init_parameters: {{template: x}}\n",
        422,
        "unsafe",
    ),
    "output-adapter-custom-filter-callable": (
        _component(ADAPTER, "{template: '{{ x | f }}', output_type: str, custom_filters: {f: builtins.print}}"),
        422,
        "callables",
    ),
    "streaming-callback-callable": (
        _component(MOCK, "{streaming_callback: haystack.components.generators.utils.print_streaming_chunk}"),
        422,
        "callables",
    ),
    "mock-response-fn-callable": (_component(MOCK, "{response_fn: builtins.print}"), 422, "callables"),
    "tools-param": (_component(MOCK, "{tools: [{type: haystack.tools.tool.Tool, data: {}}]}"), 422, "callables"),
    "huge-max-runs-per-component": (
        prompt_yaml() + "max_runs_per_component: 1000000000\n",
        422,
        "max_runs_per_component",
    ),
    "non-integer-max-runs": (prompt_yaml() + "max_runs_per_component: lots\n", 422, "max_runs_per_component"),
    "too-many-components": (
        "components:\n"
        + "".join(f"  p{i}:\n    type: {PROMPT}\n    init_parameters: {{template: x}}\n" for i in range(101)),
        422,
        "max-components",
    ),
    "jinja-dunder-escape": (
        _component(PROMPT, "{template: \"{{ ''.__class__.__mro__[1].__subclasses__() }}\"}"),
        422,
        "template-sandbox",
    ),
    "jinja-attr-filter-escape": (
        _component(PROMPT, "{template: \"{{ x | attr('__globals__') }}\"}"),
        422,
        "template-sandbox",
    ),
    "jinja-cycler-globals": (
        _component(
            "haystack.components.builders.chat_prompt_builder.ChatPromptBuilder",
            "{template: \"{{ cycler.__init__.__globals__.os.popen('id').read() }}\"}",
        ),
        422,
        "template-sandbox",
    ),
    "jinja-in-router-condition": (
        _component(
            ROUTER, "{routes: [{condition: '{{ x.__class__ }}', output: '{{ x }}', output_name: o, output_type: str}]}"
        ),
        422,
        "template-sandbox",
    ),
    "jinja-power-folded-while-compiling": (
        _component(PROMPT, "{template: '{{ 7 ** 10000000 }}'}"),
        422,
        "template-arithmetic",
    ),
    "jinja-power-of-a-variable": (
        _component(PROMPT, "{template: '{% set e = 10000000 %}{{ 7 ** e }}'}"),
        422,
        "template-arithmetic",
    ),
    "jinja-tower-of-powers": (
        _component(PROMPT, "{template: '{{ ((7 ** 32) ** 32) ** 32 }}'}"),
        422,
        "template-arithmetic",
    ),
    "jinja-string-repetition": (
        _component(PROMPT, "{template: \"{{ 'a' * 100000000 }}\"}"),
        422,
        "template-arithmetic",
    ),
    "jinja-chained-repetition": (
        _component(PROMPT, "{template: \"{{ 'a' * 10000 * 10000 }}\"}"),
        422,
        "template-arithmetic",
    ),
    "jinja-printf-width": (
        _component(PROMPT, "{template: \"{{ '%0999999999d' % 1 }}\"}"),
        422,
        "template-arithmetic",
    ),
    "jinja-str-format-width": (
        _component(PROMPT, "{template: \"{{ '{:999999999}'.format(1) }}\"}"),
        422,
        "template-arithmetic",
    ),
    "jinja-format-filter-width": (
        _component(PROMPT, "{template: \"{{ '%999999999s'|format(x) }}\"}"),
        422,
        "template-arithmetic",
    ),
    "jinja-center-width": (
        _component(PROMPT, "{template: '{{ x|center(999999999) }}'}"),
        422,
        "template-arithmetic",
    ),
    "jinja-huge-range": (
        _component(PROMPT, "{template: '{% for i in range(1000000000) %}x{% endfor %}'}"),
        422,
        "template-arithmetic",
    ),
    "jinja-arithmetic-in-router-condition": (
        _component(
            ROUTER,
            "{routes: [{condition: '{{ 9 ** 9999999 > 1 }}', output: '{{ x }}', output_name: o, output_type: str}]}",
        ),
        422,
        "template-arithmetic",
    ),
    "reexport-path": (
        _component("haystack.components.builders.PromptBuilder", "{template: x}"),
        422,
        "not a Haystack component",
    ),
}


@pytest.mark.parametrize(("text", "status", "needle"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_definition_is_refused_without_side_effects(
    guarded: TestClient, listener: Listener, marker: Path, text: str, status: int, needle: str
) -> None:
    app: FastAPI = guarded.app  # type: ignore[assignment]  # TestClient keeps the ASGI app it was given
    assert guarded.put("/pipelines/target", content=prompt_yaml(), headers=YAML).status_code == 201
    live = yard(app).registry.get("target")
    generation = yard(app).store.generation()

    answer = guarded.put("/pipelines/target", content=text.replace("{port}", str(listener.port)), headers=YAML)

    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert needle in answer.json()["detail"]
    assert "sk-allowlisted-secret-value" not in answer.text
    assert "sk-forbidden-secret-value" not in answer.text
    assert not marker.exists(), "the hostile module was imported"
    assert "tests.hostile" not in sys.modules
    assert listener.connections == 0
    assert yard(app).registry.get("target") is live
    assert yard(app).store.generation() == generation
    stored = guarded.get("/pipelines/target", headers={"Accept": "application/yaml"})
    assert stored.text == prompt_yaml()
    assert guarded.post("/pipelines/target/run", json={"data": {"name": "x"}}).json()["revision"] == 1


def test_the_suite_holds_at_least_thirty_cases() -> None:
    assert len(HOSTILE) >= 30


def test_an_allowlisted_secret_to_an_allowed_host_is_accepted(guarded: TestClient) -> None:
    text = _component(
        OPENAI,
        "{api_key: {type: env_var, env_vars: [STACKYARD_TEST_KEY], strict: true}, "
        "api_base_url: 'https://api.openai.com/v1'}",
    )
    assert guarded.put("/pipelines/llm", content=text, headers=YAML).status_code == 201


def test_a_denied_component_can_be_allowed_explicitly(tmp_path: Path) -> None:
    settings = Settings(
        store_url=f"sqlite:///{tmp_path}/yard.db",
        allowed_components=["haystack.components.fetchers.link_content.LinkContentFetcher"],
    )
    with TestClient(create_app(settings)) as client:
        text = _component("haystack.components.fetchers.link_content.LinkContentFetcher")
        assert client.put("/pipelines/fetch", content=text, headers=YAML).status_code == 201


def test_the_policy_refusal_is_audited(guarded: TestClient) -> None:
    guarded.put("/pipelines/target", content=_component("os.system"), headers=YAML)
    (entry,) = guarded.get("/audit").json()["entries"]
    assert (entry["outcome"], entry["pipeline"]) == ("refused", "target")
    assert "module-allowlist" in entry["detail"]
