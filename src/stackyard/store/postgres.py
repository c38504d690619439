"""The store for many replicas: PostgreSQL through psycopg 3 and a connection pool.

Every write transaction first locks the generation counter row (`SELECT ... FOR UPDATE`), so writers on all
replicas are serialized: revision numbers and generations never collide, and generations commit in order (a
reader never sees generation 7 before 6). The write sends `NOTIFY stackyard` in the same transaction; PostgreSQL
delivers it at commit to every replica listening (see `postgres_feed.py`).

Schema migrations are plain numbered SQL, the same mechanism as the SQLite store: a handful of statements do not
warrant Alembic and SQLAlchemy. Each runs in one transaction (PostgreSQL DDL is transactional) under an advisory
lock, so replicas starting together migrate once and a failed migration leaves the previous schema intact. A
database migrated by a newer Stackyard is refused, never written.

The store's logic is `RelationalStore`'s; this file holds the pool, the migrations, the write lock, the
notification and how PostgreSQL stores times and JSON (`timestamptz` from the server's clock, `jsonb`).

`postgresql://...?schema=name` keeps every table in schema `name` (created when missing), so several
deployments or test runs can share one database.

During an outage a call fails within `WAIT_FOR_CONNECTION` with `StoreUnavailable` naming host and port. The pool's
own reconnection backs off without a cap (1, 2, 4 ... 32 s), which once kept a replica refusing writes for half a
minute after the database was back; so its attempts stop after `RECONNECT_FOR` and the next call that needs a
connection starts a fresh one at once. The heartbeat and the sync call every second or two, so a replica has a
connection within about a second of the database's return, however long the outage lasted; the listener has a
connection of its own and retries every second (`postgres_feed.py`).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from stackyard.errors import StoreUnavailable
from stackyard.store.migrations import POSTGRES, pending
from stackyard.store.notifications import CHANNEL, listen
from stackyard.store.relational import RelationalStore, Stamp

log = logging.getLogger(__name__)

SCHEMA_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
MIGRATION_LOCK = 0x5354_4B59  # pg_advisory_xact_lock key: "STKY"
CONNECT_TIMEOUT = 5  # seconds to open one connection
# Seconds a call waits for a pooled connection before answering "store unavailable", so a write during an outage
# answers within a second. Calls take milliseconds (the run path never comes here): eight connections all busy for
# half a second means the database is in trouble, and a 503 with Retry-After is the right answer then too.
WAIT_FOR_CONNECTION = 0.5
# Seconds the pool retries one connection with its doubling backoff before it gives up that attempt; the next call
# that needs a connection starts a new one at once. No longer than a call waits, so the delay between two attempts
# never grows past it, and a call made once the database is back finds an attempt within its wait.
RECONNECT_FOR = WAIT_FOR_CONNECTION
START_TIMEOUT = 5.0  # seconds start-up waits for the pool's first connection


Connection = psycopg.Connection[tuple[Any, ...]]


def endpoint(conninfo: str) -> str:
    """`host:port` of a connection string, as libpq would resolve it; never the user or the password."""
    params = psycopg.conninfo.conninfo_to_dict(conninfo)
    host = params.get("host") or params.get("hostaddr") or os.environ.get("PGHOST") or "localhost"
    port = params.get("port") or os.environ.get("PGPORT") or "5432"
    return f"{host}:{port}"


def reason(error: psycopg.Error) -> str:
    """libpq's reason for a failed connection, without the preamble that repeats host and port."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return first.rpartition(" failed: ")[2].removeprefix("FATAL:").strip()


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


