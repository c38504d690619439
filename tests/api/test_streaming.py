"""Streaming runs: `POST /pipelines/{name}/run` as Server-Sent Events, through the worker processes."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import REPO
from tests.metrics_text import sample

YAML = {"Content-Type": "application/yaml"}
CHAT = (REPO / "examples/pipelines/chat.yml").read_text()
QUESTION = {"data": {"question": "Where are haystacks kept?"}}
SSE = {"Accept": "text/event-stream"}
# The reply, streamed and then adapted by a component that fails on it: the failure comes after the chunks.
FAILS_AFTER_CHUNKS = CHAT.replace(
    "connections:",
    """  pick:
    type: haystack.components.converters.output_adapter.OutputAdapter
    init_parameters:
      template: "{{ replies[7].text }}"
      output_type: str
connections:
  - sender: llm.replies
    receiver: pick.replies""",
)


def events(client: TestClient, name: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> list[Any]:
    """The (event, data) pairs of one streamed run, in order."""
    with client.stream("POST", f"/pipelines/{name}/run", json=body, headers=headers) as answer:
        assert answer.status_code == 200, answer.read()
        assert answer.headers["content-type"].startswith("text/event-stream")
        text = "".join(answer.iter_text())
    pairs = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        pairs.append((lines["event"], json.loads(lines["data"])))
    return pairs


def test_a_stream_sends_each_chunk_then_the_result_of_the_same_run(client: TestClient) -> None:
    assert client.put("/pipelines/chat", content=CHAT, headers=YAML).status_code == 201
    streamed = events(client, "chat", QUESTION, SSE)
    kinds = [kind for kind, _ in streamed]
    assert kinds[-1] == "result", kinds
    assert set(kinds[:-1]) == {"chunk"}, kinds
    assert len(kinds) > 5, kinds  # a chunk per word
    chunks = [data for kind, data in streamed if kind == "chunk"]
    assert {chunk["component"] for chunk in chunks} == {"llm"}
    assert chunks[-1]["finish_reason"] == "stop"
    text = "".join(chunk["content"] for chunk in chunks)
    assert text.startswith("Haystacks are kept in a stackyard")
    plain = client.post("/pipelines/chat/run", json=QUESTION).json()
    assert streamed[-1][1] == plain  # the same body as the run that does not stream
    assert plain["result"]["reply"][0]["text"] == text


def test_the_stream_flag_streams_as_the_accept_header_does(client: TestClient) -> None:
    assert client.put("/pipelines/chat", content=CHAT, headers=YAML).status_code == 201
    streamed = events(client, "chat", {**QUESTION, "stream": True})
    assert streamed[0][0] == "chunk"
    assert streamed[-1][0] == "result"


def test_problems_before_the_first_chunk_are_answered_as_problems(client: TestClient) -> None:
    assert client.put("/pipelines/chat", content=CHAT, headers=YAML).status_code == 201
    missing = client.post("/pipelines/nosuch/run", json=QUESTION, headers=SSE)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    wrong = client.post("/pipelines/chat/run", json={"data": {}}, headers=SSE)
    assert wrong.status_code == 422
    assert wrong.json()["input"] == "question"


def test_a_failure_after_the_stream_began_is_its_last_event_and_logged(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    assert client.put("/pipelines/fails", content=FAILS_AFTER_CHUNKS, headers=YAML).status_code == 201
    with caplog.at_level(logging.WARNING, logger="stackyard.api.event_stream"):
        streamed = events(client, "fails", QUESTION, SSE)
    (logged,) = caplog.records  # the request's own line said 200: this one says how the stream ended
    fields = vars(logged)
    assert (logged.getMessage(), fields["pipeline"], fields["status"]) == ("stream ended with a problem", "fails", 500)
    assert streamed[0][0] == "chunk"
    kind, problem = streamed[-1]
    assert kind == "error", streamed[-1]
    assert problem["status"] >= 400
    assert problem["component"] == "pick"
    assert problem["instance"] == "/pipelines/fails/run"
    assert client.post("/pipelines/chat/run", json=QUESTION).status_code in (200, 404)  # the server serves on


def test_streaming_components_chooses_which_components_stream(client: TestClient) -> None:
    two = CHAT.replace(
        "connections:",
        """  second:
    type: haystack.components.generators.chat.mock.MockChatGenerator
    init_parameters: {}
