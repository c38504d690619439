"""The embedded default store: one SQLite file, safe for several worker processes on one host.

WAL mode lets readers in other processes see committed changes without blocking the writer; `BEGIN IMMEDIATE`
takes the write lock up front so two processes never interleave a read-modify-write. `synchronous=FULL` makes
a commit durable before the API acknowledges it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from stackyard.errors import PipelineNotFound
from stackyard.store.records import (
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
from stackyard.store.sql import (
    FEEDBACK_COLUMNS,
    FORGET_REPLICAS_AFTER,
    SchemaTooNew,
    audit_filter,
    feedback_from_row,
    feedback_summary_sql,
)

# Each entry migrates the schema from version i to i+1; `PRAGMA user_version` records how far a file has come.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE pipelines (
        name TEXT PRIMARY KEY,
        live_revision INTEGER NOT NULL,
        enabled INTEGER NOT NULL DEFAULT 1,
        deleted INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        generation INTEGER NOT NULL
    );
    CREATE INDEX pipelines_generation ON pipelines (generation);
    CREATE TABLE revisions (
        name TEXT NOT NULL,
        number INTEGER NOT NULL,
        yaml TEXT NOT NULL,
        description TEXT NOT NULL,
        labels TEXT NOT NULL,
        author TEXT NOT NULL,
        message TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (name, number)
    );
    CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO counters (name, value) VALUES ('generation', 0);
    """,
    """
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        pipeline TEXT,
        outcome TEXT NOT NULL,
        from_revision INTEGER,
        to_revision INTEGER,
        detail TEXT NOT NULL
    );
    CREATE INDEX audit_pipeline ON audit (pipeline, id);
    """,
    """
    CREATE TABLE replicas (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        seen_at REAL NOT NULL,
        generation INTEGER NOT NULL,
        pipelines TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE feedback (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        pipeline TEXT NOT NULL,
        revision INTEGER,
        query TEXT NOT NULL,
        answer TEXT,
        document_id TEXT,
        is_correct INTEGER NOT NULL,
        comment TEXT NOT NULL,
        meta TEXT NOT NULL,
        actor TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX feedback_pipeline ON feedback (pipeline, id);
    """,
)

_SELECT = """
    SELECT p.name, p.live_revision, r.yaml, r.description, r.labels, p.enabled, p.deleted,
           p.created_at, p.updated_at, p.generation
    FROM pipelines p JOIN revisions r ON r.name = p.name AND r.number = p.live_revision
"""


_SELECT_REVISION = "SELECT name, number, yaml, description, labels, author, message, created_at FROM revisions"


def _revision(row: sqlite3.Row) -> RevisionRecord:
    return RevisionRecord(
        name=row[0],
        number=row[1],
        yaml=row[2],
        description=row[3],
        labels=as_json_labels(json.loads(row[4])),
        author=row[5],
        message=row[6],
        created_at=datetime.fromisoformat(row[7]),
    )


def _feedback(row: sqlite3.Row) -> Feedback:
    return feedback_from_row(
        (*row[:6], bool(row[6]), row[7], json.loads(row[8]), row[9], datetime.fromisoformat(row[10]))
    )


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _record(row: sqlite3.Row) -> PipelineRecord:
    return PipelineRecord(
        name=row[0],
        revision=row[1],
        yaml=row[2],
        description=row[3],
        labels=as_json_labels(json.loads(row[4])),
        enabled=bool(row[5]),
        deleted=bool(row[6]),
        created_at=datetime.fromisoformat(row[7]),
        updated_at=datetime.fromisoformat(row[8]),
        generation=row[9],
    )


