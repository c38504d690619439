"""The Haystack 1.x REST API's own tests, written again against Stackyard's 1.x routes on Haystack 3 pipelines.

Source: deepset-ai/haystack, branch v1.x, `rest_api/test/test_rest_api.py`. 1.x mocked its pipeline, document store
and converter and checked the calls they received; these tests run real offline pipelines (BM25 over an in-memory
store, a chat prompt builder, MockChatGenerator) and check what a 1.x client sees. Requests are sent the way 1.x
clients send them: `data='{...}'` without a Content-Type where the 1.x tests did so.

Mirrored (1.x name -> here):
    test_single_worker_warning_for_indexing_pipelines -> test_in_memory_indexes_are_warned_about_with_several_workers
    test_check_error_for_pipeline_not_found -> test_a_missing_query_pipeline_is_a_clear_404
    test_bad_yaml_pipeline_configuration_error -> test_an_unknown_component_type_is_refused_by_name
    test_get_all_documents, test_get_documents_with_filters, test_delete_all_documents,
    test_delete_documents_with_filters -> test_documents_*
    test_file_upload, test_file_upload_with_no_meta, test_file_upload_with_empty_meta,
    test_file_upload_with_wrong_meta -> test_file_upload_*
    test_query_with_no_filter, test_query_with_one_filter, test_query_with_one_global_filter,
    test_query_with_filter_list, test_query_with_no_documents_and_no_answers, test_query_with_bool_in_params,
    test_query_with_embeddings, test_query_with_prompt_node -> test_query_*
    test_write_feedback, test_write_feedback_without_id, test_get_feedback, test_delete_feedback,
    test_export_feedback, test_get_feedback_malformed_query -> test_feedback_*, test_export_*

Not applicable:
    test_overwrite_params_with_env_variables_when_no_params_in_pipeline_yaml: 1.x read component parameters from
        environment variables (`INMEMORYDOCUMENTSTORE_PARAMS_INDEX`); Haystack 3 definitions hold their parameters,
        and only secrets come from the environment.
    test_query_with_dataframe: Haystack 3 documents have no table (DataFrame) content.
    test_get_health_check: it mocks pynvml and psutil for GPU and per-process figures, which Stackyard does not
        collect; the shape of `/health` is checked in test_haystack1_routes.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from copy import deepcopy
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stackyard.api import create_app
from stackyard.settings import Settings
from tests.documents import INDEXING, QUERY, on_index

YAML = {"Content-Type": "application/yaml"}
TEST_QUERY = "Who made the PDF specification?"
MEMORY = "haystack.document_stores.in_memory.document_store.InMemoryDocumentStore"
RETRIEVER = f"""  retriever:
    type: haystack.components.retrievers.in_memory.bm25_retriever.InMemoryBM25Retriever
    init_parameters:
      top_k: 3
      document_store:
        type: {MEMORY}
        init_parameters:
          index: docs
"""
PROMPT = """  prompt:
    type: haystack.components.builders.chat_prompt_builder.ChatPromptBuilder
    init_parameters:
      required_variables: [query]
      template: |
        {% message role="user" %}
        {% for document in documents %}{{ document.content }}{% endfor %} Question: {{ query }}
        {% endmessage %}
  llm:
    type: haystack.components.generators.chat.mock.MockChatGenerator
    init_parameters: {responses: [{role: assistant, content: [{text: Adobe Systems}]}]}
"""
# A 1.x PromptNode pipeline: the generator's replies are the answer, without an AnswerBuilder.
PROMPT_NODE = f"""components:
{RETRIEVER}{PROMPT}connections:
  - sender: retriever.documents
    receiver: prompt.documents
  - sender: prompt.prompt
    receiver: llm.messages
inputs:
  query: [retriever.query, prompt.query]
