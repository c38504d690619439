"""The PostgreSQL the tests use: named by STACKYARD_TEST_POSTGRES_URL; each test gets its own schema or database."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

POSTGRES_URL = os.environ.get("STACKYARD_TEST_POSTGRES_URL", "")
SKIP_REASON = (
    "PostgreSQL tests are off: set STACKYARD_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test "
    "(.ci/run starts PostgreSQL and sets it)"
)
needs_postgres = pytest.mark.skipif(not POSTGRES_URL, reason=SKIP_REASON)


def admin() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(POSTGRES_URL, autocommit=True)


def with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A store URL on a schema of its own (created by the store), dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    try:
        yield with_schema(POSTGRES_URL, schema)
    finally:
        with admin() as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@contextmanager
def fresh_database() -> Iterator[tuple[str, str]]:
    """A database of its own (for tests that cut it off), as (name, url); dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    with admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name, urlunsplit(urlsplit(POSTGRES_URL)._replace(path=f"/{name}"))
    finally:
        with admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def set_connections_allowed(database: str, allowed: bool) -> None:
    """Cut a database off (refuse new connections, end open ones) or let it back: an outage of that database only."""
    with admin() as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
                sql.Identifier(database), sql.SQL("true" if allowed else "false")
            )
        )
        if not allowed:
            _end_sessions(conn, "datname", database)


@contextmanager
def fresh_role() -> Iterator[str]:
    """A login role of its own (a superuser, so it may use every test schema), for a store URL to connect as.

    Dropped afterwards. Cutting one role off (`set_login_allowed`) is an outage of one replica only: the database
    stays up for every other.
    """
    name = f"t_{uuid.uuid4().hex[:16]}"
    with admin() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN SUPERUSER").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with admin() as conn:
            _end_sessions(conn, "usename", name)
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))  # what it made in this database
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def as_role(url: str, role: str) -> str:
    """`url` with `role` as its user (trust authentication: no password)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{role}@{host}"))


def set_login_allowed(role: str, allowed: bool) -> None:
    """Refuse every new connection of `role` and end its open ones, or let it log in again."""
    with admin() as conn:
        conn.execute(
            sql.SQL("ALTER ROLE {} {}").format(sql.Identifier(role), sql.SQL("LOGIN" if allowed else "NOLOGIN"))
        )
        if not allowed:
            _end_sessions(conn, "usename", role)


def _end_sessions(conn: psycopg.Connection[tuple[object, ...]], column: str, value: str) -> None:
    """End the sessions whose `column` is `value`, once the refusal of new ones is committed.

    A connection that passed its checks just before that commit shows up a moment later: sessions are ended until
    two looks in a row find none.
    """
    query = sql.SQL("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {} = %s AND pid <> pg_backend_pid()")
    quiet = 0
    deadline = time.monotonic() + 10
    while quiet < 2 and time.monotonic() < deadline:
        ended = conn.execute(query.format(sql.Identifier(column)), (value,)).fetchall()
        quiet = 0 if ended else quiet + 1
        time.sleep(0.05)  # the pace of looking only


@contextmanager
def database_cut_off(database: str) -> Iterator[None]:
    """An outage of `database` for the block: no connection is allowed in, open ones are ended."""
    set_connections_allowed(database, False)
    try:
        yield
    finally:
        set_connections_allowed(database, True)


@contextmanager
def role_cut_off(role: str) -> Iterator[None]:
    """An outage for one replica, the one connecting as `role`, for the block; the database stays up for others."""
    set_login_allowed(role, False)
    try:
        yield
    finally:
        set_login_allowed(role, True)
