"""The sync's poll: an idle SQLite store is not read, a commit by another process is seen at the next tick, and a
tick that failed half-way is read again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stackyard.changes.manager import Manager
from stackyard.changes.sync import Synchronizer
from stackyard.serving.cell_pool import CellPool
from stackyard.serving.registry import Registry
from stackyard.settings import Settings
from stackyard.store import Change, PipelineRecord
from stackyard.store.sqlite import SQLiteStore
from tests.yamls import prompt_yaml


class WatchedStore(SQLiteStore):
    """Counts the sync's generation reads, and can fail the next read of the changes."""

    reads = 0
    fail_next = False

    def generation(self) -> int:
        self.reads += 1
        return super().generation()

    def changes_since(self, generation: int) -> list[PipelineRecord]:
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk hiccup")
        return super().changes_since(generation)


SETTINGS = Settings(store_url="sqlite:///unused.db", run_workers=1)


@pytest.fixture
async def pool() -> AsyncIterator[CellPool]:
    workers = CellPool.for_settings(SETTINGS)
    await workers.start()
    try:
        yield workers
    finally:
        await workers.close()


def synchronizer(store: SQLiteStore, registry: Registry, pool: CellPool) -> Synchronizer:
    return Synchronizer(Manager(store=store, registry=registry, settings=SETTINGS, pool=pool))


async def test_idle_ticks_skip_the_store_and_another_process_commit_is_applied(tmp_path: Path, pool: CellPool) -> None:
    store, other = WatchedStore(tmp_path / "yard.db"), SQLiteStore(tmp_path / "yard.db")
    store.open()
    other.open()  # another worker's connection to the same file
    registry = Registry()
    sync = synchronizer(store, registry, pool)
    try:
        await sync.converge()
        reads = store.reads
        for _ in range(3):
            await sync.converge()
        assert store.reads == reads, "nothing was committed, so nothing was read"

        other.put(Change("greet", prompt_yaml()))
        await sync.converge()
        live = registry.get("greet")
        assert live is not None
        assert live.revision == 1
        assert store.reads == reads + 1
    finally:
        registry.close()
        store.close()
        other.close()


async def test_a_tick_that_failed_half_way_reads_the_store_again_at_the_next(tmp_path: Path, pool: CellPool) -> None:
    store = WatchedStore(tmp_path / "yard.db")
    store.open()
    registry = Registry()
    sync = synchronizer(store, registry, pool)
    try:
        await sync.converge()
        store.put(Change("greet", prompt_yaml()))
        store.fail_next = True
        with pytest.raises(OSError, match="hiccup"):
            await sync.converge()
        assert registry.get("greet") is None
        await sync.converge()
        assert registry.get("greet") is not None
    finally:
        registry.close()
        store.close()
