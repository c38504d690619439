"""The one place Stackyard leans on Haystack names that are not its public API.

Each is wrapped here with what to do without it, and `tests/test_haystack_internals.py` fails loudly when a Haystack
release renames or changes one, so an upgrade cannot degrade the server silently.
"""

from __future__ import annotations

from typing import Any

try:  # Haystack's own conversion of its dataclasses (Document, ChatMessage...) into pydantic-describable types.
    from haystack.tools.parameters_schema_utils import _resolve_type
except ImportError:  # pragma: no cover - the test says so; without it, types are described as they are

    def _resolve_type(_type: Any) -> Any:
        return _type


def describable_type(expected: Any) -> Any:
    """`expected` as a type pydantic can describe in JSON Schema (Haystack's dataclasses as plain models)."""
    return _resolve_type(expected)


def shares_its_index(store: Any) -> bool:
    """Whether an `InMemoryDocumentStore` keeps its documents in the process-global storage of its index.

    Haystack's `_shared` flag says so; a store without it is taken to share (the safe answer: it gets the index's
    lock, which covers every instance on that index).
    """
    return bool(getattr(store, "_shared", True))


def max_runs_per_component(pipeline: Any) -> Any:
    """The cap on runs per component a built pipeline holds (a SuperComponent's, a PipelineTool's).

    Haystack keeps it in `_max_runs_per_component`; without it, the pipeline's serialized form says it (slower: that
    serializes every component).
    """
    if hasattr(pipeline, "_max_runs_per_component"):
        return pipeline._max_runs_per_component
    return pipeline.to_dict().get("max_runs_per_component")
