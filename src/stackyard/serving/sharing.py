"""In-memory document stores live inside one process: the warning for servers that run several.

With `--workers N` or several replicas, documents written through one process are invisible to the others, so a
query answered by another process does not find them. The server cannot fix that (the store is the user's choice);
it says so wherever it matters: validate and deploy answers, `GET /status` and upload answers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import anyio

from stackyard.settings import Settings
from stackyard.store import DefinitionStore
from stackyard.wire.build_info import BuildInfo

log = logging.getLogger(__name__)
DOCS_PAGE = "docs/shared-document-stores.md"


def in_memory_indexes(builds: Iterable[BuildInfo]) -> list[str]:
    """The in-memory indexes that the components of `builds` hold, each once."""
    return sorted({index for build in builds for index in build.in_memory_indexes})


async def process_count(settings: Settings, store: DefinitionStore) -> int:
    """How many server processes share the pipelines: this server's workers, or the live replicas, if more."""
    try:
        replicas = len(await anyio.to_thread.run_sync(store.replicas, settings.replica_timeout))
    except Exception as error:  # a store outage must not fail the answer that carries the warning
        log.warning("replica count unavailable", extra={"error": type(error).__name__})
        replicas = 0
    return max(settings.workers, replicas)


def memory_warning(indexes: list[str], processes: int) -> list[str]:
    """The warning for `indexes` held in memory by each of `processes` processes (none when there is no risk)."""
    if not indexes or processes <= 1:
        return []
    names = ", ".join(repr(index) for index in indexes)
    return [
        f"In-memory document store (index {names}) with {processes} server processes: each process holds its own "
        f"copy, so documents written through one process are not found by queries answered by another. Use a "
        f"shared document store (Elasticsearch, OpenSearch, pgvector, Qdrant); see {DOCS_PAGE}."
    ]


async def warnings_for(settings: Settings, store: DefinitionStore, builds: Iterable[BuildInfo]) -> list[str]:
    """The multi-process warning for `builds` on this server, if it applies."""
    indexes = in_memory_indexes(builds)
    if not indexes:
        return []
    return memory_warning(indexes, await process_count(settings, store))
