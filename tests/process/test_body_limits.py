"""A chunked body over the limit, sent to a real server with a pause: refused while it is read, and nothing changes."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.process.server import Server, running
from tests.waiting import wait_until
from tests.yamls import prompt_yaml

pytestmark = pytest.mark.process

LIMIT = 2000


def _valid_yaml_then_more() -> Iterator[bytes]:
    # The first chunk alone is a complete, valid definition under the limit; the rest (a YAML comment) passes it.
    first = prompt_yaml().encode() + b"# " + b"x" * (LIMIT - 400) + b"\n"
    assert len(first) < LIMIT
    yield first
    time.sleep(0.3)  # a slow client: the server has surely read the first chunk before the rest arrives
    yield b"# " + b"y" * LIMIT + b"\n"


@pytest.mark.parametrize(
    ("content_type", "path"),
    [("application/yaml", "/pipelines/sneaky"), ("application/json", "/pipelines/sneaky/run")],
)
def test_a_chunked_body_over_the_limit_is_413_and_changes_nothing(tmp_path: Path, content_type: str, path: str) -> None:
    with running(tmp_path, env={"STACKYARD_MAX_BODY_BYTES": str(LIMIT)}) as server, server.client() as client:
        answer = client.request(
            "PUT" if path == "/pipelines/sneaky" else "POST",
            path,
            content=_valid_yaml_then_more(),
            headers={"Content-Type": content_type},
        )
        assert "content-length" not in answer.request.headers  # sent chunked
        assert (answer.status_code, answer.json()["type"]) == (413, "https://stackyard.dev/problems/body-too-large")
        assert client.get("/pipelines/sneaky").status_code == 404
        assert client.get("/audit").json()["entries"] == []
        # The server goes on serving.
        created = client.put("/pipelines/ok", content=prompt_yaml(), headers={"Content-Type": "application/yaml"})
        assert created.status_code == 201


SMALL = 1000
UPLOAD = 50_000
CONTENT_TYPES = ["application/json", "multipart/form-data; boundary=x", "text/plain", "application/yaml", None]


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {
        "STACKYARD_MAX_BODY_BYTES": str(SMALL),
        "STACKYARD_MAX_UPLOAD_BYTES": str(UPLOAD),
        "STACKYARD_BODY_READ_TIMEOUT": "1",
        "STACKYARD_LOG_LEVEL": "INFO",
    }
    with running(tmp_path_factory.mktemp("limits"), env=env) as server:
        yield server


def _chunks(data: bytes) -> Iterator[bytes]:
    yield data[: len(data) // 2]
    yield data[len(data) // 2 :]


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("path", ["/pipelines/any/run", "/pipelines/any", "/validate"])
def test_the_body_limit_of_a_route_holds_whatever_the_content_type(
    limited: Server, content_type: str | None, chunked: bool, path: str
) -> None:
    body = b"x" * (5 * SMALL)  # over the route's limit, far under the upload limit a multipart label once got
    headers = {"Content-Type": content_type} if content_type else {}
    with limited.client() as client:
        method = "PUT" if path == "/pipelines/any" else "POST"
        answer = client.request(method, path, content=_chunks(body) if chunked else body, headers=headers)
        assert answer.status_code == 413, answer.text
        assert answer.json()["limit"] == SMALL


@pytest.mark.parametrize("content_type", CONTENT_TYPES)
def test_upload_routes_take_the_upload_limit_whatever_the_content_type(
    limited: Server, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    with limited.client() as client:
        within = client.post("/pipelines/any/files", content=b"x" * (5 * SMALL), headers=headers)
        assert within.status_code != 413, within.text  # refused for what it is, not for its size
        over = client.post("/pipelines/any/files", content=b"x" * (2 * UPLOAD), headers=headers)
        assert over.status_code == 413
        assert over.json()["limit"] == UPLOAD


# A run request announcing 100 bytes of body; the tests send only the first few.
HEAD = b"POST /pipelines/any/run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"


def _raw(server: Server, request: bytes) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(request)
    return sock


def test_a_stalled_body_is_dropped_with_408_without_an_error_log(limited: Server) -> None:
    head = HEAD + b'{"data"'
    started = time.monotonic()
    with _raw(limited, head) as sock:
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        body = answer.read().decode()
    assert answer.status == 408, body
    assert "body-timeout" in body
    assert 1 <= time.monotonic() - started < 10
    log = limited.log.read_text()
    assert "Traceback" not in log
    assert "ERROR" not in log


def test_a_client_that_leaves_mid_body_is_not_a_server_error(limited: Server) -> None:
    head = HEAD + b'{"da'
    marker = f"leaving-{time.monotonic_ns()}"
    with _raw(limited, head.replace(b"Host: x", f"Host: x\r\nX-Request-Id: {marker}".encode())):
        pass  # closed at once, the body a few bytes short
    wait_until(lambda: marker in limited.log.read_text(), "the request was logged")
    line = next(line for line in limited.log.read_text().splitlines() if marker in line)
    assert "499" in line, line
    log = limited.log.read_text()
    assert "Traceback" not in log
    assert "ERROR" not in log
