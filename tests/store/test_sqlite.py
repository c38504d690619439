"""The SQLite store passes the store contract, and refuses a database from a newer Stackyard."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from stackyard.store import Change, DefinitionStore, open_store
from stackyard.store.migrations import SQLITE as MIGRATIONS
from stackyard.store.sqlite import SchemaTooNew, SQLiteStore
from tests.store.contract import MakeStore, StoreContract


class TestSQLiteStore(StoreContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> MakeStore:
        def make(**limits: int | None) -> DefinitionStore:
            store = open_store(f"sqlite:///{tmp_path}/yard.db", **limits)
            store.open()
            return store

        return make


def test_a_database_from_a_newer_version_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(SchemaTooNew, match="Upgrade Stackyard"):
        SQLiteStore(path).open()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


@pytest.mark.parametrize("url", ["sqlite://relative.db", "sqlite:///", "mysql://x"])
def test_unusable_store_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="URL"):
        open_store(url)


def test_the_change_mark_moves_with_every_commit_of_any_connection_and_only_then(tmp_path: Path) -> None:
    here, other = SQLiteStore(tmp_path / "yard.db"), SQLiteStore(tmp_path / "yard.db")
    here.open()
    other.open()  # as another worker process would hold it
    try:
        idle = here.change_mark()
        assert idle is not None
        here.generation()  # reads move nothing
        assert here.change_mark() == idle
        here.put(Change("greet", "yaml: 1"))
        after_own = here.change_mark()
        assert after_own != idle
        other.put(Change("greet", "yaml: 2"))
        assert here.change_mark() != after_own
    finally:
        here.close()
        other.close()
    assert here.change_mark() is None  # closed: unknown
