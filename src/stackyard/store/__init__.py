"""The definition store: the source of truth, behind one Protocol with a SQLite and a PostgreSQL implementation."""

from __future__ import annotations

from stackyard.store.protocol import ChangeNotifier, ChangeProbe, DefinitionStore
from stackyard.store.records import (
    FORGET_REPLICAS_AFTER,
    AuditEntry,
    AuditQuery,
    Change,
    Expectation,
    Feedback,
    FeedbackCount,
    LoadedPipeline,
    Outcome,
    PipelineRecord,
    ReplicaRecord,
    RevisionRecord,
    WriteResult,
)


def open_store(url: str, *, keep_revisions: int | None = None, max_pipelines: int | None = None) -> DefinitionStore:
    """Make the store that `url` names, without connecting yet: `sqlite:///path.db` or `postgresql://...`.

    `keep_revisions` caps the revisions kept per pipeline (the oldest go first; the live one always stays);
    `max_pipelines` the pipelines stored (creating one more is refused; updates are not).
    """
    if url.startswith("sqlite://"):
        from stackyard.store.sqlite import SQLiteStore

        return SQLiteStore.from_url(url, keep_revisions=keep_revisions, max_pipelines=max_pipelines)
    if url.startswith(("postgresql://", "postgres://")):
        from stackyard.store.postgres import PostgresStore  # type: ignore[import-not-found,import-untyped,unused-ignore]

        store: DefinitionStore = PostgresStore(url, keep_revisions=keep_revisions, max_pipelines=max_pipelines)
        return store
    raise ValueError(f"Unsupported store URL {url.split(':', 1)[0]!r}: use sqlite:///path.db or postgresql://...")


__all__ = [
    "FORGET_REPLICAS_AFTER",
    "AuditEntry",
    "AuditQuery",
    "Change",
    "ChangeNotifier",
    "ChangeProbe",
    "DefinitionStore",
    "Expectation",
    "Feedback",
    "FeedbackCount",
    "LoadedPipeline",
    "Outcome",
    "PipelineRecord",
    "ReplicaRecord",
    "RevisionRecord",
    "WriteResult",
    "open_store",
]
