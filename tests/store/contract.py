"""The contract every `DefinitionStore` implementation passes. Subclass and provide `make_store`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from stackyard.errors import PipelineNotFound, RevisionConflict
from stackyard.store import Change, DefinitionStore, Expectation, Outcome

MakeStore = Callable[[], DefinitionStore]


class StoreContract:
    """Behaviour of the definition store, independent of the database behind it."""

    @pytest.fixture
    def make_store(self) -> MakeStore:
        """A factory of stores on one database, each opened; implementations override this."""
        raise NotImplementedError

    @pytest.fixture
    def store(self, make_store: MakeStore) -> Iterator[DefinitionStore]:
        store = make_store()
        yield store
        store.close()

    def test_put_of_a_new_name_creates_revision_one(self, store: DefinitionStore) -> None:
        result = store.put(Change("a", "yaml: 1", "first", {"team": "search"}, "alice", "initial"))
        assert result.outcome is Outcome.CREATED
        assert result.record.revision == 1
        assert result.record.labels == {"team": "search"}
        assert result.record.description == "first"
        assert result.generation == store.generation() == 1
        fetched = store.get("a")
        assert fetched is not None
        assert fetched.yaml == "yaml: 1"

    def test_identical_put_changes_nothing(self, store: DefinitionStore) -> None:
        store.put(Change("a", "yaml: 1", "d", {"k": "v"}))
        result = store.put(Change("a", "yaml: 1", "d", {"k": "v"}))
        assert result.outcome is Outcome.UNCHANGED
        assert result.record.revision == 1
        assert store.generation() == 1

    def test_changed_yaml_description_or_labels_make_a_new_revision(self, store: DefinitionStore) -> None:
        store.put(Change("a", "yaml: 1"))
        assert store.put(Change("a", "yaml: 2")).record.revision == 2
        assert store.put(Change("a", "yaml: 2", description="x")).record.revision == 3
        result = store.put(Change("a", "yaml: 2", description="x", labels={"a": "b"}))
        assert (result.outcome, result.record.revision, store.generation()) == (Outcome.UPDATED, 4, 4)

    def test_get_of_an_unknown_name_is_none(self, store: DefinitionStore) -> None:
        assert store.get("nope") is None

    def test_list_is_ordered_by_name_and_leaves_out_deleted(self, store: DefinitionStore) -> None:
        for name in ("c", "a", "b"):
            store.put(Change(name, f"yaml: {name}"))
        store.delete("b")
        assert [record.name for record in store.pipelines()] == ["a", "c"]

    def test_delete_hides_the_pipeline_and_a_second_delete_is_not_found(self, store: DefinitionStore) -> None:
        store.put(Change("a", "yaml: 1"))
        result = store.delete("a")
        assert result.outcome is Outcome.DELETED
        assert result.record.deleted
        assert store.get("a") is None
        with pytest.raises(PipelineNotFound):
            store.delete("a")

    def test_recreating_a_deleted_name_continues_the_numbering(self, store: DefinitionStore) -> None:
        store.put(Change("a", "yaml: 1"))
        store.put(Change("a", "yaml: 2"))
        store.delete("a")
        result = store.put(Change("a", "yaml: 2"))
        assert result.outcome is Outcome.CREATED
        assert result.record.revision == 3

    def test_stale_if_match_is_refused_and_changes_nothing(self, store: DefinitionStore) -> None:
        store.put(Change("a", "yaml: 1"))
        store.put(Change("a", "yaml: 2"))
        with pytest.raises(RevisionConflict):
            store.put(Change("a", "yaml: 3"), Expectation(revision=1))
        with pytest.raises(RevisionConflict):
            store.delete("a", Expectation(revision=1))
        record = store.get("a")
        assert record is not None
        assert (record.revision, record.yaml, store.generation()) == (2, "yaml: 2", 2)
        assert store.put(Change("a", "yaml: 3"), Expectation(revision=2)).record.revision == 3

    def test_create_only_is_refused_when_the_pipeline_exists(self, store: DefinitionStore) -> None:
        store.put(Change("a", "yaml: 1"), Expectation(absent=True))
        with pytest.raises(RevisionConflict):
            store.put(Change("a", "yaml: 2"), Expectation(absent=True))

    def test_changes_since_lists_updates_and_deletes_after_a_generation(self, store: DefinitionStore) -> None:
        store.put(Change("a", "yaml: 1"))
        store.put(Change("b", "yaml: 1"))
        mark = store.generation()
        store.put(Change("a", "yaml: 2"))
        store.delete("b")
        changes = store.changes_since(mark)
        assert [(r.name, r.revision, r.deleted) for r in changes] == [("a", 2, False), ("b", 1, True)]
        assert store.changes_since(store.generation()) == []

    def test_concurrent_puts_get_distinct_consecutive_revisions(self, store: DefinitionStore) -> None:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda i: store.put(Change("a", f"yaml: {i}")), range(40)))
        assert sorted(result.record.revision for result in results) == list(range(1, 41))
        assert store.generation() == 40

    def test_what_is_committed_survives_reopening(self, make_store: MakeStore) -> None:
        first = make_store()
        first.put(Change("a", "yaml: 1", labels={"x": "y"}))
        first.put(Change("a", "yaml: 2"))
        first.close()
        second = make_store()
        try:
            record = second.get("a")
            assert record is not None
            assert (record.revision, record.yaml, second.generation()) == (2, "yaml: 2", 2)
        finally:
            second.close()
