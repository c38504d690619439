"""A readable view of a run's result (`stackyard run -o pretty`): documents, answers, replies and text."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from stackyard.commands.render import console

PREVIEW_CHARS = 300


def _is_document(value: Any) -> bool:
    return isinstance(value, Mapping) and "content" in value and "id" in value


def _is_answer(value: Any) -> bool:
    return isinstance(value, Mapping) and "data" in value and "query" in value


def _is_message(value: Any) -> bool:
    return isinstance(value, Mapping) and "text" in value and "role" in value


def _preview(text: Any) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


def _document(index: int, document: Mapping[str, Any]) -> None:
    score = f" score {document['score']:.3f}" if isinstance(document.get("score"), int | float) else ""
    console.print(f"    [{index}]{score} [dim]{document['id']}[/]", highlight=False)
    console.print(f"        {_preview(document.get('content') or '')}", highlight=False, markup=False)


def _text(text: str, style: str | None = None) -> None:
    for line in text.splitlines() or [""]:
        console.print(f"    {line}", style=style, highlight=False, markup=False)


def _value(value: Any) -> None:
    if isinstance(value, str):
        _text(value)
    elif value == []:
        console.print("    (none)", style="dim")
    elif isinstance(value, list) and value and all(_is_document(item) for item in value):
        for index, document in enumerate(value, start=1):
            _document(index, document)
    elif isinstance(value, list) and value and all(_is_answer(item) for item in value):
        for answer in value:
            _text(str(answer["data"]), style="bold")
            sources = answer.get("documents") or ([answer["document"]] if answer.get("document") else [])
            for index, document in enumerate(sources, start=1):
                if _is_document(document):
                    _document(index, document)
    elif isinstance(value, list) and value and all(_is_message(item) for item in value):
        for message in value:
            console.print(f"    [bold]{message['role']}:[/]", highlight=False)
            _text(str(message["text"]))
    else:
        _text(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def print_run(title: str, result: Mapping[str, Any]) -> None:
    """Each output socket under its `component.socket` heading, its value shown for what it is."""
    console.print(f"[dim]{title}[/]", highlight=False)
    for component, outputs in result.items():
        sockets = outputs if isinstance(outputs, Mapping) else {"": outputs}
        for socket, value in sockets.items():
            console.print(f"[bold cyan]{component}.{socket}[/]" if socket else f"[bold cyan]{component}[/]")
            _value(value)