class PostgresStore(RelationalStore[Connection]):
    """`DefinitionStore` on PostgreSQL, safe for any number of replicas on any number of hosts."""

    kind = "postgresql"

    def __init__(self, url: str, *, keep_revisions: int | None = None, max_pipelines: int | None = None) -> None:
        libpq_url, self.schema = split_url(url)
        options: dict[str, str | int] = {"connect_timeout": CONNECT_TIMEOUT, "application_name": "stackyard"}
        if self.schema is not None:
            options["options"] = f"-c search_path={self.schema}"
        self.conninfo = psycopg.conninfo.make_conninfo(libpq_url, **options)
        self.endpoint = endpoint(self.conninfo)
        self.keep_revisions = keep_revisions
        self.max_pipelines = max_pipelines
        self._pool: ConnectionPool[Connection] | None = None
        self._watchers: list[Callable[[], None]] = []

    def open(self) -> None:
        try:  # fail fast, with libpq's reason, rather than wait for the pool to give up
            psycopg.connect(self.conninfo).close()
        except psycopg.OperationalError as error:
            raise StoreUnavailable(
                f"PostgreSQL at {self.endpoint} cannot be reached ({reason(error)}); check STACKYARD_STORE_URL "
                "and that the server accepts connections."
            ) from None
        pool: ConnectionPool[Connection] = ConnectionPool(
            self.conninfo,
            min_size=1,
            max_size=8,
            open=False,
            # A connection that died with the server (restart, failover) is replaced before anyone uses it.
            check=ConnectionPool.check_connection,
            timeout=WAIT_FOR_CONNECTION,
            reconnect_timeout=RECONNECT_FOR,
            name="stackyard",
        )
        try:
            pool.open(wait=True, timeout=START_TIMEOUT)
        except PoolTimeout:
            pool.close()
            raise StoreUnavailable(
                f"PostgreSQL at {self.endpoint} gave no connection within {START_TIMEOUT:g} s; "
                "check STACKYARD_STORE_URL and the server's load."
            ) from None
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
        except PoolTimeout:
            log.warning("PostgreSQL unavailable", extra={"endpoint": self.endpoint, "error": "no connection"})
            raise StoreUnavailable(
                f"PostgreSQL at {self.endpoint} cannot be reached: no connection within {WAIT_FOR_CONNECTION:g} s "
                "(it is down, cut off or overloaded). Running pipelines keep serving; retry when it is back."
            ) from None
        except psycopg.OperationalError as error:
            log.warning("PostgreSQL unavailable", extra={"endpoint": self.endpoint, "error": reason(error)})
            raise StoreUnavailable(
                f"PostgreSQL at {self.endpoint} cannot be reached ({reason(error)}). Running pipelines keep "
                "serving; retry when it is back."
            ) from None

    def _read(self) -> AbstractContextManager[Connection]:
        # Reads take no lock: PostgreSQL shows each statement a consistent snapshot while writers go on.
        return self._transaction()

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
            for number in pending(version, POSTGRES, "The PostgreSQL store"):
                conn.execute(POSTGRES[number].encode())  # several statements: no parameters, simple protocol
                conn.execute("UPDATE stackyard_schema SET version = %s", (number + 1,))

    def _execute(self, conn: Connection, query: str, params: Sequence[object] = ()) -> psycopg.Cursor[tuple[Any, ...]]:
        return conn.execute(query, params)

    def _changed(self, conn: Connection, generation: int) -> None:
        # Delivered at commit, to every replica listening on this database; nothing is sent if we roll back.
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{self.schema or ''} {generation}"))

    # Times come from the server's clock, so replicas on hosts with skewed clocks still agree. A change is
    # stamped with its transaction's start (`now()`): every row one transaction writes carries the same time.
    # Audit entries, verdicts and heartbeats take the very instant (`clock_timestamp()`).

    def _change_time(self) -> Stamp:
        return Stamp("now()")

    def _clock_time(self) -> Stamp:
        return Stamp("clock_timestamp()")

    def _seen_time(self, ago: float = 0.0) -> Stamp:
        if ago == 0.0:
            return Stamp("clock_timestamp()")
        return Stamp("clock_timestamp() - make_interval(secs => %s)", (ago,))

    def _encode_json(self, value: object) -> object:
        return Jsonb(value)

    def _decode_json(self, value: Any) -> Any:
        return value  # psycopg decodes jsonb

    def _encode_time(self, value: datetime) -> object:
        return value

    def _decode_time(self, value: datetime) -> datetime:
        return value  # psycopg answers timestamptz as an aware datetime

    def _decode_seen(self, value: datetime) -> datetime:
        return value