"""
PROMPT_NODE_OUTPUTS = PROMPT_NODE + "outputs:\n  documents: retriever.documents\n  results: llm.replies\n"
DOCUMENT_SEARCH = f"components:\n{RETRIEVER}connections: []\n"
WRITER = f"""components:
  writer:
    type: haystack.components.writers.document_writer.DocumentWriter
    init_parameters:
      document_store:
        type: {MEMORY}
        init_parameters:
          index: docs
connections: []
"""
EXTRACTIVE_QUERY = QUERY.replace(
    "MockChatGenerator\n    init_parameters: {}",
    "MockChatGenerator\n    init_parameters: {responses: [{role: assistant, content: [{text: Adobe Systems}]}]}",
)
SAMPLES = [
    ("sample_1.txt", "Format (PDF) Adobe Systems made the PDF specification available free of charge in 1993."),
    ("sample_2.txt", "In 2008, Adobe published a Public Patent License to ISO 32000-1 for PDF."),
]
CONTENT = (
    "A sample PDF file\n\nHistory and standardization\nFormat (PDF) Adobe Systems made the PDF specification "
    "available free of charge in 1993. In the early years PDF was popular mainly in desktop publishing workflows, "
    "and competed with a variety of formats such as DjVu, Envoy, Common Ground Digital Paper, Farallon Replica and "
    "even Adobe's own PostScript format."
)
START = CONTENT.index("Adobe Systems")


@pytest.fixture
def feedback() -> dict[str, Any]:
    """The label of the 1.x tests (its document shortened), with its answer's offsets where the answer is."""
    span = {"start": START, "end": START + len("Adobe Systems")}
    return {
        "id": "123",
        "query": TEST_QUERY,
        "document": {
            "content": CONTENT,
            "content_type": "text",
            "score": None,
            "id": "fc18c987a8312e72a47fb1524f230bb0",
            "meta": {},
            "embedding": [0.1, 0.2, 0.3],
        },
        "answer": {
            "answer": "Adobe Systems",
            "type": "extractive",
            "context": CONTENT[:150],
            "offsets_in_context": [span],
            "offsets_in_document": [span],
            "document_ids": ["fc18c987a8312e72a47fb1524f230bb0"],
            "meta": {},
            "score": None,
        },
        "is_correct_answer": True,
        "is_correct_document": True,
        "origin": "user-feedback",
        "pipeline_id": "some-123",
    }


def deploy(client: TestClient, name: str, yaml: str, index: str) -> None:
    answer = client.put(f"/pipelines/{name}", content=on_index(yaml, index), headers=YAML)
    assert answer.is_success, answer.text


@pytest.fixture
def app_settings(tmp_path: Path) -> Settings:
    # The names the 1.x tests gave their pipelines (INDEXING_PIPELINE_NAME, QUERY_PIPELINE_NAME).
    return Settings(
        store_url=f"sqlite:///{tmp_path}/yard.db", query_pipeline="test-query", indexing_pipeline="test-indexing"
    )


@pytest.fixture
def client(app_settings: Settings, request: pytest.FixtureRequest) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings)) as test_client:
        index = f"compat-{request.node.name}"
        deploy(test_client, "test-indexing", INDEXING, index)
        deploy(test_client, "test-query", EXTRACTIVE_QUERY, index)
        yield test_client


def upload(client: TestClient, name: str, text: str, meta: str | None) -> Any:
    data = {} if meta is None else {"meta": meta}
    return client.post("/file-upload", files={"files": (name, text.encode(), "text/plain")}, data=data)


@pytest.fixture
def populated_client(client: TestClient) -> TestClient:
    for index, (name, text) in enumerate(SAMPLES):
        answer = upload(client, name, text, f'{{"meta_key": "meta_value", "meta_index": "{index}"}}')
        assert answer.status_code == 200, answer.text
    return client


