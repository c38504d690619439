"""The definition store's logic, written once for every SQL database; each dialect fills in a few hooks.

The SQLite and PostgreSQL stores keep the same tables and answer the same contract, so what a put, a delete or a
heartbeat does is here. A dialect supplies its connections and transactions (how it serializes writers), its
clock (a bound timestamp, or the database's own), how it stores JSON and times, and what else a commit does (PostgreSQL
notifies the other replicas). Queries use `%s` placeholders; a dialect with another style translates them.
Booleans are bound as Python bools and written `TRUE`/`FALSE`/`NOT x`, which SQLite (3.23+) reads as 1 and 0.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from stackyard.errors import PipelineNotFound, TooManyPipelines
from stackyard.store.records import (
    FORGET_REPLICAS_AFTER,
    AuditEntry,
    AuditQuery,
    Change,
    Expectation,
    Feedback,
    FeedbackCount,
    Outcome,
    PipelineRecord,
    ReplicaRecord,
    RevisionRecord,
    WriteResult,
    as_json_labels,
    pipelines_from_json,
    pipelines_to_json,
)

_SELECT = """
    SELECT p.name, p.live_revision, r.yaml, r.description, r.labels, p.enabled, p.deleted,
           p.created_at, p.updated_at, p.generation
    FROM pipelines p JOIN revisions r ON r.name = p.name AND r.number = p.live_revision
"""
_SELECT_REVISION = "SELECT name, number, yaml, description, labels, author, message, created_at FROM revisions"
_SELECT_AUDIT = "SELECT id, at, actor, action, pipeline, outcome, from_revision, to_revision, detail FROM audit"
_SELECT_REPLICA = "SELECT id, host, pid, started_at, seen_at, generation, pipelines FROM replicas"
_GENERATION = "SELECT value FROM counters WHERE name = 'generation'"
_FEEDBACK_COLUMNS = "id, pipeline, revision, query, answer, document_id, is_correct, comment, meta, actor, created_at"
_IDS_PER_STATEMENT = 500  # well within SQLite's bound on the placeholders of one statement


class Rows(Protocol):
    """What an executed statement answers, in both drivers (`sqlite3.Cursor`, `psycopg.Cursor`)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> Sequence[Any]: ...


class Stamp(NamedTuple):
    """A point in time as SQL: the expression that yields it and the parameters that expression takes."""

    sql: str
    params: tuple[object, ...] = ()


ConnT = TypeVar("ConnT")


