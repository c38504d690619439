"""Request ids and the access log: one line per request, with its fields, never with run inputs or outputs."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from stackyard.observability.logs import log_handler
from tests.yamls import prompt_yaml

YAML = {"Content-Type": "application/yaml"}
SECRET = "Tell-no-one-7f3a9"


@pytest.fixture
def logged(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """The server's log lines at its default levels (INFO, Haystack at WARNING), in the format asked for."""
    buffer = io.StringIO()
    handler = log_handler(getattr(request, "param", "text"), buffer)
    root, haystack = logging.getLogger(), logging.getLogger("haystack")
    saved = (root.level, haystack.level)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    haystack.setLevel(logging.WARNING)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        haystack.setLevel(saved[1])


def server_lines(buffer: io.StringIO) -> list[str]:
    """What the server logged since the last call; the test client's lines (httpx logs URLs) are not the server's."""
    lines = [line for line in buffer.getvalue().splitlines() if "httpx" not in line]
    buffer.seek(0)
    buffer.truncate()
    return lines


def test_a_request_id_sent_by_the_caller_comes_back(client: TestClient) -> None:
    answer = client.get("/healthz", headers={"X-Request-ID": "trace-42.a"})
    assert answer.headers["X-Request-ID"] == "trace-42.a"


def test_a_request_without_an_id_gets_a_new_one_each_time(client: TestClient) -> None:
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{12}-[0-9a-f]+", first)
    assert first != second


@pytest.mark.parametrize("unfit", ["x" * 129, "has space", "semi;colon", "nl\tx"])
def test_an_unfit_request_id_is_replaced(client: TestClient, unfit: str) -> None:
    answer = client.get("/healthz", headers={"X-Request-ID": unfit})
    assert re.fullmatch(r"[0-9a-f]{12}-[0-9a-f]+", answer.headers["X-Request-ID"])


@pytest.mark.parametrize("logged", ["json"], indirect=True)
def test_a_run_logs_one_json_line_with_its_fields_and_no_input_text(client: TestClient, logged: io.StringIO) -> None:
    client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    server_lines(logged)
    answer = client.post(
        "/pipelines/greet/run?debug=" + SECRET, json={"data": {"name": SECRET}}, headers={"X-Request-ID": "r-1"}
    )
    assert SECRET in answer.text  # the output carries the input; the log must not

    lines = [json.loads(line) for line in server_lines(logged)]
    assert not [line for line in lines if SECRET in json.dumps(line)]
    access = [line for line in lines if line["logger"] == "stackyard.access"]
    assert len(access) == 1
    assert access[0]["method"] == "POST"
    assert access[0]["path"] == "/pipelines/greet/run"
    assert access[0]["status"] == 200
    assert access[0]["pipeline"] == "greet"
    assert access[0]["revision"] == 1
    assert access[0]["request_id"] == "r-1"
    assert access[0]["duration_ms"] >= 0


def test_a_failed_run_logs_no_input_text_either(client: TestClient, logged: io.StringIO) -> None:
    client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    client.post("/pipelines/greet/run", json={"data": {"wrong": SECRET}})
    client.post("/pipelines/greet/run", json={"data": {"name": {"not": SECRET}}})

    lines = server_lines(logged)
    assert not [line for line in lines if SECRET in line]
    assert sum("stackyard.access request" in line for line in lines) == 3


def test_a_management_call_logs_the_revision_it_made(client: TestClient, logged: io.StringIO) -> None:
    client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    client.put("/pipelines/greet", content=prompt_yaml("Hi {{ name }}"), headers=YAML)

    lines = [line for line in server_lines(logged) if "stackyard.access" in line]
    assert [re.search(r"status=(\d+).* revision=(\d+)", line).groups() for line in lines] == [  # type: ignore[union-attr]
        ("201", "1"),
        ("200", "2"),
    ]
