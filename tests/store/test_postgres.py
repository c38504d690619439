"""The PostgreSQL store passes the store contract; it migrates once, refuses a newer schema, wakes other replicas
at commit and answers "store unavailable" while the database cannot be reached, then recovers by itself."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import pytest
from psycopg import sql
from psycopg_pool.base import AttemptWithBackoff

from stackyard.errors import StoreUnavailable
from stackyard.store import Change, DefinitionStore, open_store
from stackyard.store.migrations import POSTGRES as MIGRATIONS
from stackyard.store.migrations import SchemaTooNew
from stackyard.store.postgres import PostgresStore, split_url
from tests.postgres import admin, database_cut_off, fresh_database, fresh_schema, needs_postgres
from tests.store.contract import MakeStore, StoreContract
from tests.waiting import wait_until

pytestmark = [pytest.mark.postgres, needs_postgres]


@pytest.fixture
def schema_url() -> Iterator[str]:
    with fresh_schema() as url:
        yield url


class TestPostgresStore(StoreContract):
    @pytest.fixture
    def make_store(self, schema_url: str) -> MakeStore:
        def make(**limits: int | None) -> DefinitionStore:
            store = open_store(schema_url, **limits)
            store.open()
            return store

        return make


def test_a_schema_from_a_newer_version_is_refused_untouched(schema_url: str) -> None:
    schema = split_url(schema_url)[1]
    assert schema is not None
    with admin() as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE TABLE {}.stackyard_schema (version integer)").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL("INSERT INTO {}.stackyard_schema VALUES (%s)").format(sql.Identifier(schema)),
            (len(MIGRATIONS) + 1,),
        )
    with pytest.raises(SchemaTooNew, match="Upgrade Stackyard"):
        PostgresStore(schema_url).open()
    with admin() as conn:
        tables = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))
        assert [row[0] for row in tables] == ["stackyard_schema"]


def test_replicas_starting_together_migrate_once(schema_url: str) -> None:
    stores = [PostgresStore(schema_url) for _ in range(4)]
    threads = [threading.Thread(target=store.open) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        stores[0].put(Change("a", "yaml: 1"))
        assert [store.generation() for store in stores] == [1, 1, 1, 1]
    finally:
        for store in stores:
            store.close()


def test_a_commit_on_one_replica_wakes_the_others(schema_url: str) -> None:
    writer, reader = PostgresStore(schema_url), PostgresStore(schema_url)
    writer.open()
    reader.open()
    woken = threading.Event()
    try:
        reader.watch(woken.set)
        # LISTEN starts in the listener's thread; keep committing until one commit is seen (or the deadline passes).
        for n in range(200):
            writer.put(Change("a", f"yaml: {n}"))
            if woken.wait(timeout=0.1):
                break
        assert woken.is_set()
        assert reader.get("a") == writer.get("a")
    finally:
        writer.close()
        reader.close()


def test_an_unreachable_server_is_reported_as_store_unavailable_naming_host_and_port() -> None:
    store = PostgresStore("postgresql://postgres:hunter2@127.0.0.1:1/test")
    with pytest.raises(StoreUnavailable, match="cannot be reached") as raised:
        store.open()
    assert "127.0.0.1:1 " in raised.value.detail
    assert "Connection refused" in raised.value.detail
    assert "hunter2" not in str(raised.value)


@pytest.fixture
def outage_store() -> Iterator[tuple[PostgresStore, str]]:
    """An open store on a database of its own, holding revision 1 of 'a', for a test that cuts the database off."""
    with fresh_database() as (database, url):
        store = PostgresStore(url)
        store.open()
        try:
            store.put(Change("a", "yaml: 1"))
            yield store, database
        finally:
            store.close()


def test_writes_answer_store_unavailable_during_an_outage_and_work_again_after_it(
    outage_store: tuple[PostgresStore, str],
) -> None:
    store, database = outage_store
    with database_cut_off(database), pytest.raises(StoreUnavailable, match="cannot be reached"):
        store.put(Change("a", "yaml: 2"))
    assert store.put(Change("a", "yaml: 2")).record.revision == 2


def writes(store: PostgresStore, n: int) -> bool:
    try:
        store.put(Change("a", f"yaml: back {n}"))
    except StoreUnavailable:
        return False
    return True


def test_after_a_long_outage_writes_work_again_within_a_second_or_so(
    outage_store: tuple[PostgresStore, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # psycopg_pool's reconnection backoff at a tenth of its pace: these 3.6 s of outage are 36 s of a real one, by
    # which time the doubling delay (1, 2, 4 ... s) had reached 32 s and the pool lay idle that long.
    monkeypatch.setattr(AttemptWithBackoff, "INITIAL_DELAY", AttemptWithBackoff.INITIAL_DELAY / 10)
    store, database = outage_store
    with database_cut_off(database):
        end, attempts = time.monotonic() + 3.6, 0
        while time.monotonic() < end:  # writes keep coming, and each is refused within a second
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match=re.escape(f"PostgreSQL at {store.endpoint} ")):
                store.put(Change("a", "yaml: 2"))
            assert time.monotonic() - started < 1.0
            attempts += 1
    back = time.monotonic()
    wait_until(lambda: writes(store, attempts), "a write succeeds again", timeout=15)
    assert time.monotonic() - back < 1.5
    assert [r.number for r in store.revisions("a", 10, 0)[0]] == [2, 1]  # nothing of the refused writes
