"""The embedded default store: one SQLite file, safe for several worker processes on one host.

WAL mode lets readers in other processes see committed changes without blocking the writer; `BEGIN IMMEDIATE`
takes the write lock up front so two processes never interleave a read-modify-write. `synchronous=FULL` makes
a commit durable before the API acknowledges it. The store's logic is `RelationalStore`'s; this file holds the
connection, the migrations and how SQLite stores times, JSON and booleans (ISO 8601 text, JSON text, 0 and 1).

A write the file cannot take (a full disk, a read-only folder, a lock held too long) is rolled back whole and raised
as the `StoreUnavailable` kind that names the file and the cause; reads and running pipelines go on.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stackyard.errors import StoreFull, StoreReadOnly, StoreUnavailable
from stackyard.store.migrations import SQLITE, SchemaTooNew, pending
from stackyard.store.relational import RelationalStore, Stamp

__all__ = ["SQLiteStore", "SchemaTooNew", "store_failure"]

log = logging.getLogger(__name__)

LOCK_TIMEOUT = 30  # seconds a write waits for another process's write lock
# Bytes: with less free space than this, a "disk I/O error" is a full disk (SQLite says SQLITE_FULL only sometimes).
LOW_SPACE = 1 << 20


class SQLiteStore(RelationalStore[sqlite3.Connection]):
    """`DefinitionStore` on a SQLite file."""

    kind = "sqlite"

    def __init__(self, path: Path, *, keep_revisions: int | None = None, max_pipelines: int | None = None) -> None:
        self.path = path
        self.keep_revisions = keep_revisions
        self.max_pipelines = max_pipelines
        self._conn: sqlite3.Connection | None = None
        # One connection shared by the server's worker threads; sqlite3 objects are not safe to use concurrently.
        self._lock = threading.Lock()
        # A second connection, only for `change_mark` on the event loop: it never waits (timeout 0) and never
        # takes the shared one's lock, which a writer may hold through an fsync.
        self._probe: sqlite3.Connection | None = None

    @classmethod
    def from_url(cls, url: str, *, keep_revisions: int | None = None, max_pipelines: int | None = None) -> SQLiteStore:
        """`sqlite:///relative/path.db` or `sqlite:////absolute/path.db`."""
        path = url.removeprefix("sqlite://")
        if not path.startswith("/") or path == "/":
            raise ValueError(f"Invalid SQLite URL {url!r}: use sqlite:///file.db or sqlite:////abs/path/file.db")
        return cls(Path(path[1:]), keep_revisions=keep_revisions, max_pipelines=max_pipelines)

    def open(self) -> None:
        """Create or migrate the file. A folder or file that cannot be written raises `StoreReadOnly` naming it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise folder_failure(error, self.path.parent) from None
        try:
            with self._faults():
                conn = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT, isolation_level=None, check_same_thread=False)
                self._conn = conn
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
            with self._faults():
                self._probe = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if self._probe is not None:
                self._probe.close()
                self._probe = None

    def change_mark(self) -> int | None:
        """SQLite's `data_version` as seen by the probe connection: it moves whenever another connection, in this
        process or any other, commits. In WAL mode reading it touches only the shared-memory index, not the disk."""
        if self._probe is None:
            return None
        try:
            return int(self._probe.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error:  # busy or recovering: unknown, so the sync reads the store
            return None

    def _migrate(self) -> None:
        with self._write() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            for number in pending(version, SQLITE, str(self.path)):
                for statement in SQLITE[number].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number + 1}")

    @contextmanager
    def _faults(self) -> Iterator[None]:
        """SQLite's errors about the file (full, read-only, locked) as the problems that name it and the cause."""
        try:
            yield
        except sqlite3.Error as error:
            failure = store_failure(error, self.path)
            if failure is None:
                raise
            log.warning("the store cannot take the call", extra={"store": str(self.path), "cause": failure.slug})
            raise failure from error

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                raise RuntimeError("the store is not open")
            with self._faults():
                yield self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._read() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")  # a full disk often shows only here, when the pages reach the WAL
            except BaseException:
                # After some failures (a full disk among them) SQLite has rolled the transaction back already, and
                # a second ROLLBACK would raise over the real cause; otherwise the shared connection must not stay
                # inside a transaction that the next write would then extend.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        # SQLite has one writer at a time anyway: every write takes the file's write lock.
        return self._write()

    def _execute(self, conn: sqlite3.Connection, query: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        # The shared queries are written in psycopg's `%s` style; sqlite3 takes `?` (no query holds a literal `%`).
        return conn.execute(query.replace("%s", "?"), params)

    # Times are ISO 8601 text with the UTC offset, from Python's clock: SQLite's own has no offset and only
    # milliseconds. Heartbeats are epoch seconds (REAL), so freshness is a plain numeric comparison.

    def _change_time(self) -> Stamp:
        return Stamp("%s", (datetime.now(UTC).isoformat(),))

    def _clock_time(self) -> Stamp:
        return self._change_time()

    def _seen_time(self, ago: float = 0.0) -> Stamp:
        return Stamp("%s", (time.time() - ago,))

    def _encode_json(self, value: object) -> object:
        return json.dumps(value)

    def _decode_json(self, value: Any) -> Any:
        return json.loads(value)

    def _encode_time(self, value: datetime) -> object:
        return value.isoformat()

    def _decode_time(self, value: Any) -> datetime:
        return datetime.fromisoformat(value)

    def _decode_seen(self, value: Any) -> datetime:
        return datetime.fromtimestamp(value, UTC)


def store_failure(error: sqlite3.Error, path: Path) -> StoreUnavailable | None:
    """What `error`, raised on the store file `path`, means for whoever called: None for a fault of the code."""
    code = getattr(error, "sqlite_errorcode", None)
    primary = None if code is None else code & 0xFF  # extended codes carry the primary code in their low byte
    if primary == sqlite3.SQLITE_FULL or (primary == sqlite3.SQLITE_IOERR and _low_space(path)):
        return StoreFull(
            f"The disk holding {path} is full: the change was not stored and nothing of it was kept. "
            "Free space on that volume, then retry; running pipelines keep serving."
        )
    if primary == sqlite3.SQLITE_READONLY or (primary == sqlite3.SQLITE_CANTOPEN and not _writable(path.parent)):
        return StoreReadOnly(
            f"The store {path} cannot be written: it or its folder is read-only. Make both writable (SQLite also "
            f"writes {path.name}-wal and {path.name}-shm beside it) or point STACKYARD_STORE_URL elsewhere."
        )
    if primary == sqlite3.SQLITE_CANTOPEN:
        return StoreUnavailable(f"The store {path} cannot be opened ({error}); check STACKYARD_STORE_URL.")
    if primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StoreUnavailable(
            f"The store {path} stayed locked by another process for {LOCK_TIMEOUT} s; retry when it is done."
        )
    if primary == sqlite3.SQLITE_IOERR:
        return StoreUnavailable(f"SQLite reported a disk I/O error on {path}; check the volume, then retry.")
    return None


def folder_failure(error: OSError, folder: Path) -> StoreUnavailable:
    """The store's folder could not be made."""
    if error.errno == errno.ENOSPC:
        return StoreFull(f"The store's folder {folder} cannot be created: the disk is full.")
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return StoreReadOnly(f"The store's folder {folder} cannot be created: {error.strerror}.")
    return StoreUnavailable(f"The store's folder {folder} cannot be created: {error.strerror}.")


def _low_space(path: Path) -> bool:
    try:
        return shutil.disk_usage(path.parent).free < LOW_SPACE
    except OSError:
        return False


def _writable(folder: Path) -> bool:
    # access() answers False on a read-only mount even for root, who passes every permission check otherwise.
    return os.access(folder, os.W_OK)
