"""The named jobs a server sends its cells: a closed set, each plain data, so nothing the server sends can make a
cell call what it was not written to call (no pickled callables cross).

Every job travels in an `Envelope` that names it (`id`, unique per cell connection), the build it works on
(`key`, the hash of the YAML) and its deadline on the system's monotonic clock, which every process on the host
shares: a cell stops waiting for work past it.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from stackyard.errors import InvalidRequest

# Haystack evaluates filters recursively, per document: a filter nested deeper than any query needs only costs the
# store's time (or Python's recursion limit). JSON levels, so 32 levels of logical conditions.
MAX_FILTER_DEPTH = 64


class Prepare(msgspec.Struct, tag="prepare", frozen=True):
    """Parse, check, build and warm up `yaml`, keep it under the envelope's key; answers its `BuildInfo`."""

    yaml: str


class Forget(msgspec.Struct, tag="forget", frozen=True):
    """Close and drop the builds under `keys` (revisions no longer served here)."""

    keys: tuple[str, ...]


class Run(msgspec.Struct, tag="run", frozen=True):
    """One run of the build: inputs flat or per component; answers the result as JSON. With `stream`, each
    `StreamingChunk` goes to the server as it is made, ahead of the answer. `scope` (pipeline, revision) is what
    its measurements are reported under; `spans`: record Haystack's spans for the server's tracer."""

    data: dict[str, Any]
    include_outputs_from: list[str] | None = None
    stream: bool = False
    scope: tuple[str, int] | None = None
    spans: bool = False
    max_input_chars: int | None = None


class Query(msgspec.Struct, tag="query", frozen=True):
    """Haystack 1.x `/query` on the build: answers [debugged components, the whole result, its plain part]."""

    query: str
    params: dict[str, Any]
    debug: bool = False
    scope: tuple[str, int] | None = None


class UploadedFile(msgspec.Struct, frozen=True):
    file_name: str
    content_type: str
    data: bytes
    meta: dict[str, Any] = {}


class Index(msgspec.Struct, tag="index", frozen=True):
    """Run the build once per uploaded file: answers [the input that took the files, a result per file]."""

    uploads: list[UploadedFile]
    params: dict[str, Any]
    scope: tuple[str, int] | None = None


class Documents(msgspec.Struct, tag="documents", frozen=True):
    """Read or delete the documents of one of the build's stores. `pipeline` names the pipeline in messages.
    Answers [the component whose store it was, the value]: (total, page) for search, a count otherwise."""

    action: Literal["search", "count", "delete"]
    pipeline: str
    component: str | None = None
    filters: dict[str, Any] | None = None
    offset: int = 0
    limit: int = 10
    with_embedding: bool = False

    def __post_init__(self) -> None:
        if self.filters is not None:
            check_depth(self.filters, MAX_FILTER_DEPTH, "filters")


def check_depth(value: Any, limit: int, what: str) -> None:
    """Refuse `value` (plain JSON data) if its lists and objects nest deeper than `limit` (400)."""
    level: list[tuple[Any, int]] = [(value, 1)]
    while level:
        item, depth = level.pop()
        if depth > limit:
            raise InvalidRequest(f"The {what} nest more than {limit} levels deep; flatten them.")
        if isinstance(item, dict):
            level.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list | tuple):
            level.extend((child, depth + 1) for child in item)


class Examine(msgspec.Struct, tag="examine", frozen=True):
    """`POST /validate`: build `yaml` as a throwaway (never kept), describe it, and simulate one run of it when
    `sample_input` is given; answers [BuildInfo, Simulation or None]."""

    yaml: str
    sample_input: dict[str, Any] | None = None
    allow_writes: bool = False


class Export(msgspec.Struct, tag="export", frozen=True):
    """The built pipeline as Haystack serializes it (`Pipeline.to_dict()`): what it made of the definition."""


class Cancel(msgspec.Struct, tag="cancel", frozen=True):
    """Stop the job `job` (its caller left, or its deadline passed); a cell that cannot stop it asks to retire."""

    job: int


Job = Prepare | Forget | Run | Query | Index | Documents | Examine | Export | Cancel


class Envelope(msgspec.Struct, frozen=True, array_like=True):
    id: int
    job: Job
    key: str | None = None
    deadline: float | None = None  # time.monotonic() past which nobody waits for the answer
