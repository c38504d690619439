"""The document routes of a pipeline's store, feedback per revision, and the scopes they need."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from stackyard.api import create_app
from stackyard.settings import Settings
from stackyard.tokens import create_token
from tests.documents import INDEXING, QUERY, on_index

YAML = {"Content-Type": "application/yaml"}
TWO_STORES = """components:
  first:
    type: haystack.components.retrievers.in_memory.bm25_retriever.InMemoryBM25Retriever
    init_parameters:
      document_store:
        type: haystack.document_stores.in_memory.document_store.InMemoryDocumentStore
        init_parameters: {index: docs-first}
  second:
    type: haystack.components.retrievers.in_memory.bm25_retriever.InMemoryBM25Retriever
    init_parameters:
      document_store:
        type: haystack.document_stores.in_memory.document_store.InMemoryDocumentStore
        init_parameters: {index: docs-second}
connections: []
"""


def upload(client: TestClient, *names: str, headers: dict[str, str] | None = None) -> None:
    files = [("files", (name, f"{name} hay".encode(), "text/plain")) for name in names]
    answer = client.post("/pipelines/indexing/files", files=files, headers=headers)
    assert answer.status_code == 200, answer.text


@pytest.fixture
def yard(client: TestClient, request: pytest.FixtureRequest) -> TestClient:
    for name, yaml in (("indexing", INDEXING), ("query", QUERY)):
        assert client.put(f"/pipelines/{name}", content=on_index(yaml, request.node.name), headers=YAML).is_success
    return client


def test_search_pages_through_documents_by_filters_and_count_agrees(yard: TestClient) -> None:
    upload(yard, *(f"{n}.txt" for n in range(5)))
    first = yard.post("/pipelines/query/documents/search", json={"limit": 2}).json()
    second = yard.post("/pipelines/query/documents/search", json={"limit": 2, "offset": 2}).json()
    assert (first["total"], first["component"], first["revision"]) == (5, "retriever", 1)
    assert len(first["documents"]) == len(second["documents"]) == 2
    assert {d["id"] for d in first["documents"]}.isdisjoint(d["id"] for d in second["documents"])
    assert "embedding" not in first["documents"][0]
    one = {"field": "meta.file_name", "operator": "in", "value": ["1.txt", "3.txt"]}
    found = yard.post("/pipelines/query/documents/search", json={"filters": one}).json()
    assert sorted(d["meta"]["file_name"] for d in found["documents"]) == ["1.txt", "3.txt"]
    assert yard.post("/pipelines/query/documents/count", json={"filters": one}).json()["count"] == 2
    assert yard.post("/pipelines/indexing/documents/count", json={}).json()["count"] == 5


def test_delete_by_filters_removes_only_matching_documents_and_needs_filters_or_all(yard: TestClient) -> None:
    upload(yard, "keep.txt", "drop.txt")
    drop = {"field": "meta.file_name", "operator": "==", "value": "drop.txt"}
    assert yard.post("/pipelines/query/documents/delete", json={}).status_code == 400
    deleted = yard.post("/pipelines/query/documents/delete", json={"filters": drop})
    assert deleted.json()["deleted"] == 1
    assert yard.post("/pipelines/query/documents/count", json={}).json()["count"] == 1
    assert yard.post("/pipelines/query/documents/delete", json={"all": True}).json()["deleted"] == 1


def test_bad_filters_and_missing_pipelines_get_clear_problems(yard: TestClient) -> None:
    upload(yard, "a.txt")
    bad = yard.post(
        "/pipelines/query/documents/search", json={"filters": {"field": "meta.x", "operator": "??", "value": 1}}
    )
    assert bad.status_code == 422
    assert bad.json()["type"].endswith("/invalid-filters")
    assert yard.post("/pipelines/nothing/documents/count", json={}).status_code == 404


def test_a_pipeline_with_several_stores_needs_the_component_named(yard: TestClient) -> None:
    assert yard.put("/pipelines/two", content=TWO_STORES, headers=YAML).status_code == 201
    ambiguous = yard.post("/pipelines/two/documents/count", json={})
    assert ambiguous.status_code == 422
    assert ambiguous.json()["components"] == ["first", "second"]
    named = yard.post("/pipelines/two/documents/count", json={"component": "second"})
    assert named.json() == {"pipeline": "two", "revision": 1, "component": "second", "count": 0}
    unknown = yard.post("/pipelines/two/documents/count", json={"component": "third"})
    assert unknown.status_code == 422
    assert unknown.json()["type"].endswith("/no-document-store")


def test_feedback_round_trip_and_summary_per_revision(yard: TestClient) -> None:
    verdict = {"query": "who stacks hay?", "answer": "the farmer", "is_correct": True, "meta": {"user": "u1"}}
    created = yard.post("/pipelines/query/feedback", json=verdict)
    assert created.status_code == 201, created.text
    assert created.json()["revision"] == 1
    yard.post("/pipelines/query/feedback", json={**verdict, "is_correct": False, "comment": "no"})
    # A new revision of the query pipeline; its answers are judged separately.
    changed = on_index(QUERY, "elsewhere").replace("top_k: 3", "top_k: 4")
    assert yard.put("/pipelines/query", content=changed, headers=YAML).json()["revision"] == 2
    yard.post("/pipelines/query/feedback", json={"query": "q", "document_id": "d1", "is_correct": True})
    old = yard.post("/pipelines/query/feedback", json={**verdict, "revision": 1, "is_correct": True})
    assert old.json()["revision"] == 1

    listed = yard.get("/pipelines/query/feedback").json()["feedback"]
    assert [item["revision"] for item in listed] == [1, 2, 1, 1]
    assert listed[-1]["meta"] == {"user": "u1"}
    assert listed[-1]["actor"] == "anonymous"
    summary = yard.get("/pipelines/query/feedback/summary").json()["revisions"]
    assert summary == [
        {"revision": 1, "total": 3, "correct": 2, "incorrect": 1, "accuracy": 0.6667},
        {"revision": 2, "total": 1, "correct": 1, "incorrect": 0, "accuracy": 1.0},
    ]
    assert yard.delete(f"/pipelines/query/feedback/{listed[0]['id']}").status_code == 204
    assert yard.delete(f"/pipelines/query/feedback/{listed[0]['id']}").status_code == 404
    assert yard.delete("/pipelines/query/feedback").json() == {"deleted": 3}
    assert yard.get("/pipelines/query/feedback/summary").json()["revisions"] == []


def test_feedback_must_judge_something_and_name_an_existing_pipeline(yard: TestClient) -> None:
    assert yard.post("/pipelines/query/feedback", json={"query": "q", "is_correct": True}).status_code == 422
    missing = yard.post("/pipelines/nothing/feedback", json={"query": "q", "answer": "a", "is_correct": True})
    assert missing.status_code == 404


def test_feedback_survives_a_restart(tmp_path: Path) -> None:
    settings = Settings(store_url=f"sqlite:///{tmp_path}/yard.db")
    with TestClient(create_app(settings)) as client:
        assert client.put("/pipelines/query", content=on_index(QUERY, "restart"), headers=YAML).is_success
        client.post("/pipelines/query/feedback", json={"query": "q", "answer": "a", "is_correct": True})
    with TestClient(create_app(settings)) as client:
        assert len(client.get("/pipelines/query/feedback").json()["feedback"]) == 1


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    tokens = {name: create_token(name, scopes) for name, scopes in (("admin", "admin"), ("app", "run,read"))}
    settings = Settings(store_url=f"sqlite:///{tmp_path}/yard.db", tokens=[line for _, line in tokens.values()])
    headers = {name: {"Authorization": f"Bearer {token}"} for name, (token, _) in tokens.items()}
    with TestClient(create_app(settings)) as client:
        for name, yaml in (("indexing", INDEXING), ("query", QUERY)):
            put = client.put(
                f"/pipelines/{name}", content=on_index(yaml, "secured"), headers={**YAML, **headers["admin"]}
            )
            assert put.status_code == 201
        yield client, headers


def test_run_scope_uploads_searches_and_gives_feedback_but_only_admin_reads_it_and_deletes(
    secured: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, headers = secured
    app = headers["app"]
    assert (
        client.post("/pipelines/indexing/files", files=[("files", ("a.txt", b"hay", "text/plain"))]).status_code == 401
    )
    upload(client, "a.txt", headers=app)
    assert client.post("/pipelines/query/documents/search", json={}, headers=app).status_code == 200
    assert client.post("/pipelines/query/documents/count", json={}, headers=app).status_code == 200
    verdict = {"query": "q", "answer": "a", "is_correct": True}
    assert client.post("/pipelines/query/feedback", json=verdict, headers=app).json()["actor"] == "app"
    # Giving feedback is not reading it: `read` shows the counts, the verdicts need `feedback` (or `admin`).
    assert client.get("/pipelines/query/feedback", headers=app).status_code == 403
    assert client.get("/pipelines/query/feedback/summary", headers=app).json()["revisions"][0]["total"] == 1
    assert client.get("/pipelines/query/feedback", headers=headers["admin"]).json()["feedback"][0]["actor"] == "app"
    assert client.post("/pipelines/query/documents/delete", json={"all": True}, headers=app).status_code == 403
    assert client.delete("/pipelines/query/feedback", headers=app).status_code == 403
    assert client.post("/pipelines/query/documents/delete", json={"all": True}, headers=headers["admin"]).is_success
    assert client.delete("/pipelines/query/feedback", headers=headers["admin"]).json() == {"deleted": 1}
