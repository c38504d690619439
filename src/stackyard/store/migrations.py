"""The schema of each store, as numbered plain SQL migrations, and the refusal of a database from a newer Stackyard.

Entry i of a list migrates a database from version i to i+1. Each store records how far its database has come
(`PRAGMA user_version` on SQLite, the `stackyard_schema` table on PostgreSQL) and applies the missing steps at
start-up, one transaction each. The two lists mirror each other: the same tables, in each dialect's types.
"""

from __future__ import annotations


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer Stackyard; this one must not write to it."""


def pending(version: int, migrations: tuple[str, ...], where: str) -> range:
    """The steps a database at schema `version` still needs; `SchemaTooNew` when `where` (the database, for the
    message) is past them all: a newer database is never written to by an older server."""
    known = len(migrations)
    if version > known:
        raise SchemaTooNew(
            f"{where} has schema version {version}, but this Stackyard knows only up to {known}. "
            "Upgrade Stackyard; it will not write to a newer database."
        )
    return range(version, known)


SQLITE: tuple[str, ...] = (
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


POSTGRES: tuple[str, ...] = (
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