class SQLiteStore:
    """`DefinitionStore` on a SQLite file."""

    kind = "sqlite"

    def __init__(self, path: Path, *, keep_revisions: int | None = None) -> None:
        self.path = path
        self.keep_revisions = keep_revisions
        self._conn: sqlite3.Connection | None = None
        # One connection shared by the server's worker threads; sqlite3 objects are not safe to use concurrently.
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, *, keep_revisions: int | None = None) -> SQLiteStore:
        """`sqlite:///relative/path.db` or `sqlite:////absolute/path.db`."""
        path = url.removeprefix("sqlite://")
        if not path.startswith("/") or path == "/":
            raise ValueError(f"Invalid SQLite URL {url!r}: use sqlite:///file.db or sqlite:////abs/path/file.db")
        return cls(Path(path[1:]), keep_revisions=keep_revisions)

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        self._conn = conn
        self._migrate()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _migrate(self) -> None:
        with self._write() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > len(MIGRATIONS):
                raise SchemaTooNew(
                    f"{self.path} has schema version {version}, but this Stackyard knows only up to "
                    f"{len(MIGRATIONS)}. Upgrade Stackyard; it will not write to a newer database."
                )
            for number in range(version, len(MIGRATIONS)):
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number + 1}")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                raise RuntimeError("the store is not open")
            yield self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._read() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def get(self, name: str) -> PipelineRecord | None:
        with self._read() as conn:
            row = conn.execute(_SELECT + " WHERE p.name = ? AND p.deleted = 0", (name,)).fetchone()
        return _record(row) if row else None

    def pipelines(self) -> list[PipelineRecord]:
        with self._read() as conn:
            rows = conn.execute(_SELECT + " WHERE p.deleted = 0 ORDER BY p.name").fetchall()
        return [_record(row) for row in rows]

    def generation(self) -> int:
        with self._read() as conn:
            return int(conn.execute("SELECT value FROM counters WHERE name = 'generation'").fetchone()[0])

    def changes_since(self, generation: int) -> list[PipelineRecord]:
        with self._read() as conn:
            rows = conn.execute(_SELECT + " WHERE p.generation > ? ORDER BY p.generation", (generation,)).fetchall()
        return [_record(row) for row in rows]

    def put(self, change: Change, expect: Expectation | None = None) -> WriteResult:
        with self._write() as conn:
            return self._put(conn, change, expect)

    def delete(self, name: str, expect: Expectation | None = None) -> WriteResult:
        with self._write() as conn:
            return self._delete(conn, name, expect)

    def apply(self, changes: list[Change], deletes: list[str]) -> list[WriteResult]:
        with self._write() as conn:
            results = [self._put(conn, change, None) for change in changes]
            results.extend(self._delete(conn, name, None) for name in deletes)
            return results

    def set_enabled(self, name: str, enabled: bool, expect: Expectation | None = None) -> WriteResult:
        with self._write() as conn:
            current = self._current(conn, name)
            if current is None or current.deleted:
                raise PipelineNotFound(f"There is no pipeline named '{name}'.")
            if expect is not None:
                expect.check(current, name)
            if current.enabled == enabled:
                return WriteResult(current, Outcome.UNCHANGED, self._generation(conn))
            generation = self._bump(conn)
            conn.execute(
                "UPDATE pipelines SET enabled = ?, updated_at = ?, generation = ? WHERE name = ?",
                (int(enabled), _now(), generation, name),
            )
            record = self._current(conn, name)
            assert record is not None
            return WriteResult(record, Outcome.UPDATED, generation)

    def revisions(self, name: str, limit: int, offset: int) -> tuple[list[RevisionRecord], int]:
        with self._read() as conn:
            total = int(conn.execute("SELECT count(*) FROM revisions WHERE name = ?", (name,)).fetchone()[0])
            rows = conn.execute(
                _SELECT_REVISION + " WHERE name = ? ORDER BY number DESC LIMIT ? OFFSET ?", (name, limit, offset)
            ).fetchall()
        return [_revision(row) for row in rows], total

    def revision(self, name: str, number: int) -> RevisionRecord | None:
        with self._read() as conn:
            row = conn.execute(_SELECT_REVISION + " WHERE name = ? AND number = ?", (name, number)).fetchone()
        return _revision(row) if row else None

    def record_audit(self, entry: AuditEntry) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO audit (at, actor, action, pipeline, outcome, from_revision, to_revision, detail)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    _now(),
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
        clauses, params = audit_filter(query, "?")
        # `clauses` holds fixed column names and placeholders only; every value goes in as a parameter.
        sql = (
            "SELECT id, at, actor, action, pipeline, outcome, from_revision, to_revision, detail FROM audit "  # noqa: S608
            + clauses
            + " ORDER BY id DESC LIMIT ? OFFSET ?"
        )
        with self._read() as conn:
            rows = conn.execute(sql, (*params, query.limit, query.offset)).fetchall()
        return [
            AuditEntry(
                id=row[0],
                at=datetime.fromisoformat(row[1]),
                actor=row[2],
                action=row[3],
                pipeline=row[4],
                outcome=row[5],
                from_revision=row[6],
                to_revision=row[7],
                detail=row[8],
            )
            for row in rows
        ]

    def beat(self, replica: ReplicaRecord) -> None:
        now = time.time()
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO replicas (id, host, pid, started_at, seen_at, generation, pipelines)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    replica.id,
                    replica.host,
                    replica.pid,
                    replica.started_at.isoformat(),
                    now,
                    replica.generation,
                    json.dumps(pipelines_to_json(replica.pipelines)),
                ),
            )
            conn.execute("DELETE FROM replicas WHERE seen_at < ?", (now - FORGET_REPLICAS_AFTER,))

    def replicas(self, max_age: float) -> list[ReplicaRecord]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT id, host, pid, started_at, seen_at, generation, pipelines FROM replicas"
                " WHERE seen_at >= ? ORDER BY id",
                (time.time() - max_age,),
            ).fetchall()
        return [
            ReplicaRecord(
                id=row[0],
                host=row[1],
                pid=row[2],
                started_at=datetime.fromisoformat(row[3]),
                seen_at=datetime.fromtimestamp(row[4], UTC),
                generation=row[5],
                pipelines=pipelines_from_json(json.loads(row[6])),
            )
            for row in rows
        ]

    def leave(self, replica_id: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM replicas WHERE id = ?", (replica_id,))

    def add_feedback(self, feedback: Feedback) -> Feedback:
        with self._write() as conn:
            row = conn.execute(
                "INSERT INTO feedback (pipeline, revision, query, answer, document_id, is_correct, comment, meta,"  # noqa: S608 (fixed columns)
                " actor, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING " + FEEDBACK_COLUMNS,
                (
                    feedback.pipeline,
                    feedback.revision,
                    feedback.query,
                    feedback.answer,
                    feedback.document_id,
                    int(feedback.is_correct),
                    feedback.comment,
                    json.dumps(feedback.meta),
                    feedback.actor,
                    _now(),
                ),
            ).fetchone()
        return _feedback(row)

    def feedback(self, pipeline: str | None, limit: int, offset: int) -> list[Feedback]:
        where, params = ("WHERE pipeline = ?", [pipeline]) if pipeline is not None else ("", [])
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {FEEDBACK_COLUMNS} FROM feedback {where} ORDER BY id DESC LIMIT ? OFFSET ?",  # noqa: S608 (fixed text)
                (*params, limit, offset),
            ).fetchall()
        return [_feedback(row) for row in rows]

    def delete_feedback(self, pipeline: str | None, feedback_id: int | None = None) -> int:
        clauses, params = [], []
        for column, value in (("pipeline", pipeline), ("id", feedback_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        with self._write() as conn:
            return conn.execute(f"DELETE FROM feedback {where}", params).rowcount  # noqa: S608 (placeholders only)

    def feedback_summary(self, pipeline: str) -> list[FeedbackCount]:
        with self._read() as conn:
            rows = conn.execute(feedback_summary_sql("?"), (pipeline,)).fetchall()
        return [FeedbackCount(row[0], row[1], row[2], row[3]) for row in rows]

    def _current(self, conn: sqlite3.Connection, name: str) -> PipelineRecord | None:
        row = conn.execute(_SELECT + " WHERE p.name = ?", (name,)).fetchone()
        return _record(row) if row else None

    def _put(self, conn: sqlite3.Connection, change: Change, expect: Expectation | None) -> WriteResult:
        current = self._current(conn, change.name)
        if expect is not None:
            expect.check(current, change.name)
        if current is not None and not current.deleted and change.same_content(current):
            return WriteResult(current, Outcome.UNCHANGED, self._generation(conn))
        now = _now()
        generation = self._bump(conn)
        number = int(
            conn.execute(
                "SELECT COALESCE(MAX(number), 0) + 1 FROM revisions WHERE name = ?", (change.name,)
            ).fetchone()[0]
        )
        if current is not None:  # numbering continues even if the cap pruned the newest rows' predecessors
            number = max(number, current.revision + 1)
        conn.execute(
            "INSERT INTO revisions (name, number, yaml, description, labels, author, message, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                change.name,
                number,
                change.yaml,
                change.description,
                json.dumps(change.labels, sort_keys=True),
                change.author,
                change.message,
                now,
            ),
        )
        conn.execute(
            "INSERT INTO pipelines (name, live_revision, enabled, deleted, created_at, updated_at, generation)"
            " VALUES (?, ?, 1, 0, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET live_revision = excluded.live_revision, deleted = 0,"
            " enabled = CASE WHEN pipelines.deleted = 1 THEN 1 ELSE pipelines.enabled END,"
            " created_at = CASE WHEN pipelines.deleted = 1 THEN excluded.created_at ELSE pipelines.created_at END,"
            " updated_at = excluded.updated_at, generation = excluded.generation",
            (change.name, number, now, now, generation),
        )
        if self.keep_revisions is not None:
            conn.execute(
                "DELETE FROM revisions WHERE name = ? AND number <= ? AND number <> ?",
                (change.name, number - self.keep_revisions, number),
            )
        record = self._current(conn, change.name)
        assert record is not None
        outcome = Outcome.CREATED if current is None or current.deleted else Outcome.UPDATED
        return WriteResult(record, outcome, generation)

    def _delete(self, conn: sqlite3.Connection, name: str, expect: Expectation | None) -> WriteResult:
        current = self._current(conn, name)
        if current is None or current.deleted:
            raise PipelineNotFound(f"There is no pipeline named '{name}'.")
        if expect is not None:
            expect.check(current, name)
        generation = self._bump(conn)
        conn.execute(
            "UPDATE pipelines SET deleted = 1, updated_at = ?, generation = ? WHERE name = ?",
            (_now(), generation, name),
        )
        record = self._current(conn, name)
        assert record is not None
        return WriteResult(record, Outcome.DELETED, generation)

    @staticmethod
    def _generation(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT value FROM counters WHERE name = 'generation'").fetchone()[0])

    @staticmethod
    def _bump(conn: sqlite3.Connection) -> int:
        row = conn.execute("UPDATE counters SET value = value + 1 WHERE name = 'generation' RETURNING value").fetchone()
        return int(row[0])
