"""The OpenAI-compatible chat API, through the official `openai` client: models, completions streaming and not,
OpenAI-shaped errors, and tokens."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from fastapi.testclient import TestClient
from openai.types.chat import ChatCompletionMessageParam

from stackyard.api.app import create_app
from stackyard.api.routes.openai import ChatCompletionRequest
from stackyard.settings import Settings
from stackyard.tokens import create_token
from stackyard.wire.definition import CHAT_PARAMETERS
from tests.conftest import REPO

YAML = {"Content-Type": "application/yaml"}
CHAT = (REPO / "examples/pipelines/chat.yml").read_text()
GREET = (REPO / "examples/pipelines/greet.yml").read_text()
REPLY = "Haystacks are kept in a stackyard, where each stack can be reached, changed and replaced on its own."
ASK: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Where are haystacks kept?"}]
# The whole conversation goes to the generator; the mock answers with the last message's text (it echoes).
CONVERSATION = """\
metadata:
  chat: {input: messages, output: llm.replies, model: echo-model}
components:
  llm:
    type: haystack.components.generators.chat.mock.MockChatGenerator
    init_parameters: {}
connections: []
"""


def chat_client(client: TestClient, token: str = "none") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{client.base_url}/v1", api_key=token, http_client=client, max_retries=0)


@pytest.fixture
def ai(client: TestClient) -> openai.OpenAI:
    for name, yaml in {"chat": CHAT, "greet": GREET, "echo": CONVERSATION}.items():
        assert client.put(f"/pipelines/{name}", content=yaml, headers=YAML).status_code == 201
    return chat_client(client)


def test_models_are_the_pipelines_that_declare_themselves(ai: openai.OpenAI) -> None:
    assert sorted(model.id for model in ai.models.list()) == ["chat", "echo-model"]  # greet declares nothing


def test_a_completion_answers_the_pipelines_reply(ai: openai.OpenAI) -> None:
    completion = ai.chat.completions.create(model="chat", messages=ASK)
    assert completion.choices[0].message.content == REPLY
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "chat"


def test_a_streamed_completion_sends_the_reply_in_chunks(ai: openai.OpenAI) -> None:
    stream = ai.chat.completions.create(model="chat", messages=ASK, stream=True)
    chunks = list(stream)
    pieces = [chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices]
    assert len([piece for piece in pieces if piece]) > 5  # a chunk per word
    assert "".join(pieces) == REPLY
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert len({chunk.id for chunk in chunks}) == 1


def test_a_conversation_input_receives_every_message(ai: openai.OpenAI) -> None:
    conversation: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Echo "}, {"type": "text", "text": "this"}]},
    ]
    completion = ai.chat.completions.create(model="echo-model", messages=conversation)
    assert completion.choices[0].message.content == "Echo this"


def test_what_a_pipeline_cannot_honour_gets_openai_shaped_errors(ai: openai.OpenAI, client: TestClient) -> None:
    with pytest.raises(openai.NotFoundError) as unknown:
        ai.chat.completions.create(model="greet", messages=ASK)
    assert unknown.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as many:
        ai.chat.completions.create(model="chat", messages=ASK, n=2)
    assert many.value.param == "n"
    with pytest.raises(openai.UnprocessableEntityError):
        ai.chat.completions.create(model="chat", messages=[{"role": "system", "content": "no user"}])
    # Nothing changed: the pipeline still answers.
    assert client.post("/pipelines/chat/run", json={"data": {"question": "q"}}).status_code == 200


def test_sampling_parameters_are_checked_as_openai_checks_them(ai: openai.OpenAI, client: TestClient) -> None:
    assert set(CHAT_PARAMETERS) <= set(ChatCompletionRequest.model_fields)  # each one a checked field
    with pytest.raises(openai.UnprocessableEntityError) as hot:
        ai.chat.completions.create(model="chat", messages=ASK, temperature=3)
    assert "temperature" in str(hot.value.body)
    with pytest.raises(openai.UnprocessableEntityError):
        ai.chat.completions.create(model="chat", messages=ASK, stop=["a", "b", "c", "d", "e"])
    # In range, they are accepted, whether the pipeline takes them (it does not list any) or not.
    completion = ai.chat.completions.create(model="chat", messages=ASK, temperature=0.2, stop="\n\n", seed=7)
    assert completion.choices[0].message.content == REPLY


@pytest.mark.parametrize(
    ("chat", "refusal"),
    [
        ("{input: messages, parameters: [temperature, api_key]}", "from: temperature"),
        ("{input: messages, parameters: temperature}", "must be a list"),
        ("{input: messages, parameters: [temperature], model: [x]}", "all strings"),
    ],
)
def test_a_chat_declaration_may_pass_on_only_sampling_parameters(client: TestClient, chat: str, refusal: str) -> None:
    declared = CONVERSATION.replace("{input: messages, output: llm.replies, model: echo-model}", chat)
    answer = client.put("/pipelines/echo", content=declared, headers=YAML)
    assert answer.status_code == 422, answer.text
    assert refusal in answer.json()["detail"]
    assert client.get("/pipelines/echo").status_code == 404  # nothing stored


def test_parameters_need_a_generation_kwargs_input(client: TestClient) -> None:
    prompt_only = """\
metadata:
  chat: {input: name, output: prompt.prompt, parameters: [temperature]}
components:
  prompt:
    type: haystack.components.builders.prompt_builder.PromptBuilder
    init_parameters: {template: "Hello {{ name }}"}
connections: []
"""
    answer = client.put("/pipelines/hello", content=prompt_only, headers=YAML)
    assert answer.status_code == 422, answer.text
    assert "generation_kwargs" in answer.json()["detail"]
    assert client.get("/pipelines/hello").status_code == 404


ADMIN, ADMIN_LINE = create_token("deployer", "admin")
CHATTER, CHATTER_LINE = create_token("chatter", "run@chat")


@pytest.fixture
def guarded(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"tokens": [ADMIN_LINE, CHATTER_LINE]}))) as client:
        for name, yaml in {"chat": CHAT, "echo": CONVERSATION}.items():
            headers = {**YAML, "Authorization": f"Bearer {ADMIN}"}
            assert client.put(f"/pipelines/{name}", content=yaml, headers=headers).status_code == 201
        yield client


def test_a_token_sees_and_runs_only_the_models_of_its_pipelines(guarded: TestClient) -> None:
    with pytest.raises(openai.AuthenticationError):
        chat_client(guarded, "wrong").models.list()
    ai = chat_client(guarded, CHATTER)
    assert [model.id for model in ai.models.list()] == ["chat"]
    assert ai.chat.completions.create(model="chat", messages=ASK).choices[0].message.content == REPLY
    with pytest.raises(openai.NotFoundError):
        ai.chat.completions.create(model="echo-model", messages=ASK)
    with pytest.raises(openai.NotFoundError):  # nor as a stream, which the run lane answers too
        ai.chat.completions.create(model="echo-model", messages=ASK, stream=True)
