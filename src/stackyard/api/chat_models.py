"""Which live pipelines are chat models for the OpenAI-compatible API, and how a conversation goes in and a reply
comes out.

A pipeline declares itself in its YAML metadata:

    metadata:
      chat:
        input: question     # the flat input that receives the conversation
        output: reply       # where the reply is in the run's result: a friendly output, or component.socket
        model: my-model     # optional: the model name clients use (default: the pipeline's name)
        parameters: [temperature, max_tokens]   # optional: request parameters passed on, in `generation_kwargs`

An input typed `list[ChatMessage]` receives the whole conversation; any other (a string) receives the text of the
last user message. The reply is a `ChatMessage`, a list of them (the first counts) or a string. Of the sampling
parameters a request may carry (`wire.definition.CHAT_PARAMETERS`), those the pipeline lists go to its
`generation_kwargs` input, which a chat generator merges over its own; the others are left to the pipeline's
settings. Pipelines without the declaration are not models.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from stackyard.errors import RequestNotValid
from stackyard.serving.registry import LiveRevision, Registry


@dataclass(frozen=True)
class ChatModel:
    """A live pipeline offered as a chat model."""

    model: str
    pipeline: str
    input: str
    output: str
    conversation: bool  # the input takes the list of messages (else the last user message's text)
    parameters: tuple[str, ...] = ()  # request parameters passed on in `generation_kwargs`

    def data(self, messages: list[dict[str, Any]], parameters: dict[str, Any] | None = None) -> dict[str, Any]:
        """The run's `data` for an OpenAI `messages` list and the request's sampling `parameters` (those it set)."""
        passed = {name: value for name, value in (parameters or {}).items() if name in self.parameters}
        data: dict[str, Any] = {"generation_kwargs": passed} if passed else {}
        if self.conversation:
            data[self.input] = [_haystack_message(message) for message in messages]
            return data
        users = [message for message in messages if message.get("role") == "user"]
        if not users:
            raise RequestNotValid(
                "The conversation has no user message.", errors=[{"location": "body.messages", "message": "no user"}]
            )
        data[self.input] = _text(users[-1].get("content"))
        return data

    def reply(self, result: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The reply's text and its metadata (usage, finish reason) in a run's result."""
        value: Any = result.get(self.output)
        if value is None and "." in self.output:
            component, socket = self.output.split(".", 1)
            value = result.get(component, {}).get(socket)
        if isinstance(value, list):
            value = value[0] if value else ""
        if isinstance(value, dict):
            return str(value.get("text") or ""), value.get("meta") or {}
        return ("" if value is None else str(value)), {}


def chat_model(live: LiveRevision) -> ChatModel | None:
    """The model `live` declares, or None."""
    metadata = live.info.definition.pipeline.get("metadata")
    declared = metadata.get("chat") if isinstance(metadata, dict) else None
    if not isinstance(declared, dict) or not isinstance(declared.get("input"), str):
        return None
    flat = live.info.inputs_schema["anyOf"][0].get("properties", {})
    schema = flat.get(declared["input"])
    if schema is None:
        return None
    output = declared.get("output")
    model = declared.get("model")
    return ChatModel(
        model=model if isinstance(model, str) and model else live.name,
        pipeline=live.name,
        input=declared["input"],
        output=output if isinstance(output, str) else next(iter(live.info.outputs), ""),
        conversation=schema.get("type") == "array",
        parameters=tuple(declared.get("parameters") or ()),  # names checked at deploy (`definitions.parsing`)
    )


def chat_models(registry: Registry) -> dict[str, ChatModel]:
    """Model name -> model, for every enabled live pipeline that declares one; a name two pipelines ask for goes
    to the first by pipeline name. Derived again only once the registry changed (each chat request asks)."""
    known = _DERIVED.get(registry)
    if known is not None and known[0] == registry.version:
        return known[1]
    models: dict[str, ChatModel] = {}
    for model in filter(None, map(chat_model, registry.enabled())):
        models.setdefault(model.model, model)
    _DERIVED[registry] = (registry.version, models)
    return models


_DERIVED: weakref.WeakKeyDictionary[Registry, tuple[int, dict[str, ChatModel]]] = weakref.WeakKeyDictionary()


def _text(content: Any) -> str:
    """An OpenAI message's content as text: a string, or the text parts of a list."""
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def _haystack_message(message: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat message in the form Haystack's `ChatMessage.from_dict` reads."""
    role = message.get("role")
    return {
        "role": role if role in ("system", "user", "assistant") else "user",
        "content": [{"text": _text(message.get("content"))}],
    }
