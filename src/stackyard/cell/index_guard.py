"""A reader-writer lock per in-memory index, so indexing and querying the same documents never fail each other.

Haystack's `InMemoryDocumentStore` keeps the documents of a shared index in process-global dicts and takes no lock:
a BM25 query iterates over them while a write inserts into them, and the query fails with "dictionary changed size
during iteration" (almost every query that overlaps a write). Every pipeline over the same index works on the same
dicts, so the guard is one lock per index name, shared by all of them (a store with `shared: false` gets its own).

The guard wraps the methods of each store *instance* when a pipeline is built, rather than replacing the class:
the definition keeps naming Haystack's own class (so revisions, diffs and `to_dict` stay exactly what the user
wrote), retrievers and writers call the store through its attributes and so meet the wrappers, and Haystack itself
stays untouched. Reads run side by side; a write waits for the reads in progress and holds new ones back.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from haystack import Pipeline
from haystack.document_stores.in_memory import InMemoryDocumentStore

from stackyard.cell.docstores import held_stores
from stackyard.cell.haystack_internals import shares_its_index

READS = (
    "filter_documents",
    "count_documents",
    "count_documents_by_filter",
    "count_unique_metadata_by_filter",
    "get_metadata_fields_info",
    "get_metadata_field_min_max",
    "get_metadata_field_unique_values",
    "bm25_retrieval",
    "embedding_retrieval",
    "save_to_disk",
)
WRITES = ("write_documents", "delete_documents", "delete_all_documents", "update_by_filter", "delete_by_filter")
_GUARDED = "_stackyard_index_guard"


class ReadWriteLock:
    """Many readers or one writer; a waiting writer holds new readers back so writes are not starved.

    Re-entrant per thread: a store method that calls another one (BM25 retrieval filters first; a write with the
    overwrite policy deletes first) runs under the lock its thread already holds instead of waiting for itself.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0
        self._held = threading.local()

    def _depth(self) -> int:
        depth: int = getattr(self._held, "depth", 0)
        return depth

    @contextmanager
    def reading(self) -> Iterator[None]:
        if self._depth():
            yield from self._nested()
            return
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield from self._nested()
        finally:
            with self._cond:
                self._readers -= 1
                if self._readers == 0:
                    self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        if self._depth():
            yield from self._nested()
            return
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = True
        try:
            yield from self._nested()
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()

    def _nested(self) -> Iterator[None]:
        self._held.depth = self._depth() + 1
        try:
            yield
        finally:
            self._held.depth -= 1


_locks: dict[str, ReadWriteLock] = {}
_locks_lock = threading.Lock()


def index_lock(index: str) -> ReadWriteLock:
    """The one lock of a shared in-memory index in this process."""
    with _locks_lock:
        lock = _locks.get(index)
        if lock is None:
            lock = _locks[index] = ReadWriteLock()
        return lock


def guard(store: InMemoryDocumentStore) -> None:
    """Wrap `store`'s reads and writes in its index's lock (once; guarding twice does nothing)."""
    if getattr(store, _GUARDED, None) is not None:
        return
    lock = index_lock(store.index) if shares_its_index(store) else ReadWriteLock()
    setattr(store, _GUARDED, lock)
    for names, section in ((READS, lock.reading), (WRITES, lock.writing)):
        for name in names:
            method = getattr(store, name, None)
            if method is not None:
                setattr(store, name, _wrapped(method, section))


def _wrapped(method: Callable[..., Any], section: Callable[[], Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        with section():
            return method(*args, **kwargs)

    return call


def guard_pipeline_stores(pipeline: Pipeline) -> None:
    """Guard every in-memory store that a pipeline's components hold."""
    for _name, store in held_stores(pipeline):
        if isinstance(store, InMemoryDocumentStore):
            guard(store)