def documents(client: TestClient, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    answer = client.post("/documents/get_by_filters", json={"filters": filters or {}})
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


def names(found: list[dict[str, Any]]) -> list[str]:
    return sorted(document["meta"]["name"] for document in found)


# -- start-up and definitions ---------------------------------------------------------------------------------------


def test_in_memory_indexes_are_warned_about_with_several_workers(tmp_path: Path) -> None:
    settings = Settings(store_url=f"sqlite:///{tmp_path}/yard.db", workers=2)
    with TestClient(create_app(settings)) as client:
        deploy(client, "indexing", INDEXING, "compat-workers")
        answer = upload(client, "a.txt", "hay", None)
    assert answer.status_code == 200
    assert "compat-workers" in answer.headers["X-Stackyard-Warning"]


def test_a_missing_query_pipeline_is_a_clear_404(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(store_url=f"sqlite:///{tmp_path}/yard.db"))) as client:
        answer = client.post("/query", json={"query": TEST_QUERY})
    assert answer.status_code == 404
    assert answer.json()["type"].endswith("/pipeline-not-found")
    assert "'query'" in answer.json()["detail"]


def test_an_unknown_component_type_is_refused_by_name(client: TestClient) -> None:
    bogus = RETRIEVER.replace(MEMORY, "haystack.document_stores.in_memory.MyOwnDocumentStore")
    answer = client.put("/pipelines/test-query", content=f"components:\n{bogus}connections: []\n", headers=YAML)
    assert answer.status_code == 422
    assert "MyOwnDocumentStore" in answer.json()["detail"]
    assert client.get("/pipelines/test-query").json()["revision"] == 1


# -- documents ------------------------------------------------------------------------------------------------------


def test_documents_all_are_listed_with_an_empty_filter(populated_client: TestClient) -> None:
    answer = populated_client.post("/documents/get_by_filters", content='{"filters": {}}')  # as 1.x clients: no type
    assert answer.status_code == 200
    assert names(answer.json()) == ["sample_1.txt", "sample_2.txt"]


def test_documents_are_listed_by_1x_filters_on_their_meta_and_name(populated_client: TestClient) -> None:
    assert names(documents(populated_client, {"meta_index": ["1"]})) == ["sample_2.txt"]
    assert names(documents(populated_client, {"name": "sample_1.txt"})) == ["sample_1.txt"]
    assert all(d["meta"]["meta_key"] == "meta_value" for d in documents(populated_client, {"meta_key": ["meta_value"]}))


def test_documents_all_are_deleted_with_an_empty_filter(populated_client: TestClient) -> None:
    answer = populated_client.post("/documents/delete_by_filters", content='{"filters": {}}')
    assert answer.status_code == 200
    assert answer.json() is True
    assert documents(populated_client) == []


def test_documents_are_deleted_by_1x_filters(populated_client: TestClient) -> None:
    answer = populated_client.post("/documents/delete_by_filters", content='{"filters": {"meta_index": ["0"]}}')
    assert answer.status_code == 200
    assert names(documents(populated_client)) == ["sample_2.txt"]


def test_documents_requests_with_fields_1x_did_not_take_are_refused(populated_client: TestClient) -> None:
    answer = populated_client.post("/documents/delete_by_filters", json={"filters": {}, "index": "docs"})
    assert answer.status_code == 422
    assert len(documents(populated_client)) == 2


# -- file upload ----------------------------------------------------------------------------------------------------


def test_file_upload_keeps_the_meta_sent_and_names_documents_after_their_file(client: TestClient) -> None:
    answer = upload(client, "sample_1.txt", SAMPLES[0][1], '{"test_key": "test_value", "name": "overwritten"}')
    assert answer.status_code == 200
    assert answer.json() is None
    (document,) = documents(client)
    assert document["meta"]["test_key"] == "test_value"
    assert document["meta"]["name"] == "sample_1.txt"  # 1.x set the file's name over any name in `meta`
    assert document["meta"]["file_name"] == "sample_1.txt"


@pytest.mark.parametrize("meta", [None, ""], ids=["no-meta", "empty-meta"])
def test_file_upload_without_meta_names_documents_after_their_file(client: TestClient, meta: str | None) -> None:
    assert upload(client, "sample_1.txt", SAMPLES[0][1], meta).status_code == 200
    (document,) = documents(client, {"name": "sample_1.txt"})
    assert "test_key" not in document["meta"]


