"""Haystack's real `OpenAIChatGenerator` behind a real server, talking to an OpenAI-compatible upstream over HTTP
(`tests/fake_openai.py`, on 127.0.0.1, the one host the server allows): the words it streams arrive as chunks, a
client that leaves mid-stream closes the upstream request too, and a host off the list is refused, never waited for.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.fake_openai import FakeOpenAI, fake_openai
from tests.metrics_text import sample
from tests.process.server import Server, running
from tests.process.test_streams import read_events
from tests.waiting import wait_until

pytestmark = pytest.mark.process

YAML = {"Content-Type": "application/yaml"}
SSE = {"Accept": "text/event-stream"}
QUESTION = {"data": {"question": "Where are haystacks kept?"}}
KEY = "test-key"
OPENAI = "haystack.components.generators.chat.openai.OpenAIChatGenerator"


def chat(base_url: str, **params: Any) -> str:
    """A prompt builder feeding an OpenAI generator at `base_url` that reads its key from OPENAI_API_KEY."""
    llm = {
        "api_base_url": base_url,
        "api_key": {"type": "env_var", "env_vars": ["OPENAI_API_KEY"], "strict": False},
        "model": "fake-gpt",
        "max_retries": 0,  # a refused connection is answered at once, not after retries
        **params,
    }
    return f"""components:
  prompt:
    type: haystack.components.builders.chat_prompt_builder.ChatPromptBuilder
    init_parameters:
      required_variables: [question]
      template: |
        {{% message role="user" %}}{{{{ question }}}}{{% endmessage %}}
  llm:
    type: {OPENAI}
    init_parameters: {json.dumps(llm)}
connections:
  - sender: prompt.prompt
    receiver: llm.messages
inputs:
  question: prompt.question
