"""The definition store's interface: the source of truth every process converges to.

Each implementation passes the shared contract suite in `tests/store/contract.py`. Every method is blocking and
thread-safe; the server calls them from worker threads, never on the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from stackyard.store.records import (
    AuditEntry,
    AuditQuery,
    Change,
    Expectation,
    Feedback,
    FeedbackCount,
    PipelineRecord,
    ReplicaRecord,
    RevisionRecord,
    WriteResult,
)


class DefinitionStore(Protocol):
    """Durable, transactional storage of pipeline definitions with a store-wide change generation."""

    kind: str
    """A short word for status pages: 'sqlite', 'postgresql'."""

    def open(self) -> None:
        """Connect and create or migrate the schema. Refuses a database written by a newer Stackyard."""

    def close(self) -> None:
        """Release connections. The store may not be used afterwards."""

    def get(self, name: str) -> PipelineRecord | None:
        """The live definition of `name`, or None when it does not exist or was deleted."""

    def pipelines(self) -> list[PipelineRecord]:
        """Every pipeline that exists, ordered by name."""

    def put(self, change: Change, expect: Expectation | None = None, audit: AuditEntry | None = None) -> WriteResult:
        """Make `change` the live revision of `change.name`, in one transaction.

        A change identical to the live revision stores nothing and answers `UNCHANGED` with the live record.
        A change of `enabled` alone switches serving without a new revision. Otherwise it appends revision max+1
        (numbering continues across deletes), makes it live, sets `enabled` when the change says, and bumps the
        generation once. `expect` is checked inside the same transaction; a stale one raises `RevisionConflict`.
        `audit`, when given, is the change's audit entry as the caller knows it (actor, action, detail); the store
        completes it (`AuditEntry.completed`) and writes it in the same transaction, for every write method: a change
        is committed together with its audit entry, or neither is.
        """

    def delete(self, name: str, expect: Expectation | None = None, audit: AuditEntry | None = None) -> WriteResult:
        """Mark `name` deleted (its history stays) and bump the generation; `PipelineNotFound` when absent."""

    def generation(self) -> int:
        """The store-wide change counter: it grows by one with every committed change."""

    def changes_since(self, generation: int) -> list[PipelineRecord]:
        """Every pipeline, deleted ones included, whose last change has a generation above `generation`."""

    def apply(self, changes: list[Change], deletes: list[str], audit: AuditEntry | None = None) -> list[WriteResult]:
        """Put every change and delete every name in ONE transaction: all of it is committed, or none of it.

        Answers one result per change, then one per delete, in order. An unknown name in `deletes` raises
        `PipelineNotFound` and nothing is committed.
        """

    def revisions(self, name: str, limit: int, offset: int) -> tuple[list[RevisionRecord], int]:
        """A page of the revisions of `name` (deleted pipelines included), newest first, and how many there are."""

    def revision(self, name: str, number: int) -> RevisionRecord | None:
        """One revision of `name`, or None."""

    def record_audit(self, entry: AuditEntry) -> None:
        """Append an audit entry in a transaction of its own: refusals, and actions that changed nothing."""

    def audit(self, query: AuditQuery) -> list[AuditEntry]:
        """Audit entries matching `query`, newest first."""

    def beat(self, replica: ReplicaRecord) -> None:
        """Record `replica`'s heartbeat (insert or replace; the store sets `seen_at`). Forgets long-gone replicas."""

    def replicas(self, max_age: float) -> list[ReplicaRecord]:
        """Replicas whose last heartbeat is at most `max_age` seconds old, ordered by id."""

    def leave(self, replica_id: str) -> None:
        """Forget a replica that shuts down cleanly."""

    def add_feedback(self, feedback: Feedback) -> Feedback:
        """Store a verdict; answers it with the `id` and `created_at` the store gave it."""

    def feedback(self, pipeline: str | None, limit: int, offset: int) -> list[Feedback]:
        """A page of the verdicts on `pipeline` (None: on every pipeline), newest first."""

    def delete_feedback(self, pipeline: str | None, feedback_id: int | None = None) -> int:
        """Delete one verdict (`feedback_id`) or all of `pipeline`'s (None: everyone's); answers how many went."""

    def delete_feedback_ids(self, pipeline: str, feedback_ids: Sequence[int]) -> int:
        """Delete `pipeline`'s verdicts with these ids, in one transaction; answers how many went."""

    def feedback_summary(self, pipeline: str) -> list[FeedbackCount]:
        """Counts of verdicts on `pipeline` per revision, oldest revision first (unknown revision last)."""


@runtime_checkable
class ChangeProbe(Protocol):
    """A store that can tell, cheaply and without blocking, whether anything may have been committed (SQLite)."""

    def change_mark(self) -> int | None:
        """A value that differs after any commit by any process; None when it cannot tell. Called on the event loop,
        so it must not block: the sync compares it with the mark of its last convergence and skips an unchanged store.
        """
        ...


@runtime_checkable
class ChangeNotifier(Protocol):
    """A store that can push changes (PostgreSQL LISTEN/NOTIFY); stores without it are only polled."""

    def watch(self, wake: Callable[[], None]) -> None:
        """Call `wake()`, from another thread, after any process commits a change; stopped by `close()`."""