@pytest.mark.parametrize("meta", ["1", '["not", "objects"]', "{not json"])
def test_file_upload_with_wrong_meta_is_refused_and_indexes_nothing(client: TestClient, meta: str) -> None:
    answer = upload(client, "sample_1.txt", SAMPLES[0][1], meta)
    assert answer.status_code == 422  # 1.x answered 500
    assert answer.headers["content-type"] == "application/problem+json"
    assert documents(client) == []


def test_file_upload_passes_additional_params_to_the_run_and_refuses_unknown_ones(client: TestClient) -> None:
    files = {"files": ("sample_1.txt", SAMPLES[0][1].encode(), "text/plain")}
    unknown = client.post("/file-upload", files=files, data={"additional_params": '{"Preprocessor": {"x": 1}}'})
    assert unknown.status_code == 422
    assert "Preprocessor" in unknown.json()["detail"]
    assert documents(client) == []
    known = client.post("/file-upload", files=files, data={"additional_params": '{"writer": {"policy": "skip"}}'})
    assert known.status_code == 200, known.text
    assert names(documents(client)) == ["sample_1.txt"]


# -- query ----------------------------------------------------------------------------------------------------------


def query(client: TestClient, params: dict[str, Any] | None = None, **body: Any) -> dict[str, Any]:
    answer = client.post(
        "/query", json={"query": TEST_QUERY, **({"params": params} if params is not None else {}), **body}
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def test_query_with_no_filter_answers_from_every_document(populated_client: TestClient) -> None:
    answer = query(populated_client)
    assert answer["query"] == TEST_QUERY
    assert answer["answers"][0]["answer"] == "Adobe Systems"
    assert names(answer["documents"]) == ["sample_1.txt", "sample_2.txt"]


@pytest.mark.parametrize(
    "params",
    [
        {"retriever": {"filters": {"meta_index": "1"}}},
        {"filters": {"meta_index": "1"}},
        {"retriever": {"filters": {"meta_index": ["1", "another_value"]}}},
        {"filters": {"$and": {"meta_key": {"$eq": "meta_value"}, "meta_index": {"$in": ["1"]}}}},
        {"filters": {"field": "meta.meta_index", "operator": "==", "value": "1"}},
    ],
    ids=["per-component", "global", "list", "operators", "haystack-3-filters"],
)
def test_query_applies_1x_filters_given_in_params(populated_client: TestClient, params: dict[str, Any]) -> None:
    answer = query(populated_client, params)
    assert names(answer["documents"]) == ["sample_2.txt"]
    assert answer["answers"][0]["document_ids"] == [answer["documents"][0]["id"]]


def test_query_filters_for_a_component_win_over_filters_for_all(populated_client: TestClient) -> None:
    params = {"filters": {"meta_index": "0"}, "retriever": {"filters": {"meta_index": "1"}}}
    assert names(query(populated_client, params)["documents"]) == ["sample_2.txt"]


def test_query_with_a_filter_nothing_matches_finds_no_documents(populated_client: TestClient) -> None:
    assert query(populated_client, {"retriever": {"filters": {"meta_key": "invalid_value"}}})["documents"] == []


def test_query_with_malformed_1x_filters_is_refused(populated_client: TestClient) -> None:
    answer = populated_client.post("/query", json={"query": TEST_QUERY, "params": {"filters": {"$or": 5}}})
    assert answer.status_code == 422
    assert answer.json()["type"].endswith("/invalid-filters")


def test_query_with_no_documents_and_no_answers(client: TestClient, request: pytest.FixtureRequest) -> None:
    deploy(client, "test-query", DOCUMENT_SEARCH, f"empty-{request.node.name}")
    answer = query(client)
    assert (answer["documents"], answer["answers"]) == ([], [])
    assert "results" not in answer


def test_query_with_debug_and_other_values_in_params(populated_client: TestClient) -> None:
    answer = query(populated_client, {"debug": True, "retriever": {"top_k": 1}})
    assert len(answer["documents"]) == 1
    assert set(answer["_debug"]) == {"retriever", "prompt", "llm", "answer"}
    assert [d["id"] for d in answer["_debug"]["retriever"]["output"]["documents"]] == [answer["documents"][0]["id"]]


def test_query_with_debug_for_one_component_shows_that_component(populated_client: TestClient) -> None:
    answer = query(populated_client, {"llm": {"debug": True}})
    assert set(answer["_debug"]) == {"llm"}
    assert answer["_debug"]["llm"]["output"]["replies"][0]["text"] == "Adobe Systems"
    only_some = query(populated_client, {"retriever": {"debug": False}}, debug=True)
    assert set(only_some["_debug"]) == {"prompt", "llm", "answer"}
    assert "_debug" not in query(populated_client)


@pytest.mark.parametrize("params", [{"debug": "yes"}, {"retriever": {"debug": 1}}], ids=["for-all", "per-component"])
def test_query_with_debug_that_is_not_a_boolean_is_refused(
    populated_client: TestClient, params: dict[str, Any]
) -> None:
    answer = populated_client.post("/query", json={"query": TEST_QUERY, "params": params})
    assert answer.status_code == 422
    assert "debug" in answer.json()["detail"]


def test_query_with_embeddings_answers_them(client: TestClient, request: pytest.FixtureRequest) -> None:
    deploy(client, "writer", WRITER, f"compat-{request.node.name}")
    document = {"content": "The PDF test", "meta": {"test_key": "test_value"}, "embedding": [0.1, 0.2, 0.3]}
    assert client.post("/pipelines/writer/run", json={"data": {"documents": [document]}}).status_code == 200
    (found,) = query(client)["documents"]
    assert (found["content"], found["content_type"], found["embedding"]) == ("The PDF test", "text", [0.1, 0.2, 0.3])


@pytest.mark.parametrize("yaml", [PROMPT_NODE_OUTPUTS, PROMPT_NODE], ids=["results-output", "generator-replies"])
def test_query_with_a_prompt_node_answers_its_results(
    populated_client: TestClient, request: pytest.FixtureRequest, yaml: str
) -> None:
    deploy(populated_client, "test-query", yaml, f"compat-{request.node.name}")
    answer = query(populated_client)
    assert answer["results"] == ["Adobe Systems"]
    assert answer["answers"] == []


# -- feedback -------------------------------------------------------------------------------------------------------


def labels(client: TestClient) -> list[dict[str, Any]]:
    answer = client.get("/feedback")
    assert answer.status_code == 200
    found: list[dict[str, Any]] = answer.json()
    return found


def test_feedback_is_written_and_listed_as_sent(populated_client: TestClient, feedback: dict[str, Any]) -> None:
    answer = populated_client.post("/feedback", json=feedback)
    assert answer.status_code == 200
    assert answer.json() is None
    (label,) = labels(populated_client)
    assert {key: label[key] for key in feedback if key not in ("document", "answer")} == {
        key: value for key, value in feedback.items() if key not in ("document", "answer")
    }
    assert label["document"] == {**feedback["document"], "id_hash_keys": None}
    assert label["answer"] == feedback["answer"]
    assert label["no_answer"] is False  # 1.x worked it out from the answer
    assert label["created_at"]


def test_feedback_without_id_gets_one(populated_client: TestClient, feedback: dict[str, Any]) -> None:
    del feedback["id"]
    for _ in range(2):
        assert populated_client.post("/feedback", json=feedback).status_code == 200
    ids = [label["id"] for label in labels(populated_client)]
    assert len(set(ids)) == 2
    assert all(isinstance(label_id, str) and label_id for label_id in ids)


def test_feedback_is_listed_oldest_first(client: TestClient, feedback: dict[str, Any]) -> None:
    for number in range(3):
        assert client.post("/feedback", json={**feedback, "id": str(number)}).status_code == 200
    assert [label["id"] for label in labels(client)] == ["0", "1", "2"]


def test_feedback_delete_removes_user_feedback_and_keeps_gold_labels(
    client: TestClient, feedback: dict[str, Any]
) -> None:
    client.post("/feedback", json=feedback)
    client.post("/feedback", json={**feedback, "id": 456, "origin": "gold-label"})
    verdict = {"query": "q", "answer": "a", "is_correct": True}
    assert client.post("/pipelines/test-query/feedback", json=verdict).status_code == 201
    assert len(labels(client)) == 3
    answer = client.delete("/feedback")
    assert answer.status_code == 200
    assert [(label["id"], label["origin"]) for label in labels(client)] == [("456", "gold-label")]


@pytest.mark.parametrize(
    "change",
    [
        {"unexpected_field": "misplaced-value"},
        {"origin": "from-elsewhere"},
        {"origin": None},
        {"is_correct_document": None},
        {"document": None},
        {"document": {"content": "hay", "extra": 1}},
        {"document": {"id": "no-content"}},
        {"answer": {"answer": "Adobe Systems", "document_id": "singular, as before 1.x had document_ids"}},
        {"answer": {"answer": "Adobe Systems", "type": "guessed"}},
        {"answer": {"answer": "Adobe Systems", "offsets_in_document": [{"begin": 0}]}},
        {"no_answer": True},
        {"answer": {"answer": ""}, "no_answer": False},
        {"query": ["not", "text"]},
    ],
    ids=[
        "unexpected-field",
        "unknown-origin",
        "no-origin",
        "no-document-verdict",
        "no-document",
        "document-extra-field",
        "document-without-content",
        "answer-extra-field",
        "answer-unknown-type",
        "answer-bad-offsets",
        "no-answer-with-an-answer",
        "an-answer-that-is-empty",
        "query-not-text",
    ],
)
def test_feedback_1x_refused_is_refused_and_nothing_is_stored(
    client: TestClient, feedback: dict[str, Any], change: dict[str, Any]
) -> None:
    label = {**deepcopy(feedback), **change}
    label = {key: value for key, value in label.items() if value is not None}
    answer = client.post("/feedback", json=label)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert labels(client) == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/query", {"query": TEST_QUERY}),
        ("/documents/get_by_filters", {"filters": {"meta_index": ["1"]}}),
        ("/eval-feedback", {"filters": {}}),
        ("/feedback", None),
        ("/documents/delete_by_filters", {"filters": {"meta_index": ["1"]}}),
    ],
)
def test_json_sent_without_content_type_is_read_and_bad_json_is_refused(
    populated_client: TestClient, feedback: dict[str, Any], path: str, body: dict[str, Any] | None
) -> None:
    text = json.dumps(body or feedback)  # what requests' `data=json.dumps(...)` sends: no Content-Type
    bad = populated_client.post(path, content=text[:-1])
    assert bad.status_code == 400
    assert bad.json()["type"].endswith("/invalid-request")
    assert (len(documents(populated_client)), labels(populated_client)) == (2, [])
    good = populated_client.post(path, content=text)
    assert good.status_code == 200, good.text
    assert "content-type" not in good.request.headers


