"""Uploading files into an indexing pipeline: text, Markdown and PDF reach the index, and a query finds them."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from stackyard.api import create_app
from stackyard.settings import Settings
from tests.documents import INDEXING, QUERY, on_index, pdf_with_text

YAML = {"Content-Type": "application/yaml"}


def deploy(client: TestClient, index: str) -> None:
    for name, yaml in (("indexing", INDEXING), ("query", QUERY)):
        answer = client.put(f"/pipelines/{name}", content=on_index(yaml, index), headers=YAML)
        assert answer.status_code == 201, answer.text


@pytest.fixture
def yard(client: TestClient, request: pytest.FixtureRequest) -> TestClient:
    deploy(client, f"files-{request.node.name}")
    return client


def test_text_markdown_and_pdf_are_indexed_per_file_and_the_query_pipeline_finds_them(yard: TestClient) -> None:
    files = [
        ("files", ("notes.txt", b"Bales of hay are stacked in the yard.", "text/plain")),
        ("files", ("guide.md", b"# Guide\n\nThe **rick** is a tall stack of straw.", "application/octet-stream")),
        ("files", ("paper.pdf", pdf_with_text("Thatch keeps the haystack dry"), "application/pdf")),
    ]
    answer = yard.post("/pipelines/indexing/files", files=files)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["input"] == "files"
    assert body["revision"] == 1
    assert [(f["file_name"], f["content_type"], f["documents_written"]) for f in body["files"]] == [
        ("notes.txt", "text/plain", 1),
        ("guide.md", "text/markdown", 1),
        ("paper.pdf", "application/pdf", 1),
    ]
    assert body["documents_written"] == 3
    assert body["warnings"] == []  # one process
    for query, expected in (("stacked hay", "notes.txt"), ("rick straw", "guide.md"), ("thatch dry", "paper.pdf")):
        run = yard.post("/pipelines/query/run", json={"data": {"query": query}})
        assert run.status_code == 200, run.text
        top = run.json()["result"]["documents"][0]
        assert top["meta"]["file_name"] == expected
    pdf = yard.post("/pipelines/query/run", json={"data": {"query": "thatch"}}).json()["result"]["documents"][0]
    assert "Thatch keeps the haystack dry" in pdf["content"]
    assert pdf["meta"]["content_type"] == "application/pdf"


def test_meta_is_given_per_file_or_once_for_all_and_params_reach_the_run(yard: TestClient) -> None:
    files = [("files", ("a.txt", b"alpha hay", "text/plain")), ("files", ("b.txt", b"beta hay", "text/plain"))]
    per_file = yard.post("/pipelines/indexing/files", files=files, data={"meta": '[{"team": "red"}, {"team": "blue"}]'})
    assert per_file.status_code == 200, per_file.text
    found = yard.post("/pipelines/indexing/documents/search", json={}).json()["documents"]
    assert sorted((d["meta"]["file_name"], d["meta"]["team"]) for d in found) == [("a.txt", "red"), ("b.txt", "blue")]

    green = {"meta": '{"team": "green"}'}
    for_all = yard.post(
        "/pipelines/indexing/files", files=[("files", ("c.txt", b"gamma hay", "text/plain"))], data=green
    )
    assert for_all.json()["documents_written"] == 1
    # The same file again, with a run parameter for the writer: skip documents that exist already.
    again = yard.post(
        "/pipelines/indexing/files",
        files=[("files", ("c.txt", b"gamma hay", "text/plain"))],
        data={**green, "params": '{"writer": {"policy": "skip"}}'},
    )
    assert again.status_code == 200, again.text
    assert again.json()["documents_written"] == 0
    filters = {"field": "meta.team", "operator": "==", "value": "green"}
    assert yard.post("/pipelines/indexing/documents/count", json={"filters": filters}).json()["count"] == 1


@pytest.mark.parametrize(
    ("data", "status", "fragment"),
    [
        ({"meta": "[{}, {}]"}, 422, "2 entries for 1 files"),
        ({"meta": "{not json"}, 422, "not valid JSON"),
        ({"params": "[1]"}, 422, "JSON object"),
        ({"params": "[]"}, 422, "JSON object"),
        ({"params": '{"nowhere": 1}'}, 422, "no input named 'nowhere'"),
    ],
)
def test_bad_meta_or_params_are_refused_with_the_reason(
    yard: TestClient, data: dict[str, str], status: int, fragment: str
) -> None:
    answer = yard.post("/pipelines/indexing/files", files=[("files", ("a.txt", b"hay", "text/plain"))], data=data)
    assert answer.status_code == status, answer.text
    assert fragment in answer.json()["detail"]


def test_a_type_the_pipeline_does_not_convert_is_refused_with_415_before_anything_is_written(yard: TestClient) -> None:
    files = [
        ("files", ("ok.txt", b"fine hay", "text/plain")),
        ("files", ("photo.png", b"\x89PNG\r\n", "image/png")),
    ]
    answer = yard.post("/pipelines/indexing/files", files=files)
    assert answer.status_code == 415, answer.text
    problem = answer.json()
    assert problem["file_name"] == "photo.png"
    assert problem["accepted"] == ["text/plain", "text/markdown", "application/pdf"]
    assert yard.post("/pipelines/indexing/documents/count", json={}).json()["count"] == 0


def test_uploading_to_a_pipeline_without_a_file_input_or_without_files_is_refused(yard: TestClient) -> None:
    no_input = yard.post("/pipelines/query/files", files=[("files", ("a.txt", b"hay", "text/plain"))])
    assert no_input.status_code == 422
    assert no_input.json()["type"].endswith("/no-file-input")
    assert yard.post("/pipelines/indexing/files", data={"meta": "{}"}).status_code in (400, 415)
    assert yard.post("/pipelines/indexing/files", json={"files": []}).status_code == 415
    assert yard.post("/pipelines/nothing/files", files=[("files", ("a.txt", b"x", "text/plain"))]).status_code == 404


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(store_url=f"sqlite:///{tmp_path}/yard.db", max_file_bytes=2_000_000, max_upload_bytes=5_000_000)
    with TestClient(create_app(settings)) as client:
        deploy(client, "files-limited")
        yield client


def test_a_file_over_the_per_file_limit_gets_413_and_so_does_a_request_over_the_upload_limit(
    limited: TestClient,
) -> None:
    big = b"hay " * 600_000  # 2.4 MB
    one = limited.post("/pipelines/indexing/files", files=[("files", ("big.txt", big, "text/plain"))])
    assert one.status_code == 413, one.text
    assert one.json()["type"].endswith("/file-too-large")
    assert "big.txt" in one.json()["detail"]
    parts = [("files", (f"{n}.txt", b"hay " * 400_000, "text/plain")) for n in range(4)]  # 4 x 1.6 MB
    whole = limited.post("/pipelines/indexing/files", files=parts)
    assert whole.status_code == 413
    assert whole.json()["type"].endswith("/body-too-large")
    assert limited.post("/pipelines/indexing/documents/count", json={}).json()["count"] == 0


def _open_files_under(folder: Path) -> list[str]:
    links = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            links.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    return [link for link in links if link.startswith(str(folder))]


def test_spooled_upload_files_are_closed_and_nothing_is_left_in_the_temporary_folder(
    limited: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    parts = [("files", (f"{n}.txt", b"hay " * 300_000, "text/plain")) for n in range(2)]  # over the 1 MB spool size
    answer = limited.post("/pipelines/indexing/files", files=parts)
    assert answer.status_code == 200, answer.text
    refused = limited.post("/pipelines/indexing/files", files=[("files", ("big.txt", b"x" * 2_100_000, "text/plain"))])
    assert refused.status_code == 413
    assert list(spool.iterdir()) == []
    assert _open_files_under(spool) == []