"""


# Asked of the streaming pipelines, as OpenAI's own clients do, so the stream's last chunk carries the usage.
WITH_USAGE = {"generation_kwargs": {"stream_options": {"include_usage": True}}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {
        "OPENAI_API_KEY": KEY,
        "STACKYARD_SECRET_ENV_ALLOWLIST": "OPENAI_API_KEY",
        "STACKYARD_ALLOWED_HOSTS": "127.0.0.1",
        "STACKYARD_RUN_TIMEOUT": "20",
    }
    with running(tmp_path_factory.mktemp("openai-upstream"), env=env) as started:
        yield started


@pytest.fixture
def upstream() -> Iterator[FakeOpenAI]:
    with fake_openai() as fake:
        yield fake


def deploy(server: Server, name: str, yaml: str) -> None:
    with server.client() as http:
        answer = http.put(f"/pipelines/{name}", content=yaml, headers=YAML)
    assert answer.is_success, answer.text


def test_a_streamed_run_carries_the_upstreams_words_as_chunks_then_the_same_reply(
    server: Server, upstream: FakeOpenAI
) -> None:
    deploy(server, "streamed", chat(upstream.base_url, **WITH_USAGE))
    with (
        server.client() as http,
        http.stream("POST", "/pipelines/streamed/run", json=QUESTION, headers=SSE) as answer,
    ):
        assert answer.status_code == 200
        events = read_events(answer.iter_lines())
    chunks = [data for kind, data in events if kind == "chunk"]
    assert {chunk["component"] for chunk in chunks} == {"llm"}
    assert [chunk["content"] for chunk in chunks if chunk["content"]] == upstream.words
    kind, result = events[-1]
    assert kind == "result", result
    reply = result["result"]["llm"]["replies"][0]
    assert reply["text"] == "".join(chunk["content"] for chunk in chunks) == "".join(upstream.words)
    assert reply["meta"]["usage"]["total_tokens"] == upstream.usage["total_tokens"]
    [request] = upstream.requests
    assert request["headers"]["authorization"] == f"Bearer {KEY}"
    assert request["body"]["stream"] is True
    assert request["body"]["messages"] == [{"role": "user", "content": QUESTION["data"]["question"]}]
    assert upstream.finished.is_set()
    assert not upstream.closed_early.is_set()


def test_a_run_without_streaming_answers_the_same_reply_and_its_usage(server: Server, upstream: FakeOpenAI) -> None:
    deploy(server, "whole", chat(upstream.base_url))
    with server.client() as http:
        answer = http.post("/pipelines/whole/run", json=QUESTION)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    reply = answer.json()["result"]["llm"]["replies"][0]
    assert reply["text"] == "".join(upstream.words)
    assert reply["meta"]["usage"]["total_tokens"] == upstream.usage["total_tokens"]
    [request] = upstream.requests
    assert request["headers"]["authorization"] == f"Bearer {KEY}"
    assert not request["body"].get("stream")


def test_a_client_that_leaves_mid_stream_closes_the_upstream_request(server: Server, upstream: FakeOpenAI) -> None:
    upstream.hold_after = 2  # two words, then the upstream waits for a release that never comes
    deploy(server, "abandoned", chat(upstream.base_url, **WITH_USAGE))
    with server.client() as http:
        with http.stream("POST", "/pipelines/abandoned/run", json=QUESTION, headers=SSE) as answer:
            lines = answer.iter_lines()  # held: dropped, it would close the connection at once (test_streams.py)
            assert read_events(lines, 1)[0][0] == "chunk"
            wait_until(upstream.held.is_set, "the upstream to hold its stream")
        # Stackyard's client has gone; the upstream is still mid-stream, so only ending the run can close it.
        wait_until(upstream.closed_early.is_set, "the worker to close the upstream request", timeout=10)

        def in_flight() -> float | None:
            return sample(http.get("/metrics").text, "stackyard_runs_in_flight", pipeline="abandoned")

        wait_until(lambda: in_flight() == 0, "the abandoned stream's run to stop", timeout=10)
    assert not upstream.finished.is_set()


def test_an_endpoint_off_the_allowed_hosts_is_refused_by_the_policy(server: Server, upstream: FakeOpenAI) -> None:
    # Hosts are matched by name before any lookup: `localhost` is not `127.0.0.1`, though it resolves there.
    off_list = upstream.base_url.replace("127.0.0.1", "localhost")
    with server.client() as http:
        answer = http.put("/pipelines/elsewhere", content=chat(off_list), headers=YAML)
        assert answer.status_code == 422, answer.text
        problem = answer.json()
        assert problem["rule"] == "secret-endpoint"
        assert "localhost" in problem["detail"]
        assert http.get("/pipelines/elsewhere").status_code == 404
    assert upstream.requests == []


def test_a_stream_through_a_host_off_the_list_is_refused_at_once(server: Server, upstream: FakeOpenAI) -> None:
    # The endpoint is allowed, so the definition passes; the proxy the connection would go through is not.
    proxied = chat(upstream.base_url, http_client_kwargs={"proxy": f"http://localhost:{upstream.port}"}, timeout=10)
    deploy(server, "proxied", proxied)
    with server.client() as http:
        answer = http.post("/pipelines/proxied/run", json=QUESTION, headers=SSE)
    # Refused before any chunk: the usual problem answer, not a stream that never ends.
    assert answer.status_code == 500, answer.text
    problem = answer.json()
    assert problem["type"].endswith("/run-contained")
    assert (problem["rule"], problem["component"]) == ("egress", "llm")
    assert "localhost" in problem["detail"]
    assert upstream.requests == []


def test_the_openai_compatible_api_passes_on_the_upstreams_usage(server: Server, upstream: FakeOpenAI) -> None:
    declared = "metadata:\n  chat: {input: question, output: llm.replies, model: relayed}\n"
    deploy(server, "relay", declared + chat(upstream.base_url, **WITH_USAGE))
    ai = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
    ask: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Where are haystacks kept?"}]
    whole = ai.chat.completions.create(model="relayed", messages=ask)
    assert whole.choices[0].message.content == "".join(upstream.words)
    assert whole.usage is not None
    assert whole.usage.total_tokens == upstream.usage["total_tokens"]
    stream = ai.chat.completions.create(
        model="relayed", messages=ask, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices) == "".join(upstream.words)
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == upstream.usage["total_tokens"]


def test_the_sampling_parameters_a_chat_model_lists_reach_the_upstream_and_no_others(
    server: Server, upstream: FakeOpenAI
) -> None:
    parameters = "parameters: [temperature, max_tokens]"
    declared = f"metadata:\n  chat: {{input: question, output: llm.replies, model: tuned, {parameters}}}\n"
    deploy(server, "tuned", declared + chat(upstream.base_url))
    ai = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
    ask: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Where are haystacks kept?"}]
    # An unlisted parameter, sent as itself or smuggled in as the run input the listed ones travel in.
    smuggled = {"generation_kwargs": {"top_p": 0.1}}
    whole = ai.chat.completions.create(
        model="tuned", messages=ask, temperature=0.3, max_tokens=50, top_p=0.5, extra_body=smuggled
    )
    assert whole.choices[0].message.content == "".join(upstream.words)
    streamed = ai.chat.completions.create(model="tuned", messages=ask, temperature=1.5, stream=True)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in streamed if chunk.choices) == "".join(
        upstream.words
    )
    asked = [request["body"] for request in upstream.requests]
    assert [(body.get("temperature"), body.get("max_tokens"), body.get("stream", False)) for body in asked] == [
        (0.3, 50, False),
        (1.5, None, True),
    ]
    assert all("top_p" not in body for body in asked)  # not listed: the pipeline's own setting holds