# -- export and evaluation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/export-feedback?full_document_context=true",
        "/export-feedback?full_document_context=false&context_size=50",
        "/export-feedback?full_document_context=false&context_size=50000",
    ],
)
def test_export_feedback_places_the_answer_in_its_context(
    client: TestClient, feedback: dict[str, Any], url: str
) -> None:
    assert client.post("/feedback", json=feedback).status_code == 200
    (paragraph,) = client.get(url).json()["data"][0]["paragraphs"]
    context, (question,) = paragraph["context"], paragraph["qas"]
    (answer,) = question["answers"]
    assert context[answer["answer_start"] : answer["answer_start"] + len(answer["text"])] == "Adobe Systems"
    assert (question["question"], question["id"], question["is_impossible"]) == (TEST_QUERY, "123", False)
    assert paragraph["id"] == feedback["document"]["id"]


def test_export_feedback_with_a_window_keeps_about_context_size_characters(
    client: TestClient, feedback: dict[str, Any]
) -> None:
    assert client.post("/feedback", json=feedback).status_code == 200
    for size in (20, 50, 51):
        squad = client.get("/export-feedback", params={"full_document_context": False, "context_size": size}).json()
        # Half of what the answer leaves goes to each side: one character is lost when that is odd, as in 1.x.
        assert len(squad["data"][0]["paragraphs"][0]["context"]) == size - (size - len("Adobe Systems")) % 2
    # Near the document's start the window takes what it lacks before the answer from after it.
    feedback["answer"]["offsets_in_document"] = [{"start": 0, "end": 1}]
    feedback["answer"]["answer"] = "A"
    client.delete("/feedback")
    client.post("/feedback", json=feedback)
    squad = client.get("/export-feedback", params={"full_document_context": False, "context_size": 11}).json()
    assert squad["data"][0]["paragraphs"][0]["context"] == CONTENT[:11]


