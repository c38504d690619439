"""Rules enforced where the harm happens, against a real server: component code sees only the allowed secrets,
connects only to allowed hosts, reads only readable folders, writes only its scratch folder and starts no program,
whichever parameter, default, nesting, proxy or redirect led it there.

Two HTTP listeners stand in for hosts: 127.0.0.2 is on the server's STACKYARD_ALLOWED_HOSTS, 127.0.0.1 is not.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.components import SIGNALS
from tests.process.server import Server, running

pytestmark = pytest.mark.process

YAML = {"Content-Type": "application/yaml"}
SERVER_KEY = "sk-servers-own-key-never-sent-4411"
ALLOWED_KEY = "sk-allowed-key-0001"
REMOTE_BODY = "INTERNAL-SERVICE-BODY-7731"
OPENAI = "haystack.components.generators.chat.openai.OpenAIChatGenerator"
AGENT = "haystack.components.agents.agent.Agent"
FETCHER = "haystack.components.fetchers.link_content.LinkContentFetcher"
ADAPTER = "haystack.components.converters.output_adapter.OutputAdapter"
TEXT_FILE = "haystack.components.converters.txt.TextFileToDocument"


class Listener(http.server.ThreadingHTTPServer):
    """An HTTP host on a loopback address that writes down every connection and request it gets, and answers each
    request with `answer` (status, headers, body)."""

    daemon_threads = True

    def __init__(self, host: str) -> None:
        super().__init__((host, 0), _Recorder)
        self.host = host
        self.port = self.server_address[1]
        self.connections = 0
        self.requests: list[dict[str, Any]] = []
        self.answer: tuple[int, dict[str, str], bytes] = (200, {"Content-Type": "text/plain"}, b"fine")
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.connections += 1
        return True

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Recorder(http.server.BaseHTTPRequestHandler):
    server: Listener

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode(errors="replace") if length else ""
        self.server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        status, headers, content = self.server.answer
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def readable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("readable")
    (folder / "notes.txt").write_text("readable notes")
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, readable: Path) -> Iterator[Server]:
    env = {
        "OPENAI_API_KEY": SERVER_KEY,
        "ALLOWED_KEY": ALLOWED_KEY,
        "STACKYARD_SECRET_ENV_ALLOWLIST": "ALLOWED_KEY",
        "STACKYARD_ALLOWED_HOSTS": "127.0.0.2",
        "STACKYARD_ALLOWED_COMPONENTS": FETCHER,
        "STACKYARD_READABLE_DIRS": str(readable),
        "STACKYARD_RUN_TIMEOUT": "20",
    }
    with running(tmp_path_factory.mktemp("server"), env=env) as started:
        yield started


@pytest.fixture
def off_list() -> Iterator[Listener]:
    listener = Listener("127.0.0.1")
    yield listener
    listener.close()


@pytest.fixture
def allowed() -> Iterator[Listener]:
    listener = Listener("127.0.0.2")
    yield listener
    listener.close()


def put(server: Server, name: str, yaml: str) -> httpx.Response:
    return httpx.put(f"{server.url}/pipelines/{name}", content=yaml, headers=YAML, timeout=60)


def run(server: Server, name: str, data: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.url}/pipelines/{name}/run", json={"data": data}, timeout=60)


def attempt(server: Server, action: str, target: str = "") -> str:
    answer = run(server, "attempt", {"action": action, "target": target})
    assert answer.status_code == 200, answer.text
    outcome: str = answer.json()["result"]["attempt"]["outcome"]
    return outcome


@pytest.fixture(scope="module", autouse=True)
def attempt_pipeline(server: Server) -> None:
    text = "components:\n  attempt:\n    type: tests.components.Attempt\n    init_parameters: {}\n"
    assert put(server, "attempt", text).status_code in (200, 201)


def generator(params: dict[str, Any]) -> str:
    return f"components:\n  llm:\n    type: {OPENAI}\n    init_parameters: {json.dumps(params)}\n"


# -- secrets by environment ---------------------------------------------------------------------------------------


def test_component_code_sees_the_allowed_secret_and_the_basics_and_nothing_else(server: Server) -> None:
    names = attempt(server, "env").removeprefix("done: ").split(",")
    assert "ALLOWED_KEY" in names
    assert "PATH" in names
    assert "OPENAI_API_KEY" not in names
    assert [name for name in names if name.startswith("STACKYARD_")] == ["STACKYARD_TEST_SIGNALS"]
    # The environment the process started with stays out of reach too.
    for path in ("/proc/self/environ", "/proc/1/environ"):
        assert attempt(server, "read", path).startswith("refused: Refused"), path


def test_a_generator_left_without_api_key_cannot_use_the_servers_own_key(server: Server, off_list: Listener) -> None:
    # Haystack's default reads OPENAI_API_KEY, which the server holds but has not allowed.
    plain = generator({"api_base_url": off_list.url("/v1"), "max_retries": 0})
    nested = (
        f"components:\n  agent:\n    type: {AGENT}\n    init_parameters:\n      chat_generator:\n"
        f"        type: {OPENAI}\n        init_parameters: {json.dumps({'api_base_url': off_list.url('/v1')})}\n"
    )
    for name, text in (("default-key", plain), ("nested-default-key", nested)):
        answer = put(server, name, text)
        assert answer.status_code == 422, answer.text
        assert "OPENAI_API_KEY" in answer.json()["detail"]
        assert SERVER_KEY not in answer.text
        assert httpx.get(f"{server.url}/pipelines/{name}").status_code == 404
    assert off_list.connections == 0


# -- egress by connection ---------------------------------------------------------------------------------------


def test_an_allowed_key_reaches_no_host_off_the_list_through_a_proxy(
    server: Server, off_list: Listener, allowed: Listener
) -> None:
    params = {
        "api_key": {"type": "env_var", "env_vars": ["ALLOWED_KEY"], "strict": True},
        "api_base_url": allowed.url("/v1"),  # on the list: the definition policy lets it through
        "http_client_kwargs": {"proxy": off_list.url()},  # the connection would go here instead
        "max_retries": 0,
    }
    assert put(server, "proxied", generator(params)).status_code == 201
    answer = run(server, "proxied", {"messages": ["hello"]})
    assert answer.status_code == 500, answer.text
    problem = answer.json()
    assert problem["type"].endswith("/run-contained")
    assert (problem["rule"], problem["component"]) == ("egress", "llm")
    assert "127.0.0.1" in problem["detail"]
    assert (off_list.connections, allowed.connections) == (0, 0)


def test_a_redirect_or_a_literal_address_reaches_no_host_off_the_list(
    server: Server, off_list: Listener, allowed: Listener
) -> None:
    allowed.answer = (302, {"Location": off_list.url("/stolen")}, b"")
    fetch = f"components:\n  fetch:\n    type: {FETCHER}\n    init_parameters: {{retry_attempts: 0}}\n"
    assert put(server, "fetch", fetch).status_code == 201
    redirected = run(server, "fetch", {"urls": [allowed.url("/hop")]})
    assert redirected.status_code == 500, redirected.text
    assert redirected.json()["rule"] == "egress"
    assert [request["path"] for request in allowed.requests] == ["/hop"]
    # 2130706433 is 127.0.0.1 written as one number: refused by name, before it is resolved.
    for url in (f"http://2130706433:{off_list.port}/", f"http://[::ffff:127.0.0.1]:{off_list.port}/"):
        literal = run(server, "fetch", {"urls": [url]})
        assert literal.status_code == 500, literal.text
        assert literal.json()["rule"] == "egress"
    assert attempt(server, "connect", f"127.0.0.1:{off_list.port}").startswith("refused: Refused")
    assert off_list.connections == 0
    assert attempt(server, "connect", f"127.0.0.2:{allowed.port}") == f"done: 127.0.0.2:{allowed.port}"


def test_a_remote_error_body_never_reaches_the_caller(server: Server, allowed: Listener) -> None:
    allowed.answer = (
        400,
        {"Content-Type": "application/json"},
        json.dumps({"error": {"message": REMOTE_BODY}}).encode(),
    )
    params = {
        "api_key": {"type": "env_var", "env_vars": ["ALLOWED_KEY"], "strict": True},
        "api_base_url": allowed.url("/v1"),
        "max_retries": 0,
    }
    assert put(server, "remote-error", generator(params)).status_code == 201
    answer = run(server, "remote-error", {"messages": ["hello"]})
    assert answer.status_code == 500, answer.text
    assert answer.json()["type"].endswith("/run-failed")
    assert "BadRequestError" in answer.json()["detail"]
    assert REMOTE_BODY not in answer.text
    assert len(allowed.requests) == 1  # the allowed host was reached, with the allowed key
    headers = {name.lower(): value for name, value in allowed.requests[0]["headers"].items()}
    assert headers["authorization"] == f"Bearer {ALLOWED_KEY}"


# -- files by opening -------------------------------------------------------------------------------------------


def test_a_path_made_inside_the_pipeline_opens_only_readable_files(server: Server, readable: Path) -> None:
    # The run input is a plain string; an adapter makes it a list of sources for a converter that opens files.
    adapter = "{template: '{{ [path] }}', output_type: 'list[str]'}"
    text = (
        f"components:\n"
        f"  paths:\n    type: {ADAPTER}\n    init_parameters: {adapter}\n"
        f"  convert:\n    type: {TEXT_FILE}\n    init_parameters: {{}}\n"
        "connections:\n  - sender: paths.output\n    receiver: convert.sources\n"
    )
    deployed = put(server, "files", text)
    assert deployed.status_code == 201, deployed.text
    for path in ("/etc/passwd", "/proc/self/environ", f"{readable}/../../../etc/passwd"):
        answer = run(server, "files", {"path": path})
        assert answer.status_code in (200, 500), answer.text
        assert "root:" not in answer.text
        assert SERVER_KEY not in answer.text
        if answer.status_code == 200:
            assert answer.json()["result"]["convert"]["documents"] == []
    served = run(server, "files", {"path": str(readable / "notes.txt")})
    assert served.status_code == 200, served.text
    assert served.json()["result"]["convert"]["documents"][0]["content"] == "readable notes"


def test_component_code_writes_only_in_its_scratch_folder(server: Server, tmp_path: Path) -> None:
    outside = tmp_path / "written-by-a-component"
    assert attempt(server, "write", str(outside)).startswith("refused: Refused")
    assert not outside.exists()
    # Its temporary files go to a scratch folder of its own, which it may read back.
    scratch_file = attempt(server, "temp").removeprefix("done: ")
    assert "stackyard-scratch-" in scratch_file
    assert attempt(server, "read", scratch_file) == "done: scratch"
    # An operator's writable folder (here, the test components' signals) is writable.
    assert attempt(server, "write", str(SIGNALS / "containment-write")).startswith("done:")


def test_component_code_reads_no_file_outside_the_readable_folders(server: Server, readable: Path) -> None:
    assert attempt(server, "read", "/etc/hostname").startswith("refused: Refused")
    assert attempt(server, "read", str(readable / "notes.txt")) == "done: readable notes"


def test_component_code_starts_no_program(server: Server) -> None:
    assert attempt(server, "program", "/bin/true").startswith("refused: Refused")
