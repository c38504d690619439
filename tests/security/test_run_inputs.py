"""Run inputs cannot read the server's files: file-source sockets take uploaded bytes, not paths."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from stackyard.api import create_app
from stackyard.settings import Settings
from tests.conftest import REPO

YAML = {"Content-Type": "application/yaml"}
INDEXING = (REPO / "examples/pipelines/indexing.yml").read_text().replace("index: docs", "index: test-run-inputs")


@pytest.fixture
def readable(tmp_path: Path) -> Path:
    folder = tmp_path / "readable"
    folder.mkdir()
    (folder / "ok.txt").write_text("allowed hay")
    return folder


@pytest.fixture
def indexing(tmp_path: Path, readable: Path) -> Iterator[TestClient]:
    settings = Settings(store_url=f"sqlite:///{tmp_path}/yard.db", readable_dirs=[readable])
    with TestClient(create_app(settings)) as client:
        assert client.put("/pipelines/indexing", content=INDEXING, headers=YAML).status_code == 201
        yield client


@pytest.mark.parametrize(
    "path",
    ["/etc/passwd", "/etc/hostname", "relative.txt", "{readable}/../outside.txt", "file:///etc/passwd"],
)
def test_a_local_path_as_run_input_is_refused(indexing: TestClient, readable: Path, path: str) -> None:
    answer = indexing.post("/pipelines/indexing/run", json={"data": {"files": [path.format(readable=readable)]}})
    assert answer.status_code == 422, answer.text
    assert answer.json()["rule"] == "local-paths"


def test_a_path_inside_a_readable_directory_is_allowed(indexing: TestClient, readable: Path) -> None:
    answer = indexing.post("/pipelines/indexing/run", json={"data": {"files": [str(readable / "ok.txt")]}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["written"] == 1


def test_uploaded_bytes_are_accepted(indexing: TestClient) -> None:
    stream = {"data": base64.b64encode(b"uploaded hay").decode(), "mime_type": "text/plain"}
    answer = indexing.post("/pipelines/indexing/run", json={"data": {"files": [stream]}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["written"] == 1