def test_export_feedback_selects_labels_as_1x_did(client: TestClient, feedback: dict[str, Any]) -> None:
    def post(label_id: str, answer_ok: bool, document_ok: bool, origin: str = "user-feedback") -> None:
        label = {**feedback, "id": label_id, "origin": origin}
        label.update(is_correct_answer=answer_ok, is_correct_document=document_ok)
        assert client.post("/feedback", json=label).status_code == 200

    post("right", True, True)
    post("right-answer-wrong-document", True, False)
    post("wrong-answer-right-document", False, True)  # neither a SQuAD answer nor an impossible question
    post("both-wrong", False, False)
    post("gold", True, True, origin="gold-label")  # 1.x exported user feedback only

    def exported(**params: Any) -> dict[str, Any]:
        squad = client.get("/export-feedback", params=params).json()
        return {item["paragraphs"][0]["qas"][0]["id"]: item["paragraphs"][0]["qas"][0] for item in squad["data"]}

    everything = exported()
    assert list(everything) == ["right", "right-answer-wrong-document", "both-wrong"]
    assert everything["both-wrong"]["is_impossible"] is True
    assert everything["both-wrong"]["answers"] == []
    assert everything["right-answer-wrong-document"]["answers"] == [{"text": "Adobe Systems", "answer_start": START}]
    assert list(exported(only_positive_labels=True)) == ["right", "right-answer-wrong-document"]


def test_eval_feedback_gives_the_accuracy_of_user_feedback(client: TestClient, feedback: dict[str, Any]) -> None:
    empty = client.post("/eval-feedback")
    assert empty.status_code == 200
    assert empty.json() == {"answer_accuracy": None, "document_accuracy": None, "n_feedback": 0}
    for label_id, answer_ok, document_ok, origin in [
        ("1", True, True, "user-feedback"),
        ("2", False, True, "user-feedback"),
        ("3", False, False, "user-feedback"),
        ("4", False, False, "gold-label"),
    ]:
        label = {**feedback, "id": label_id, "origin": origin}
        label.update(is_correct_answer=answer_ok, is_correct_document=document_ok)
        client.post("/feedback", json=label)
    assert client.post("/eval-feedback").json() == {
        "answer_accuracy": 1 / 3,
        "document_accuracy": 2 / 3,
        "n_feedback": 3,
    }
    some = client.post("/eval-feedback", content='{"filters": {"id": ["1", "2"]}}')  # no Content-Type, as 1.x clients
    assert some.json() == {"answer_accuracy": 0.5, "document_accuracy": 1.0, "n_feedback": 2}
    assert client.post("/eval-feedback", json={"filters": {"query": "something else"}}).json()["n_feedback"] == 0