connections:
  - sender: llm.replies
    receiver: second.messages""",
    ).replace("outputs:\n  reply: llm.replies\n", "")
    assert client.put("/pipelines/two", content=two, headers=YAML).status_code == 201
    by_default = {data["component"] for kind, data in events(client, "two", QUESTION, SSE) if kind == "chunk"}
    assert by_default == {"second"}  # the last streaming-capable component
    every = two + "streaming_components: all\n"
    assert client.put("/pipelines/two", content=every, headers=YAML).status_code == 200
    both = {data["component"] for kind, data in events(client, "two", QUESTION, SSE) if kind == "chunk"}
    assert both == {"llm", "second"}
    first_only = two + "streaming_components: [llm]\n"
    assert client.put("/pipelines/two", content=first_only, headers=YAML).status_code == 200
    chosen = {data["component"] for kind, data in events(client, "two", QUESTION, SSE) if kind == "chunk"}
    assert chosen == {"llm"}


def test_a_pipeline_without_a_streaming_component_streams_its_result(client: TestClient) -> None:
    greet = (REPO / "examples/pipelines/greet.yml").read_text()
    assert client.put("/pipelines/greet", content=greet, headers=YAML).status_code == 201
    streamed = events(client, "greet", {"data": {"name": "Ada"}}, SSE)
    assert [kind for kind, _ in streamed] == ["result"]


def test_streams_are_counted_with_their_chunks(client: TestClient) -> None:
    assert client.put("/pipelines/chat", content=CHAT, headers=YAML).status_code == 201
    count = len([kind for kind, _ in events(client, "chat", QUESTION, SSE) if kind == "chunk"])
    text = client.get("/metrics").text
    assert sample(text, "stackyard_stream_chunks_total", pipeline="chat", revision="1") == count
    assert sample(text, "stackyard_stream_first_chunk_seconds_count", pipeline="chat", revision="1") == 1
    assert sample(text, "stackyard_runs_total", pipeline="chat", revision="1", outcome="ok") == 1


DECLARATIONS = {
    "a component that cannot stream": (CHAT + "streaming_components: [prompt]\n", "cannot stream"),
    "a chat input the pipeline lacks": (CHAT.replace("input: question", "input: nowhere"), "metadata.chat.input"),
    "a chat declaration without its input": (CHAT.replace("input: question", "model: m"), "metadata.chat"),
    "an mcp declaration of another shape": (CHAT.replace("mcp: true", "mcp: [yes]"), "metadata.mcp"),
}


@pytest.mark.parametrize(("yaml", "needle"), DECLARATIONS.values(), ids=DECLARATIONS.keys())
def test_what_a_definition_declares_for_serving_is_checked_at_deploy(
    client: TestClient, yaml: str, needle: str
) -> None:
    answer = client.put("/pipelines/chat", content=yaml, headers=YAML)
    assert answer.status_code == 422, answer.text
    assert needle in answer.json()["detail"]
    assert client.get("/pipelines/chat").status_code == 404  # nothing stored


def test_chunks_with_line_breaks_keep_the_event_framing(client: TestClient) -> None:
    text = "First line.\n\nA paragraph later,\r\nand data: that looks like a field.\n"
    said = "Haystacks are kept in a stackyard, where each stack can be reached, changed and replaced on its own."
    reply = CHAT.replace(json.dumps(said), json.dumps(text))
    assert client.put("/pipelines/lines", content=reply, headers=YAML).status_code == 201
    with client.stream("POST", "/pipelines/lines/run", json=QUESTION, headers=SSE) as answer:
        raw = "".join(answer.iter_text())
    # Each event is two lines and a blank one: no chunk's line break reaches the framing.
    blocks = raw.split("\n\n")
    assert blocks[-1] == ""
    assert all(len(block.split("\n")) == 2 for block in blocks[:-1]), raw
    streamed = events(client, "lines", QUESTION, SSE)
    assert "".join(data["content"] for kind, data in streamed if kind == "chunk") == text
