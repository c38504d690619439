"""The store for many replicas: PostgreSQL through psycopg 3 and a connection pool.

Every write transaction first locks the generation counter row (`SELECT ... FOR UPDATE`), so writers on all
replicas are serialized: revision numbers and generations never collide, and generations commit in order (a
reader never sees generation 7 before 6). The write sends `NOTIFY stackyard` in the same transaction; PostgreSQL
delivers it at commit to every replica listening (see `postgres_feed.py`).

Schema migrations are plain numbered SQL, the same mechanism as the SQLite store: a handful of statements do not
warrant Alembic and SQLAlchemy. Each runs in one transaction (PostgreSQL DDL is transactional) under an advisory
lock, so replicas starting together migrate once and a failed migration leaves the previous schema intact. A
database migrated by a newer Stackyard is refused, never written.

`postgresql://...?schema=name` keeps every table in schema `name` (created when missing), so several
deployments or test runs can share one database.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from stackyard.errors import PipelineNotFound, StoreUnavailable
from stackyard.store.postgres_feed import CHANNEL, listen
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

log = logging.getLogger(__name__)

SCHEMA_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
MIGRATION_LOCK = 0x5354_4B59  # pg_advisory_xact_lock key: "STKY"
CONNECT_TIMEOUT = 5  # seconds to open one connection
WAIT_FOR_CONNECTION = 5.0  # seconds a call waits for a pooled connection before answering "store unavailable"

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE pipelines (
        name text PRIMARY KEY,
        live_revision integer NOT NULL,
        enabled boolean NOT NULL DEFAULT true,
        deleted boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        generation bigint NOT NULL
    );
    CREATE INDEX pipelines_generation ON pipelines (generation);
    CREATE TABLE revisions (
        name text NOT NULL,
        number integer NOT NULL,
        yaml text NOT NULL,
        description text NOT NULL,
        labels jsonb NOT NULL,
        author text NOT NULL,
        message text NOT NULL,
        created_at timestamptz NOT NULL,
        PRIMARY KEY (name, number)
    );
    CREATE TABLE counters (name text PRIMARY KEY, value bigint NOT NULL);
    INSERT INTO counters (name, value) VALUES ('generation', 0);
    CREATE TABLE audit (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL,
        actor text NOT NULL,
        action text NOT NULL,
        pipeline text,
        outcome text NOT NULL,
        from_revision integer,
        to_revision integer,
        detail text NOT NULL
    );
    CREATE INDEX audit_pipeline ON audit (pipeline, id);
    """,
    """
    CREATE TABLE replicas (
        id text PRIMARY KEY,
        host text NOT NULL,
        pid integer NOT NULL,
        started_at timestamptz NOT NULL,
        seen_at timestamptz NOT NULL,
        generation bigint NOT NULL,
        pipelines jsonb NOT NULL
    );
    """,
    """
    CREATE TABLE feedback (
        id bigserial PRIMARY KEY,
        pipeline text NOT NULL,
        revision integer,
        query text NOT NULL,
        answer text,
        document_id text,
        is_correct boolean NOT NULL,
        comment text NOT NULL,
        meta jsonb NOT NULL,
        actor text NOT NULL,
        created_at timestamptz NOT NULL
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

Connection = psycopg.Connection[tuple[Any, ...]]


def split_url(url: str) -> tuple[str, str | None]:
    """The libpq URL without Stackyard's own `schema` parameter, and that schema (None: the server's default)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for key, value in query if key == "schema"]
    rest = [(key, value) for key, value in query if key != "schema"]
    schema = schemas[-1] if schemas else None
    if schema is not None and not SCHEMA_PATTERN.match(schema):
        raise ValueError(f"Invalid schema {schema!r} in the store URL: use lower-case letters, digits and '_'.")
    return urlunsplit(parts._replace(query=urlencode(rest))), schema


def _record(row: tuple[Any, ...]) -> PipelineRecord:
    return PipelineRecord(
        name=row[0],
        revision=row[1],
        yaml=row[2],
        description=row[3],
        labels=as_json_labels(row[4]),
        enabled=row[5],
        deleted=row[6],
        created_at=row[7],
        updated_at=row[8],
        generation=row[9],
    )


def _revision(row: tuple[Any, ...]) -> RevisionRecord:
    return RevisionRecord(
        name=row[0],
        number=row[1],
        yaml=row[2],
        description=row[3],
        labels=as_json_labels(row[4]),
        author=row[5],
        message=row[6],
        created_at=row[7],
    )


