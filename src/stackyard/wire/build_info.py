"""What the server knows of a build that lives in cells: enough to describe it, check a change against it, place
it and route runs to it, without holding any component."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from stackyard.wire.definition import Definition


def key_of(yaml_text: str) -> str:
    """The key of the build of `yaml_text` in every cell: revisions with the same YAML share one build."""
    return hashlib.sha256(yaml_text.encode()).hexdigest()


@dataclass(frozen=True)
class BuildInfo:
    """Made by the cell that built it (`cell.simulation.describe`)."""

    key: str  # the build's key in every cell: the hash of its YAML
    definition: Definition
    inputs_schema: dict[str, Any]
    outputs_schema: dict[str, Any]
    accepted_inputs: tuple[str, ...]  # flat input names a caller may use
    mandatory_inputs: tuple[str, ...]
    outputs: tuple[str, ...]  # what a run returns by default
    # The indexes of the in-memory document stores it holds: their documents live in the cells that built it, so
    # it is placed with exactly the pipelines that share them (`serving.placement`).
    in_memory_indexes: tuple[str, ...] = ()
    # What building it added to the cell's resident memory, in bytes: a pipeline that loads a model gets cells of
    # its own, so the model is held once per cell that serves it and no small pipeline pays for it.
    grown_bytes: int = 0
    # A component of it runs natively async (a chat generator's HTTP call): its runs are awaited on the cell's
    # event loop, holding no thread while they wait.
    runs_async: bool = False

    @property
    def pinned(self) -> bool:
        """Holds an in-memory document store."""
        return bool(self.in_memory_indexes)
