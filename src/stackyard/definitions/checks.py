"""Checking a candidate definition against the live one without storing or swapping anything.

`validate` builds the candidate in a cell on the same parse-and-build path as a deploy (`cell.simulation`), so a
definition that validates deploys; what a caller of the live pipeline would notice is worked out here, from the
two `BuildInfo`s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stackyard.wire.build_info import BuildInfo
from stackyard.wire.findings import Finding, Simulation, problem_of

__all__ = ["BreakingChange", "Finding", "Report", "Simulation", "breaking_changes", "problem_of", "report_for"]


@dataclass(frozen=True)
class BreakingChange:
    kind: str  # input-removed, output-removed, mandatory-input-added, ignored-key
    name: str
    message: str


@dataclass(frozen=True)
class Report:
    valid: bool
    problems: list[Finding] = field(default_factory=list)
    warnings: list[BreakingChange] = field(default_factory=list)
    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    simulation: Simulation | None = None


def breaking_changes(live: BuildInfo, candidate: BuildInfo) -> list[BreakingChange]:
    """What a caller of the live pipeline would notice: inputs or outputs gone, a new mandatory input."""
    warnings: list[BreakingChange] = []
    for name in sorted(set(live.accepted_inputs) - set(candidate.accepted_inputs)):
        warnings.append(
            BreakingChange("input-removed", name, f"Input '{name}' is accepted now and would not be any more.")
        )
    for name in sorted(set(candidate.mandatory_inputs) - set(live.mandatory_inputs)):
        warnings.append(
            BreakingChange(
                "mandatory-input-added", name, f"Input '{name}' would become mandatory; current callers omit it."
            )
        )
    for name in sorted(set(live.outputs) - set(candidate.outputs)):
        warnings.append(
            BreakingChange("output-removed", name, f"Output '{name}' is returned now and would not be any more.")
        )
    return warnings


def ignored_keys(candidate: BuildInfo) -> list[BreakingChange]:
    """The keys of the candidate that Haystack 3 reads past, as warnings."""
    definition = candidate.definition
    return [
        BreakingChange("ignored-key", key, message)
        for key, message in zip(definition.ignored_keys, definition.warnings, strict=True)
    ]


def report_for(candidate: BuildInfo, live: BuildInfo | None) -> Report:
    return Report(
        valid=True,
        warnings=ignored_keys(candidate) + (breaking_changes(live, candidate) if live is not None else []),
        inputs=candidate.inputs_schema,
        outputs=candidate.outputs_schema,
    )
