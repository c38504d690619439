"""A pipeline's document stores, found through its components, and the reads and deletes the API offers on them.

Every call here is blocking and runs in a cell, for a `Documents` job the server sent under a lease on the revision
(`cell/work.py`). In-memory stores are guarded by `index_guard`, so these calls never fail a query or an indexing
run going on at the same time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from haystack.dataclasses import Document
from haystack.errors import FilterError

from stackyard.errors import AmbiguousDocumentStore, InvalidFilters, NoDocumentStore, trim

if TYPE_CHECKING:  # building guards stores with `held_stores`, so this module cannot import the build at run time
    from haystack import Pipeline

    from stackyard.cell.build import Build

T = TypeVar("T")


def held_stores(pipeline: Pipeline) -> Iterator[tuple[str, Any]]:
    """Each component of `pipeline` that holds a document store, with that store: the one way stores are found."""
    for name, component in pipeline.walk():
        store = _store_of(component)
        if store is not None:
            yield name, store


def document_stores(build: Build) -> dict[str, Any]:
    """Component name -> the document store it holds; components holding the same store are listed once."""
    found: dict[str, Any] = {}
    seen: list[tuple[type, Any]] = []
    for name, store in sorted(held_stores(build.pipeline), key=lambda held: held[0]):
        # Two components over the same store (a retriever and a writer on one index) are one store to the caller.
        key = (type(store), _identity(store))
        if key not in seen:
            seen.append(key)
            found[name] = store
    return found


def _store_of(component: Any) -> Any:
    """The document store `component` holds, or None (an attribute of that name that is no store counts as none)."""
    store = getattr(component, "document_store", None)
    return store if hasattr(store, "filter_documents") else None


def _identity(store: Any) -> Any:
    try:
        return store.to_dict()
    except Exception:  # a store that cannot describe itself is only itself
        return id(store)


def pick_store(build: Build, pipeline: str, component: str | None) -> tuple[str, Any]:
    """The store of `component`, or the pipeline's only store; a clear 422 when there is none or a choice to make."""
    stores = document_stores(build)
    if component is not None:
        held = build.pipeline.get_component(component) if component in build.pipeline.graph.nodes else None
        store = _store_of(held)
        if store is None:
            raise NoDocumentStore(
                f"Pipeline '{pipeline}' has no component '{trim(component, 80)}' holding a document store; "
                f"these do: {', '.join(stores) or 'none'}.",
                components=list(stores),
            )
        return component, store
    if not stores:
        raise NoDocumentStore(f"Pipeline '{pipeline}' has no component that holds a document store.")
    if len(stores) > 1:
        raise AmbiguousDocumentStore(
            f"Pipeline '{pipeline}' holds {len(stores)} document stores; name one with 'component': "
            f"{', '.join(stores)}.",
            components=list(stores),
        )
    return next(iter(stores.items()))


def search(store: Any, filters: dict[str, Any] | None, offset: int, limit: int) -> tuple[int, list[Document]]:
    """Documents matching `filters` (all when None), ordered by id for stable pages: (total, page)."""
    documents = _filtered(store, filters)
    documents.sort(key=lambda document: document.id)
    return len(documents), documents[offset : offset + limit]


def count(store: Any, filters: dict[str, Any] | None) -> int:
    if filters is None:
        return int(store.count_documents())
    if hasattr(store, "count_documents_by_filter"):
        return _checked(lambda: int(store.count_documents_by_filter(filters)))
    return len(_filtered(store, filters))


def delete(store: Any, filters: dict[str, Any] | None) -> int:
    """Delete the documents matching `filters` (every document when None); answers how many went."""
    if filters is not None and hasattr(store, "delete_by_filter"):
        return _checked(lambda: int(store.delete_by_filter(filters)))
    ids = [document.id for document in _filtered(store, filters)]
    if ids:
        store.delete_documents(ids)
    return len(ids)


def _filtered(store: Any, filters: dict[str, Any] | None) -> list[Document]:
    return _checked(lambda: list(store.filter_documents(filters=filters)))


def _checked(call: Callable[[], T]) -> T:
    try:
        return call()
    except (FilterError, ValueError, TypeError, KeyError) as error:
        raise InvalidFilters(
            f"The filters cannot be applied: {trim(str(error), 300)}. Use Haystack's filter syntax: "
            '{"field": "meta.year", "operator": ">=", "value": 2020}, combined with {"operator": "AND", '
            '"conditions": [...]}.'
        ) from None
