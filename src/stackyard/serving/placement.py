"""Which cells serve a pipeline: the rule, in one place (`docs/architecture.md`, "Placement").

1. A definition that asks (`metadata.serving: {isolated: true}` or `{processes: N}`) gets N cells of its own
   (default 1), shared with no other pipeline.
2. A pipeline that holds an in-memory document store lives in one cell with exactly the pipelines that use the same
   indexes: their documents are in that process, so ending it can lose only those indexes. A pipeline whose
   indexes overlap another group's without being the same is refused (its documents would be split).
3. A pipeline whose build grew its cell by `MODEL_BYTES` or more holds a model: it gets a cell of its own, so the
   model is loaded once per cell that serves it and no small pipeline pays for its memory or its crashes.
4. Every other pipeline is small: it is built in each of the shared cells (`STACKYARD_RUN_WORKERS`), and its runs
   go to the least busy of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from stackyard.errors import InvalidDefinition
from stackyard.wire.build_info import BuildInfo

SHARED = "shared"
MODEL_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class GroupSpec:
    """A group of cells: its name, how many cells it has, and the compute threads each cell gets."""

    name: str
    size: int
    own: bool  # serves one pipeline only (ended with it)


def place(name: str, info: BuildInfo, shared_size: int, cores: int) -> GroupSpec:
    """The group that serves pipeline `name` built as `info`."""
    hints = info.definition.serving
    if hints.own_cells:
        return GroupSpec(f"pipeline:{name}", hints.processes or 1, own=True)
    if info.in_memory_indexes:
        return GroupSpec("indexes:" + ",".join(info.in_memory_indexes), 1, own=False)
    if info.grown_bytes >= MODEL_BYTES:
        return GroupSpec(f"pipeline:{name}", 1, own=True)
    return GroupSpec(SHARED, shared_size, own=False)


def compute_threads(spec: GroupSpec, cores: int) -> int:
    """torch / OpenMP threads per cell: a group's cells split the cores between them."""
    return max(1, cores // max(1, spec.size))


def check_indexes(spec: GroupSpec, groups: dict[str, tuple[str, ...]]) -> None:
    """Refuse a group of in-memory indexes that overlaps another without being it (`groups`: name -> indexes of
    the index groups that exist)."""
    if not spec.name.startswith("indexes:"):
        return
    wanted = set(spec.name.removeprefix("indexes:").split(","))
    for other, indexes in groups.items():
        if other != spec.name and wanted & set(indexes):
            shared = ", ".join(sorted(wanted & set(indexes)))
            raise InvalidDefinition(
                f"The pipeline's in-memory indexes ({', '.join(sorted(wanted))}) overlap those of pipelines served "
                f"together already ({', '.join(indexes)}: index {shared}). Pipelines sharing an in-memory index "
                "must use the same set of indexes, so that its documents live in one process; use the same indexes, "
                "or a document store with a server (docs/shared-document-stores.md).",
                rule="in-memory-index-groups",
            )