class RelationalStore(ABC, Generic[ConnT]):
    """Every `DefinitionStore` method on the shared schema; subclasses own connections, migrations and dialect."""

    keep_revisions: int | None
    max_pipelines: int | None

    # -- dialect hooks ------------------------------------------------------------------------------------------

    @abstractmethod
    def _read(self) -> AbstractContextManager[ConnT]:
        """A connection to read from."""

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[ConnT]:
        """A transaction for a write that does not change pipelines (audit, heartbeats, feedback)."""

    @abstractmethod
    def _write(self) -> AbstractContextManager[ConnT]:
        """A transaction that holds the store-wide write lock, for changes that bump the generation."""

    @abstractmethod
    def _execute(self, conn: ConnT, query: str, params: Sequence[object] = ()) -> Rows:
        """Run one statement written with `%s` placeholders."""

    @abstractmethod
    def _change_time(self) -> Stamp:
        """When a pipeline change happens: one call's value is written to every row the change touches."""

    @abstractmethod
    def _clock_time(self) -> Stamp:
        """The instant an audit entry or a verdict is recorded."""

    @abstractmethod
    def _seen_time(self, ago: float = 0.0) -> Stamp:
        """The heartbeat time (`replicas.seen_at`) `ago` seconds before now."""

    @abstractmethod
    def _encode_json(self, value: object) -> object:
        """A JSON value as a parameter."""

    @abstractmethod
    def _decode_json(self, value: Any) -> Any:
        """A JSON column as Python values."""

    @abstractmethod
    def _encode_time(self, value: datetime) -> object:
        """A timestamp as a parameter."""

    @abstractmethod
    def _decode_time(self, value: Any) -> datetime:
        """A timestamp column as an aware datetime."""

    @abstractmethod
    def _decode_seen(self, value: Any) -> datetime:
        """`replicas.seen_at` as an aware datetime."""

    def _changed(self, conn: ConnT, generation: int) -> None:
        """Called inside a write transaction that takes `generation`; by default other processes just poll."""

    # -- pipelines ----------------------------------------------------------------------------------------------

    def get(self, name: str) -> PipelineRecord | None:
        with self._read() as conn:
            row = self._execute(conn, _SELECT + " WHERE p.name = %s AND NOT p.deleted", (name,)).fetchone()
        return self._record(row) if row else None

    def pipelines(self) -> list[PipelineRecord]:
        with self._read() as conn:
            rows = self._execute(conn, _SELECT + " WHERE NOT p.deleted ORDER BY p.name").fetchall()
        return [self._record(row) for row in rows]

    def generation(self) -> int:
        with self._read() as conn:
            return self._generation(conn)

    def changes_since(self, generation: int) -> list[PipelineRecord]:
        with self._read() as conn:
            query = _SELECT + " WHERE p.generation > %s ORDER BY p.generation"
            rows = self._execute(conn, query, (generation,)).fetchall()
        return [self._record(row) for row in rows]

    def put(self, change: Change, expect: Expectation | None = None, audit: AuditEntry | None = None) -> WriteResult:
        with self._write() as conn:
            return self._audited(conn, self._put(conn, change, expect), audit)

    def delete(self, name: str, expect: Expectation | None = None, audit: AuditEntry | None = None) -> WriteResult:
        with self._write() as conn:
            return self._audited(conn, self._delete(conn, name, expect), audit)

    def apply(self, changes: list[Change], deletes: list[str], audit: AuditEntry | None = None) -> list[WriteResult]:
        with self._write() as conn:
            results = [self._put(conn, change, None) for change in changes]
            results.extend(self._delete(conn, name, None) for name in deletes)
            return [self._audited(conn, result, audit) for result in results]

    def revisions(self, name: str, limit: int, offset: int) -> tuple[list[RevisionRecord], int]:
        with self._read() as conn:
            total = int(self._execute(conn, "SELECT count(*) FROM revisions WHERE name = %s", (name,)).fetchone()[0])
            query = _SELECT_REVISION + " WHERE name = %s ORDER BY number DESC LIMIT %s OFFSET %s"
            rows = self._execute(conn, query, (name, limit, offset)).fetchall()
        return [self._revision(row) for row in rows], total

    def revision(self, name: str, number: int) -> RevisionRecord | None:
        with self._read() as conn:
            query = _SELECT_REVISION + " WHERE name = %s AND number = %s"
            row = self._execute(conn, query, (name, number)).fetchone()
        return self._revision(row) if row else None

    # -- audit --------------------------------------------------------------------------------------------------

    def record_audit(self, entry: AuditEntry) -> None:
        with self._transaction() as conn:
            self._insert_audit(conn, entry)

    def _audited(self, conn: ConnT, result: WriteResult, audit: AuditEntry | None) -> WriteResult:
        if audit is not None:
            self._insert_audit(conn, audit.completed(result))
        return result

    def _insert_audit(self, conn: ConnT, entry: AuditEntry) -> None:
        at = self._clock_time()
        self._execute(
            conn,
            "INSERT INTO audit (at, actor, action, pipeline, outcome, from_revision, to_revision, detail)"  # noqa: S608 (the dialect's fixed clock)
            f" VALUES ({at.sql}, %s, %s, %s, %s, %s, %s, %s)",
            (
                *at.params,
                entry.actor,
                entry.action,
                entry.pipeline,
                entry.outcome,
                entry.from_revision,
                entry.to_revision,
                entry.detail,
            ),
        )

    def audit(self, query: AuditQuery) -> list[AuditEntry]:
        clauses, params = _audit_filter(query)
        # `clauses` holds fixed column names and placeholders only; every value goes in as a parameter.
        sql = f"{_SELECT_AUDIT} {clauses} ORDER BY id DESC LIMIT %s OFFSET %s"
        with self._read() as conn:
            rows = self._execute(conn, sql, (*params, query.limit, query.offset)).fetchall()
        return [self._audit_entry(row) for row in rows]

    # -- replicas -----------------------------------------------------------------------------------------------

    def beat(self, replica: ReplicaRecord) -> None:
        seen, forget = self._seen_time(), self._seen_time(ago=FORGET_REPLICAS_AFTER)
        with self._transaction() as conn:
            self._execute(
                conn,
                "INSERT INTO replicas (id, host, pid, started_at, seen_at, generation, pipelines)"  # noqa: S608 (the dialect's fixed clock)
                f" VALUES (%s, %s, %s, %s, {seen.sql}, %s, %s)"
                " ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid,"
                " started_at = excluded.started_at, seen_at = excluded.seen_at,"
                " generation = excluded.generation, pipelines = excluded.pipelines",
                (
                    replica.id,
                    replica.host,
                    replica.pid,
                    self._encode_time(replica.started_at),
                    *seen.params,
                    replica.generation,
                    self._encode_json(pipelines_to_json(replica.pipelines)),
                ),
            )
            self._execute(conn, f"DELETE FROM replicas WHERE seen_at < {forget.sql}", forget.params)  # noqa: S608 (fixed clock)

    def replicas(self, max_age: float) -> list[ReplicaRecord]:
        since = self._seen_time(ago=max_age)
        with self._read() as conn:
            query = f"{_SELECT_REPLICA} WHERE seen_at >= {since.sql} ORDER BY id"
            rows = self._execute(conn, query, since.params).fetchall()
        return [self._replica(row) for row in rows]

    def leave(self, replica_id: str) -> None:
        with self._transaction() as conn:
            self._execute(conn, "DELETE FROM replicas WHERE id = %s", (replica_id,))

    # -- feedback -----------------------------------------------------------------------------------------------

    def add_feedback(self, feedback: Feedback) -> Feedback:
        with self._transaction() as conn:
            at = self._clock_time()
            row = self._execute(
                conn,
                "INSERT INTO feedback (pipeline, revision, query, answer, document_id, is_correct, comment, meta,"  # noqa: S608 (fixed text)
                f" actor, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, {at.sql})"
                f" RETURNING {_FEEDBACK_COLUMNS}",
                (
                    feedback.pipeline,
                    feedback.revision,
                    feedback.query,
                    feedback.answer,
                    feedback.document_id,
                    feedback.is_correct,
                    feedback.comment,
                    self._encode_json(feedback.meta),
                    feedback.actor,
                    *at.params,
                ),
            ).fetchone()
        return self._feedback(row)

    def feedback(self, pipeline: str | None, limit: int, offset: int) -> list[Feedback]:
        where, params = ("WHERE pipeline = %s", [pipeline]) if pipeline is not None else ("", [])
        with self._read() as conn:
            query = f"SELECT {_FEEDBACK_COLUMNS} FROM feedback {where} ORDER BY id DESC LIMIT %s OFFSET %s"  # noqa: S608 (fixed text)
            rows = self._execute(conn, query, (*params, limit, offset)).fetchall()
        return [self._feedback(row) for row in rows]

    def delete_feedback(self, pipeline: str | None, feedback_id: int | None = None) -> int:
        clauses, params = [], []
        for column, value in (("pipeline", pipeline), ("id", feedback_id)):
            if value is not None:
                clauses.append(f"{column} = %s")
                params.append(value)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        with self._transaction() as conn:
            return self._execute(conn, f"DELETE FROM feedback {where}", params).rowcount  # noqa: S608 (placeholders only)

    def delete_feedback_ids(self, pipeline: str, feedback_ids: Sequence[int]) -> int:
        deleted = 0
        with self._transaction() as conn:
            for first in range(0, len(feedback_ids), _IDS_PER_STATEMENT):
                chunk = list(feedback_ids[first : first + _IDS_PER_STATEMENT])
                marks = ", ".join(["%s"] * len(chunk))
                query = f"DELETE FROM feedback WHERE pipeline = %s AND id IN ({marks})"  # noqa: S608 (placeholders only)
                deleted += self._execute(conn, query, (pipeline, *chunk)).rowcount
        return deleted

    def feedback_summary(self, pipeline: str) -> list[FeedbackCount]:
        with self._read() as conn:
            rows = self._execute(conn, _FEEDBACK_SUMMARY, (pipeline,)).fetchall()
        return [self._feedback_count(row) for row in rows]

    # -- inside a write transaction -----------------------------------------------------------------------------

    def _current(self, conn: ConnT, name: str) -> PipelineRecord | None:
        """`name` as stored, deleted or not."""
        row = self._execute(conn, _SELECT + " WHERE p.name = %s", (name,)).fetchone()
        return self._record(row) if row else None

    def _existing(self, conn: ConnT, name: str, expect: Expectation | None) -> PipelineRecord:
        """`name` as stored, which must exist and match `expect`."""
        current = self._current(conn, name)
        if current is None or current.deleted:
            raise PipelineNotFound(f"There is no pipeline named '{name}'.")
        if expect is not None:
            expect.check(current, name)
        return current

    def _put(self, conn: ConnT, change: Change, expect: Expectation | None) -> WriteResult:
        current = self._current(conn, change.name)
        if expect is not None:
            expect.check(current, change.name)
        if current is not None and not current.deleted and change.same_content(current):
            if change.enabled is None or change.enabled == current.enabled:
                return WriteResult(current, Outcome.UNCHANGED, self._generation(conn), current.revision)
            return self._update(conn, change.name, "enabled", change.enabled, Outcome.UPDATED, current)
        if (current is None or current.deleted) and self.max_pipelines is not None:
            # Inside the store-wide write lock, so concurrent creations are counted one after the other: exact.
            count = int(self._execute(conn, "SELECT COUNT(*) FROM pipelines WHERE deleted = FALSE").fetchone()[0])
            if count >= self.max_pipelines:
                raise TooManyPipelines(
                    f"This server holds {count} pipelines, its maximum (STACKYARD_MAX_PIPELINES); delete one, or "
                    f"raise the maximum, before creating '{change.name}'.",
                    limit=self.max_pipelines,
                )
        at = self._change_time()
        generation = self._bump(conn)
        top = "SELECT COALESCE(MAX(number), 0) + 1 FROM revisions WHERE name = %s"
        number = int(self._execute(conn, top, (change.name,)).fetchone()[0])
        if current is not None:  # numbering continues even if the cap pruned the newest rows' predecessors
            number = max(number, current.revision + 1)
        # Sorted keys: the same labels always store the same JSON text.
        labels = self._encode_json(dict(sorted(change.labels.items())))
        self._execute(
            conn,
            "INSERT INTO revisions (name, number, yaml, description, labels, author, message, created_at)"  # noqa: S608 (the dialect's fixed clock)
            f" VALUES (%s, %s, %s, %s, %s, %s, %s, {at.sql})",
            (change.name, number, change.yaml, change.description, labels, change.author, change.message, *at.params),
        )
        self._execute(
            conn,
            "INSERT INTO pipelines (name, live_revision, enabled, deleted, created_at, updated_at, generation)"  # noqa: S608 (fixed clock)
            f" VALUES (%s, %s, %s, FALSE, {at.sql}, {at.sql}, %s)"
            " ON CONFLICT (name) DO UPDATE SET live_revision = excluded.live_revision, deleted = FALSE,"
            # The switch the change sets, else the pipeline's own (a re-created pipeline starts enabled).
            " enabled = COALESCE(%s, pipelines.enabled OR pipelines.deleted),"
            " created_at = CASE WHEN pipelines.deleted THEN excluded.created_at ELSE pipelines.created_at END,"
            " updated_at = excluded.updated_at, generation = excluded.generation",
            (change.name, number, change.enabled is not False, *at.params, *at.params, generation, change.enabled),
        )
        if self.keep_revisions is not None:
            self._execute(
                conn,
                "DELETE FROM revisions WHERE name = %s AND number <= %s AND number <> %s",
                (change.name, number - self.keep_revisions, number),
            )
        record = self._current(conn, change.name)
        assert record is not None
        previous = None if current is None or current.deleted else current.revision
        return WriteResult(record, Outcome.UPDATED if previous else Outcome.CREATED, generation, previous)

    def _delete(self, conn: ConnT, name: str, expect: Expectation | None) -> WriteResult:
        current = self._existing(conn, name, expect)
        return self._update(conn, name, "deleted", True, Outcome.DELETED, current)

    def _update(
        self, conn: ConnT, name: str, column: str, value: bool, outcome: Outcome, current: PipelineRecord
    ) -> WriteResult:
        """Set one flag (`enabled`, `deleted`) of `name` as a new change."""
        at = self._change_time()
        generation = self._bump(conn)
        self._execute(
            conn,
            f"UPDATE pipelines SET {column} = %s, updated_at = {at.sql}, generation = %s WHERE name = %s",  # noqa: S608 (fixed column)
            (value, *at.params, generation, name),
        )
        record = self._current(conn, name)
        assert record is not None
        return WriteResult(record, outcome, generation, current.revision)

    def _generation(self, conn: ConnT) -> int:
        return int(self._execute(conn, _GENERATION).fetchone()[0])

    def _bump(self, conn: ConnT) -> int:
        query = "UPDATE counters SET value = value + 1 WHERE name = 'generation' RETURNING value"
        generation = int(self._execute(conn, query).fetchone()[0])
        self._changed(conn, generation)
        return generation

    # -- rows ---------------------------------------------------------------------------------------------------

    def _record(self, row: Sequence[Any]) -> PipelineRecord:
        return PipelineRecord(
            name=row[0],
            revision=row[1],
            yaml=row[2],
            description=row[3],
            labels=as_json_labels(self._decode_json(row[4])),
            enabled=bool(row[5]),
            deleted=bool(row[6]),
            created_at=self._decode_time(row[7]),
            updated_at=self._decode_time(row[8]),
            generation=row[9],
        )

    def _revision(self, row: Sequence[Any]) -> RevisionRecord:
        return RevisionRecord(
            name=row[0],
            number=row[1],
            yaml=row[2],
            description=row[3],
            labels=as_json_labels(self._decode_json(row[4])),
            author=row[5],
            message=row[6],
            created_at=self._decode_time(row[7]),
        )

    def _feedback(self, row: Sequence[Any]) -> Feedback:
        meta = self._decode_json(row[8])
        return Feedback(
            id=row[0],
            pipeline=row[1],
            revision=row[2],
            query=row[3],
            answer=row[4],
            document_id=row[5],
            is_correct=bool(row[6]),
            comment=row[7],
            meta=dict(meta) if isinstance(meta, dict) else {},
            actor=row[9],
            created_at=self._decode_time(row[10]),
        )

    def _feedback_count(self, row: Sequence[Any]) -> FeedbackCount:
        # PostgreSQL's SUM of integers is a numeric (Decimal): the counts are made plain ints.
        return FeedbackCount(revision=row[0], total=int(row[1]), correct=int(row[2]), incorrect=int(row[3]))

    def _audit_entry(self, row: Sequence[Any]) -> AuditEntry:
        return AuditEntry(
            id=row[0],
            at=self._decode_time(row[1]),
            actor=row[2],
            action=row[3],
            pipeline=row[4],
            outcome=row[5],
            from_revision=row[6],
            to_revision=row[7],
            detail=row[8],
        )

    def _replica(self, row: Sequence[Any]) -> ReplicaRecord:
        return ReplicaRecord(
            id=row[0],
            host=row[1],
            pid=row[2],
            started_at=self._decode_time(row[3]),
            seen_at=self._decode_seen(row[4]),
            generation=row[5],
            pipelines=pipelines_from_json(self._decode_json(row[6])),
        )


def _audit_filter(query: AuditQuery) -> tuple[str, list[object]]:
    """The WHERE clause (fixed column names and placeholders only) and the parameters of an audit query."""
    clauses: list[str] = []
    params: list[object] = []
    for column, value in (("pipeline", query.pipeline), ("actor", query.actor)):
        if value is not None:
            clauses.append(f"{column} = %s")
            params.append(value)
    if query.since is not None:
        clauses.append("at >= %s")
        params.append(query.since.astimezone(UTC).isoformat())
    if query.until is not None:
        clauses.append("at <= %s")
        params.append(query.until.astimezone(UTC).isoformat())
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


# Counts per revision of one pipeline's feedback.
_CORRECT = "CASE WHEN is_correct THEN 1 ELSE 0 END"
_FEEDBACK_SUMMARY = (
    f"SELECT revision, count(*), SUM({_CORRECT}), count(*) - SUM({_CORRECT}) FROM feedback"  # noqa: S608 (fixed text)
    " WHERE pipeline = %s GROUP BY revision ORDER BY revision IS NULL, revision"
)
