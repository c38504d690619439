"""A parsed definition as plain data: what the server keeps of a definition, and what a cell builds from.

`stackyard.cell.parsing` makes these from YAML text; nothing here reads YAML or imports Haystack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# Keys earlier Haystack releases wrote and Haystack 3 reads past: files that have them still deploy, with a warning.
# Any other key is refused, so that a misspelt key is not silently ignored.
IGNORED_KEYS = {
    "max_loops_allowed": "early Haystack 2 releases wrote it; its successor is 'max_runs_per_component' (default 100)",
}
# OpenAI chat request parameters a chat model may pass on to its pipeline (`metadata.chat.parameters`): sampling
# settings only, each checked by the API's request model; nothing that picks a model, an endpoint or tools.
CHAT_PARAMETERS = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "presence_penalty",
    "frequency_penalty",
    "stop",
    "seed",
)


@dataclass(frozen=True)
class SocketRef:
    """`component.socket`, as written in `inputs:`, `outputs:` and connections."""

    component: str
    socket: str

    def __str__(self) -> str:
        return f"{self.component}.{self.socket}"


@dataclass(frozen=True)
class ServingHints:
    """`metadata.serving`: how the definition asks to be served (`docs/architecture.md`, placement).

    `isolated`: cells of its own, shared with no other pipeline. `processes`: how many cells serve it (implies
    `isolated`). `max_input_chars`: the longest string a run may send in any input (the server's
    `STACKYARD_MAX_INPUT_CHARS` otherwise).
    """

    isolated: bool = False
    processes: int | None = None
    max_input_chars: int | None = None

    @property
    def own_cells(self) -> bool:
        return self.isolated or self.processes is not None


@dataclass(frozen=True)
class Definition:
    """A parsed definition: the text exactly as submitted, the dict Haystack loads, and the Hayhooks sections.

    An output maps to one socket or to several; a run answers with the first of them that produced a value (the
    branch that ran). `streaming_components` is what the file asks to stream: `"all"`, the names, or None.
    """

    text: str
    pipeline: dict[str, Any]
    inputs: dict[str, tuple[SocketRef, ...]] = field(default_factory=dict)
    outputs: dict[str, tuple[SocketRef, ...]] = field(default_factory=dict)
    streaming_components: tuple[str, ...] | Literal["all"] | None = None
    ignored_keys: tuple[str, ...] = ()
    run_time_templates: tuple[str, ...] = ()  # components whose `template` a run may set
    serving: ServingHints = field(default_factory=ServingHints)

    @property
    def component_names(self) -> list[str]:
        return list(self.pipeline.get("components", {}))

    @property
    def warnings(self) -> list[str]:
        """What a deploy should tell its author: the keys that are accepted but have no effect."""
        return [
            f"Top-level key '{key}' has no effect: Haystack 3 reads past it ({IGNORED_KEYS[key]}). "
            "Remove it to silence this warning."
            for key in self.ignored_keys
        ]
