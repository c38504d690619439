"""The Haystack 1.x REST API routes answer 1.x requests with 1.x shapes, on Haystack 3 pipelines."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from stackyard.store import Feedback
from tests.conftest import yard as yard_state
from tests.documents import INDEXING, QUERY, on_index

YAML = {"Content-Type": "application/yaml"}
DOCUMENT_KEYS = {"content", "content_type", "id", "meta", "score", "embedding", "id_hash_keys"}
ANSWER_KEYS = {
    "answer",
    "type",
    "score",
    "context",
    "offsets_in_document",
    "offsets_in_context",
    "document_ids",
    "meta",
}


@pytest.fixture
def yard(client: TestClient, request: pytest.FixtureRequest) -> TestClient:
    for name, yaml in (("indexing", INDEXING), ("query", QUERY)):
        assert client.put(f"/pipelines/{name}", content=on_index(yaml, request.node.name), headers=YAML).is_success
    files = [
        ("files", ("farm.txt", b"The farmer stacks hay in the stackyard.", "text/plain")),
        ("files", ("sea.txt", b"Boats sail on the sea.", "text/plain")),
    ]
    uploaded = client.post("/file-upload", files=files, data={"meta": '{"source": "1.x"}'})
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json() is None
    return client


def test_status_routes_answer_as_1x_did(yard: TestClient) -> None:
    assert yard.get("/initialized").json() is True
    assert set(yard.get("/hs_version").json()) >= {"hs_version"}
    health = yard.get("/health").json()
    assert set(health) == {"version", "cpu", "memory", "gpus"}


def test_query_answers_with_query_answers_and_documents(yard: TestClient) -> None:
    answer = yard.post("/query", json={"query": "who stacks hay", "params": {"retriever": {"top_k": 1}}})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"query", "answers", "documents"}
    assert body["query"] == "who stacks hay"
    assert [d["meta"]["file_name"] for d in body["documents"]] == ["farm.txt"]
    assert set(body["documents"][0]) == DOCUMENT_KEYS
    assert body["documents"][0]["meta"]["source"] == "1.x"
    (generated,) = body["answers"]
    assert set(generated) == ANSWER_KEYS
    assert generated["type"] == "generative"
    assert generated["document_ids"] == [body["documents"][0]["id"]]
    debug = yard.post("/query", json={"query": "hay", "debug": True}).json()
    assert set(debug["_debug"]) == {"retriever", "prompt", "llm", "answer"}


def test_query_params_with_unknown_names_are_refused_with_the_names_it_takes(yard: TestClient) -> None:
    answer = yard.post("/query", json={"query": "hay", "params": {"Retriever": {"top_k": 1}}})
    assert answer.status_code == 422
    assert "Retriever" in answer.json()["detail"]


def test_documents_by_1x_filters_are_listed_and_deleted(yard: TestClient) -> None:
    farm = yard.post("/documents/get_by_filters", json={"filters": {"file_name": ["farm.txt"]}}).json()
    assert [d["meta"]["file_name"] for d in farm] == ["farm.txt"]
    assert set(farm[0]) == DOCUMENT_KEYS
    everything = yard.post("/documents/get_by_filters", json={"filters": {"source": {"$eq": "1.x"}}}).json()
    assert len(everything) == 2
    assert yard.post("/documents/delete_by_filters", json={"filters": {"file_name": "sea.txt"}}).json() is True
    assert len(yard.post("/documents/get_by_filters", json={}).json()) == 1
    assert yard.post("/documents/delete_by_filters", json={}).json() is True  # no filters: everything, as in 1.x
    assert yard.post("/documents/get_by_filters", json={}).json() == []


def test_feedback_labels_round_trip_and_export_as_squad(yard: TestClient) -> None:
    (farm,) = yard.post("/documents/get_by_filters", json={"filters": {"file_name": ["farm.txt"]}}).json()
    label = {
        "id": "label-1",
        "query": "Who stacks hay?",
        "document": farm,
        "is_correct_answer": True,
        "is_correct_document": True,
        "origin": "user-feedback",
        "answer": {"answer": "The farmer", "type": "extractive", "offsets_in_document": [{"start": 0, "end": 10}]},
        "no_answer": False,
    }
    assert yard.post("/feedback", json=label).json() is None
    listed = yard.get("/feedback").json()
    assert len(listed) == 1
    assert {key: listed[0][key] for key in label if key != "answer"} == {
        k: v for k, v in label.items() if k != "answer"
    }
    # 1.x answered labels whole: the answer's fields that were not sent come back with their defaults.
    assert listed[0]["answer"] == {
        **label["answer"],
        "score": None,
        "context": None,
        "offsets_in_context": None,
        "document_ids": None,
        "meta": None,
    }
    # It is the query pipeline's feedback on revision 1, so it shows in the per-revision summary too.
    assert yard.get("/pipelines/query/feedback/summary").json()["revisions"][0]["total"] == 1
    squad = yard.get("/export-feedback").json()
    assert squad == {
        "data": [
            {
                "paragraphs": [
                    {
                        "context": farm["content"],
                        "id": farm["id"],
                        "qas": [
                            {
                                "question": "Who stacks hay?",
                                "id": "label-1",
                                "is_impossible": False,
                                "answers": [{"text": "The farmer", "answer_start": 0}],
                            }
                        ],
                    }
                ]
            }
        ]
    }
    short = yard.get("/export-feedback", params={"full_document_context": False, "context_size": 20}).json()
    # 5 characters on each side of the answer; at the document's start, the 5 missing before it are taken after it.
    assert short["data"][0]["paragraphs"][0]["context"] == farm["content"][:20]
    assert yard.delete("/feedback").json() is None
    assert yard.get("/feedback").json() == []


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"{not json", 400), (b"[1, 2]", 422), (b'{"answer": "no query"}', 422)],
    ids=["not-json", "not-an-object", "no-query"],
)
def test_a_bad_1x_label_is_refused_and_nothing_is_recorded(yard: TestClient, body: bytes, status: int) -> None:
    answer = yard.post("/feedback", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    assert yard.get("/feedback").json() == []


def test_file_upload_of_an_unconverted_type_is_refused(yard: TestClient) -> None:
    answer = yard.post("/file-upload", files=[("files", ("x.png", b"\x89PNG", "image/png"))])
    assert answer.status_code == 415


@pytest.mark.parametrize("filters", [{"$or": 5}, {"$and": [1, 2]}, {"$not": "x"}])
def test_malformed_1x_logical_filters_are_refused_as_invalid_filters(yard: TestClient, filters: dict[str, Any]) -> None:
    answer = yard.post("/documents/get_by_filters", json={"filters": filters})
    assert answer.status_code == 422
    assert answer.json()["type"].endswith("/invalid-filters")


def test_labels_stored_by_earlier_versions_in_odd_shapes_are_listed_and_left_out_of_the_squad_export(
    yard: TestClient, app: FastAPI
) -> None:
    # Earlier versions kept labels without checking them; these can no longer be sent, but may be stored.
    labels: list[dict[str, Any]] = [
        {"query": "q1", "document": "not an object", "answer": ["not", "an", "object"]},
        {"query": "q2", "document": {"id": 7, "content": "hay"}, "answer": {"answer": 3, "offsets_in_document": 1}},
        {"query": "q3", "document": {"content": "hay"}, "answer": {"answer": "hay", "offsets_in_document": [{}]}},
    ]
    store = yard_state(app).store
    for label in labels:
        store.add_feedback(Feedback("query", 1, label["query"], True, meta={"label": label}))
    assert [label["query"] for label in yard.get("/feedback").json()] == ["q1", "q2", "q3"]
    assert yard.get("/pipelines/query/feedback").status_code == 200
    squad = yard.get("/export-feedback").json()
    assert [paragraph["paragraphs"][0]["qas"][0]["question"] for paragraph in squad["data"]] == ["q2", "q3"]
    assert squad["data"][1]["paragraphs"][0]["qas"][0]["answers"] == [{"text": "hay", "answer_start": 0}]