class PostgresStore:
    """`DefinitionStore` on PostgreSQL, safe for any number of replicas on any number of hosts."""

    kind = "postgresql"

    def __init__(self, url: str, *, keep_revisions: int | None = None) -> None:
        libpq_url, self.schema = split_url(url)
        options: dict[str, str | int] = {"connect_timeout": CONNECT_TIMEOUT, "application_name": "stackyard"}
        if self.schema is not None:
            options["options"] = f"-c search_path={self.schema}"
        self.conninfo = psycopg.conninfo.make_conninfo(libpq_url, **options)
        self.keep_revisions = keep_revisions
        self._pool: ConnectionPool[Connection] | None = None
        self._watchers: list[Callable[[], None]] = []

    def open(self) -> None:
        try:  # fail fast, with libpq's reason, rather than wait for the pool to give up
            psycopg.connect(self.conninfo).close()
        except psycopg.OperationalError as error:
            reason = str(error).strip().splitlines()[-1]
            raise StoreUnavailable(f"PostgreSQL cannot be reached ({reason}); check STACKYARD_STORE_URL.") from None
        pool: ConnectionPool[Connection] = ConnectionPool(
            self.conninfo,
            min_size=1,
            max_size=8,
            open=False,
            # A connection that died with the server (restart, failover) is replaced before anyone uses it.
            check=ConnectionPool.check_connection,
            timeout=WAIT_FOR_CONNECTION,
            name="stackyard",
        )
        try:
            pool.open(wait=True, timeout=WAIT_FOR_CONNECTION)
        except PoolTimeout as error:
            pool.close()
            raise StoreUnavailable(f"PostgreSQL cannot be reached ({error}); check STACKYARD_STORE_URL.") from None
        self._pool = pool
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for stop in self._watchers:
            stop()
        self._watchers.clear()
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def watch(self, wake: Callable[[], None]) -> None:
        """Call `wake()` (from another thread) whenever any replica commits a change, and after a reconnect."""
        self._watchers.append(listen(self.conninfo, self.schema or "", wake))

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        if self._pool is None:
            raise RuntimeError("the store is not open")
        try:
            with self._pool.connection() as conn:
                yield conn  # committed when the block ends, rolled back if it raises
        except (psycopg.OperationalError, PoolTimeout) as error:
            log.warning("PostgreSQL unavailable", extra={"error": str(error).strip()})
            raise StoreUnavailable(
                "The definition store (PostgreSQL) cannot be reached; running pipelines keep serving. "
                "Retry the change when it is back."
            ) from None

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A transaction that holds the store-wide write lock: the generation counter row."""
        with self._transaction() as conn:
            conn.execute("SELECT value FROM counters WHERE name = 'generation' FOR UPDATE")
            yield conn

    def _migrate(self) -> None:
        with self._transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            if self.schema is not None:
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
            conn.execute("CREATE TABLE IF NOT EXISTS stackyard_schema (version integer NOT NULL)")
            row = conn.execute("SELECT version FROM stackyard_schema").fetchone()
            if row is None:
                conn.execute("INSERT INTO stackyard_schema (version) VALUES (0)")
            version = row[0] if row else 0
            if version > len(MIGRATIONS):
                raise SchemaTooNew(
                    f"The PostgreSQL schema has version {version}, but this Stackyard knows only up to "
                    f"{len(MIGRATIONS)}. Upgrade Stackyard; it will not write to a newer database."
                )
            for number in range(version, len(MIGRATIONS)):
                conn.execute(MIGRATIONS[number].encode())  # several statements: no parameters, simple protocol
                conn.execute("UPDATE stackyard_schema SET version = %s", (number + 1,))

    def get(self, name: str) -> PipelineRecord | None:
        with self._transaction() as conn:
            row = conn.execute(_SELECT + " WHERE p.name = %s AND NOT p.deleted", (name,)).fetchone()
        return _record(row) if row else None

    def pipelines(self) -> list[PipelineRecord]:
        with self._transaction() as conn:
            rows = conn.execute(_SELECT + " WHERE NOT p.deleted ORDER BY p.name").fetchall()
        return [_record(row) for row in rows]

    def generation(self) -> int:
        with self._transaction() as conn:
            return self._generation(conn)

    def changes_since(self, generation: int) -> list[PipelineRecord]:
        with self._transaction() as conn:
            rows = conn.execute(_SELECT + " WHERE p.generation > %s ORDER BY p.generation", (generation,)).fetchall()
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
                "UPDATE pipelines SET enabled = %s, updated_at = now(), generation = %s WHERE name = %s",
                (enabled, generation, name),
            )
            record = self._current(conn, name)
            assert record is not None
            return WriteResult(record, Outcome.UPDATED, generation)

    def revisions(self, name: str, limit: int, offset: int) -> tuple[list[RevisionRecord], int]:
        with self._transaction() as conn:
            count = conn.execute("SELECT count(*) FROM revisions WHERE name = %s", (name,)).fetchone()
            rows = conn.execute(
                _SELECT_REVISION + " WHERE name = %s ORDER BY number DESC LIMIT %s OFFSET %s", (name, limit, offset)
            ).fetchall()
        return [_revision(row) for row in rows], int(count[0]) if count else 0

    def revision(self, name: str, number: int) -> RevisionRecord | None:
        with self._transaction() as conn:
            row = conn.execute(_SELECT_REVISION + " WHERE name = %s AND number = %s", (name, number)).fetchone()
        return _revision(row) if row else None

    def record_audit(self, entry: AuditEntry) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO audit (at, actor, action, pipeline, outcome, from_revision, to_revision, detail)"
                " VALUES (clock_timestamp(), %s, %s, %s, %s, %s, %s, %s)",
                (
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
        clauses, params = audit_filter(query, "%s")
        with self._transaction() as conn:
            rows = conn.execute(
                "SELECT id, at, actor, action, pipeline, outcome, from_revision, to_revision, detail FROM audit"  # noqa: S608 (the filter holds placeholders only)
                f" {clauses} ORDER BY id DESC LIMIT %s OFFSET %s",
                (*params, query.limit, query.offset),
            ).fetchall()
        return [
            AuditEntry(
                id=row[0],
                at=row[1],
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
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO replicas (id, host, pid, started_at, seen_at, generation, pipelines)"
                " VALUES (%s, %s, %s, %s, clock_timestamp(), %s, %s)"
                " ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid,"
                " started_at = excluded.started_at, seen_at = excluded.seen_at,"
                " generation = excluded.generation, pipelines = excluded.pipelines",
                (
                    replica.id,
                    replica.host,
                    replica.pid,
                    replica.started_at,
                    replica.generation,
                    Jsonb(pipelines_to_json(replica.pipelines)),
                ),
            )
            conn.execute(
                "DELETE FROM replicas WHERE seen_at < clock_timestamp() - make_interval(secs => %s)",
                (FORGET_REPLICAS_AFTER,),
            )

    def replicas(self, max_age: float) -> list[ReplicaRecord]:
        with self._transaction() as conn:
            rows = conn.execute(
                "SELECT id, host, pid, started_at, seen_at, generation, pipelines FROM replicas"
                " WHERE seen_at >= clock_timestamp() - make_interval(secs => %s) ORDER BY id",
                (max_age,),
            ).fetchall()
        return [
            ReplicaRecord(
                id=row[0],
                host=row[1],
                pid=row[2],
                started_at=row[3],
                seen_at=row[4],
                generation=row[5],
                pipelines=pipelines_from_json(row[6]),
            )
            for row in rows
        ]

    def leave(self, replica_id: str) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM replicas WHERE id = %s", (replica_id,))

    def add_feedback(self, feedback: Feedback) -> Feedback:
        with self._transaction() as conn:
            row = conn.execute(
                "INSERT INTO feedback (pipeline, revision, query, answer, document_id, is_correct, comment, meta,"  # noqa: S608 (fixed columns)
                " actor, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, clock_timestamp())"
                " RETURNING " + FEEDBACK_COLUMNS,
                (
                    feedback.pipeline,
                    feedback.revision,
                    feedback.query,
                    feedback.answer,
                    feedback.document_id,
                    feedback.is_correct,
                    feedback.comment,
                    Jsonb(feedback.meta),
                    feedback.actor,
                ),
            ).fetchone()
        assert row is not None
        return feedback_from_row(row)

    def feedback(self, pipeline: str | None, limit: int, offset: int) -> list[Feedback]:
        where, params = ("WHERE pipeline = %s", [pipeline]) if pipeline is not None else ("", [])
        with self._transaction() as conn:
            rows = conn.execute(
                f"SELECT {FEEDBACK_COLUMNS} FROM feedback {where} ORDER BY id DESC LIMIT %s OFFSET %s",  # noqa: S608 (fixed text)
                (*params, limit, offset),
            ).fetchall()
        return [feedback_from_row(row) for row in rows]

    def delete_feedback(self, pipeline: str | None, feedback_id: int | None = None) -> int:
        clauses, params = [], []
        for column, value in (("pipeline", pipeline), ("id", feedback_id)):
            if value is not None:
                clauses.append(f"{column} = %s")
                params.append(value)
        where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
        with self._transaction() as conn:
            return conn.execute(f"DELETE FROM feedback {where}", params).rowcount  # noqa: S608 (placeholders only)

    def feedback_summary(self, pipeline: str) -> list[FeedbackCount]:
        with self._transaction() as conn:
            rows = conn.execute(feedback_summary_sql("%s"), (pipeline,)).fetchall()
        return [FeedbackCount(row[0], int(row[1]), int(row[2]), int(row[3])) for row in rows]

    def _current(self, conn: Connection, name: str) -> PipelineRecord | None:
        row = conn.execute(_SELECT + " WHERE p.name = %s", (name,)).fetchone()
        return _record(row) if row else None

    def _put(self, conn: Connection, change: Change, expect: Expectation | None) -> WriteResult:
        current = self._current(conn, change.name)
        if expect is not None:
            expect.check(current, change.name)
        if current is not None and not current.deleted and change.same_content(current):
            return WriteResult(current, Outcome.UNCHANGED, self._generation(conn))
        generation = self._bump(conn)
        top = conn.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM revisions WHERE name = %s", (change.name,))
        number = int(top.fetchone()[0])  # type: ignore[index]  # an aggregate always answers exactly one row
        if current is not None:  # numbering continues even if the cap pruned the newest rows' predecessors
            number = max(number, current.revision + 1)
        conn.execute(
            "INSERT INTO revisions (name, number, yaml, description, labels, author, message, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, now())",
            (
                change.name,
                number,
                change.yaml,
                change.description,
                Jsonb(change.labels),
                change.author,
                change.message,
            ),
        )
        conn.execute(
            "INSERT INTO pipelines (name, live_revision, enabled, deleted, created_at, updated_at, generation)"
            " VALUES (%s, %s, true, false, now(), now(), %s)"
            " ON CONFLICT (name) DO UPDATE SET live_revision = excluded.live_revision, deleted = false,"
            " enabled = pipelines.enabled OR pipelines.deleted,"
            " created_at = CASE WHEN pipelines.deleted THEN excluded.created_at ELSE pipelines.created_at END,"
            " updated_at = excluded.updated_at, generation = excluded.generation",
            (change.name, number, generation),
        )
        if self.keep_revisions is not None:
            conn.execute(
                "DELETE FROM revisions WHERE name = %s AND number <= %s AND number <> %s",
                (change.name, number - self.keep_revisions, number),
            )
        record = self._current(conn, change.name)
        assert record is not None
        outcome = Outcome.CREATED if current is None or current.deleted else Outcome.UPDATED
        return WriteResult(record, outcome, generation)

    def _delete(self, conn: Connection, name: str, expect: Expectation | None) -> WriteResult:
        current = self._current(conn, name)
        if current is None or current.deleted:
            raise PipelineNotFound(f"There is no pipeline named '{name}'.")
        if expect is not None:
            expect.check(current, name)
        generation = self._bump(conn)
        conn.execute(
            "UPDATE pipelines SET deleted = true, updated_at = now(), generation = %s WHERE name = %s",
            (generation, name),
        )
        record = self._current(conn, name)
        assert record is not None
        return WriteResult(record, Outcome.DELETED, generation)

    @staticmethod
    def _generation(conn: Connection) -> int:
        row = conn.execute("SELECT value FROM counters WHERE name = 'generation'").fetchone()
        assert row is not None
        return int(row[0])

    def _bump(self, conn: Connection) -> int:
        row = conn.execute("UPDATE counters SET value = value + 1 WHERE name = 'generation' RETURNING value").fetchone()
        assert row is not None
        generation = int(row[0])
        # Delivered at commit, to every replica listening on this database; nothing is sent if we roll back.
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{self.schema or ''} {generation}"))
        return generation
