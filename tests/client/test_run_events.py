"""`Client.stream_run` and `AsyncClient.stream_run` against the real app: typed chunks, then the run's result; every
problem raises the class a run that does not stream raises."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from stackyard.client import (
    AsyncClient,
    Client,
    InvalidRunInput,
    PipelineNotFound,
    RunEvent,
    RunFailed,
    RunResult,
    StreamChunk,
)
from tests.api.test_streaming import CHAT, FAILS_AFTER_CHUNKS
from tests.conftest import REPO, as_httpx
from tests.process.server import running

QUESTION = {"question": "Where are haystacks kept?"}


@pytest.fixture
def yard(client: TestClient) -> Client:
    yard = Client(http=as_httpx(client))
    yard.put_pipeline("chat", CHAT)
    return yard


def _split(events: list[RunEvent]) -> tuple[list[StreamChunk], RunResult]:
    *chunks, result = events
    assert all(isinstance(chunk, StreamChunk) for chunk in chunks), events
    assert isinstance(result, RunResult), result
    return [chunk for chunk in chunks if isinstance(chunk, StreamChunk)], result


def test_the_chunks_spell_the_reply_and_the_result_is_the_plain_runs(yard: Client) -> None:
    chunks, result = _split(list(yard.stream_run("chat", QUESTION)))
    assert len(chunks) > 5  # a chunk per word
    assert {chunk.component for chunk in chunks} == {"llm"}
    assert chunks[-1].finish_reason == "stop"
    assert "".join(chunk.content for chunk in chunks) == result.result["reply"][0]["text"]
    assert result == yard.run("chat", QUESTION)


def test_a_pipeline_that_streams_nothing_yields_only_its_result(yard: Client) -> None:
    yard.put_pipeline("greet", (REPO / "examples/pipelines/greet.yml").read_text())
    [result] = yard.stream_run("greet", {"name": "Ada"})
    assert result == yard.run("greet", {"name": "Ada"})


def test_problems_before_the_stream_raise_what_a_plain_run_raises(yard: Client) -> None:
    with pytest.raises(PipelineNotFound, match="ghost"):
        list(yard.stream_run("ghost", QUESTION))
    with pytest.raises(InvalidRunInput) as caught:
        list(yard.stream_run("chat", {}))
    assert caught.value.problem["input"] == "question"


def test_a_failure_after_the_first_chunk_raises_after_the_chunks(yard: Client) -> None:
    yard.put_pipeline("fails", FAILS_AFTER_CHUNKS)
    seen: list[RunEvent] = []
    with pytest.raises(RunFailed) as caught:
        seen.extend(yard.stream_run("fails", QUESTION))
    assert seen
    assert all(isinstance(event, StreamChunk) for event in seen)
    assert caught.value.problem["component"] == "pick"


@pytest.mark.process
def test_closing_the_stream_early_closes_the_answer(tmp_path: Path) -> None:
    # A real server process: the run the server ends there is that process's to clean up, not this one's.
    answers: list[httpx.Response] = []
    with running(tmp_path) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        http.event_hooks["response"].append(answers.append)
        yard = Client(http=http)
        yard.put_pipeline("chat", CHAT)
        events = yard.stream_run("chat", QUESTION)
        assert answers == [put for put in answers if put.request.method == "PUT"]  # nothing sent before iterating
        assert isinstance(next(events), StreamChunk)
        answer = answers[-1]
        assert (answer.request.method, answer.is_closed) == ("POST", False)
        events.close()
        assert answer.is_closed
        assert isinstance(list(yard.stream_run("chat", QUESTION))[-1], RunResult)  # the server serves on


async def test_the_async_client_streams_the_same_events(aclient: httpx.AsyncClient) -> None:
    async with AsyncClient(http=aclient) as yard:
        await yard.put_pipeline("chat", CHAT)
        chunks, result = _split([event async for event in yard.stream_run("chat", QUESTION)])
        assert "".join(chunk.content for chunk in chunks) == result.result["reply"][0]["text"]
        assert result == await yard.run("chat", QUESTION)
        with pytest.raises(PipelineNotFound):
            [event async for event in yard.stream_run("ghost", QUESTION)]
        with pytest.raises(InvalidRunInput):
            [event async for event in yard.stream_run("chat", {})]
        events = yard.stream_run("chat", QUESTION)
        assert isinstance(await anext(events), StreamChunk)
        await events.aclose()
