"""What a cell finds in a definition it examined: problems located in the YAML, and a simulated run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stackyard.errors import StackyardError


@dataclass(frozen=True)
class Finding:
    message: str
    title: str
    component: str | None = None
    line: int | None = None
    column: int | None = None


@dataclass(frozen=True)
class Simulation:
    result: dict[str, Any] | None
    timings_ms: dict[str, float]
    total_ms: float
    error: Finding | None = None


def problem_of(error: StackyardError) -> Finding:
    extensions = error.extensions
    return Finding(
        message=error.detail,
        title=error.title,
        component=extensions.get("component"),
        line=extensions.get("line"),
        column=extensions.get("column"),
    )
