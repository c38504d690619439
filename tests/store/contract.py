"""The contract every `DefinitionStore` implementation passes. Subclass and provide `make_store`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from stackyard.errors import PipelineNotFound, RevisionConflict, TooManyPipelines
from stackyard.store import (
    AuditEntry,
    AuditQuery,
    Change,
    DefinitionStore,
    Expectation,
    Feedback,
    FeedbackCount,
    LoadedPipeline,
    Outcome,
    ReplicaRecord,
)

MakeStore = Callable[..., DefinitionStore]  # (keep_revisions: int | None = None) -> an opened store


class StoreContract:
    """Behaviour of the definition store, independent of the database behind it."""

    @pytest.fixture
    def make_store(self) -> MakeStore:
        """A factory of opened stores on one database (`keep_revisions=` optional); implementations override it."""
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
            store.put(Change("a", "yaml: 3"), Expectation.at(1))
        with pytest.raises(RevisionConflict):
            store.delete("a", Expectation.at(1))
        record = store.get("a")
        assert record is not None
        assert (record.revision, record.yaml, store.generation()) == (2, "yaml: 2", 2)
        assert store.put(Change("a", "yaml: 3"), Expectation.at(2)).record.revision == 3

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

    def test_apply_commits_every_change_and_delete_together(self, store: DefinitionStore) -> None:
        store.put(Change("old", "yaml: 1"))
        store.put(Change("keep", "yaml: 1"))
        results = store.apply([Change("new", "yaml: 1"), Change("keep", "yaml: 2")], ["old"])
        assert [(r.record.name, r.outcome) for r in results] == [
            ("new", Outcome.CREATED),
            ("keep", Outcome.UPDATED),
            ("old", Outcome.DELETED),
        ]
        assert [r.name for r in store.pipelines()] == ["keep", "new"]

    def test_apply_that_fails_part_way_commits_nothing(self, store: DefinitionStore) -> None:
        store.put(Change("keep", "yaml: 1"))
        generation = store.generation()
        with pytest.raises(PipelineNotFound):
            store.apply([Change("new", "yaml: 1"), Change("keep", "yaml: 2")], ["ghost"])
        assert [(r.name, r.revision) for r in store.pipelines()] == [("keep", 1)]
        assert store.generation() == generation

    def test_a_change_of_the_switch_alone_adds_no_revision(self, store: DefinitionStore) -> None:
        store.put(Change("a", "yaml: 1"))
        off = store.put(Change("a", "yaml: 1", enabled=False))
        assert (off.outcome, off.record.enabled, off.record.revision) == (Outcome.UPDATED, False, 1)
        assert store.changes_since(1)[0].enabled is False
        assert store.put(Change("a", "yaml: 1", enabled=False)).outcome is Outcome.UNCHANGED
        assert store.put(Change("a", "yaml: 1")).outcome is Outcome.UNCHANGED  # None keeps the switch
        assert store.put(Change("a", "yaml: 2")).record.enabled is False  # a new revision keeps it too
        assert store.put(Change("a", "yaml: 2", enabled=True)).record.enabled is True
        with pytest.raises(RevisionConflict):
            store.put(Change("a", "yaml: 2", enabled=False), Expectation.at(7))
        assert store.put(Change("new", "yaml: 1", enabled=False)).record.enabled is False

    def test_new_content_and_the_switch_are_one_revision_one_generation_one_audit_entry(
        self, store: DefinitionStore
    ) -> None:
        store.put(Change("a", "yaml: 1"))
        generation = store.generation()
        entry = AuditEntry("alice", "update", "a", "ok")
        both = store.put(Change("a", "yaml: 1", description="new", enabled=False), Expectation.at(1), entry)
        assert (both.record.revision, both.record.enabled, both.record.description) == (2, False, "new")
        assert (both.generation, store.generation()) == (generation + 1, generation + 1)
        assert [(e.action, e.from_revision, e.to_revision) for e in store.audit(AuditQuery())] == [("update", 1, 2)]
        with pytest.raises(RevisionConflict):
            store.put(Change("a", "yaml: 1", description="newer", enabled=True), Expectation.at(1))
        assert (store.get("a").revision, store.get("a").enabled) == (2, False)  # type: ignore[union-attr]

    def test_revisions_are_kept_newest_first_and_paginated(self, store: DefinitionStore) -> None:
        for n in range(1, 6):
            store.put(Change("a", f"yaml: {n}", author="alice", message=f"change {n}"))
        store.delete("a")
        page, total = store.revisions("a", limit=2, offset=1)
        assert total == 5
        assert [(r.number, r.yaml, r.author, r.message) for r in page] == [
            (4, "yaml: 4", "alice", "change 4"),
            (3, "yaml: 3", "alice", "change 3"),
        ]
        found = store.revision("a", 2)
        assert found is not None
        assert found.yaml == "yaml: 2"
        assert store.revision("a", 9) is None
        assert store.revisions("ghost", limit=10, offset=0) == ([], 0)

    def test_revision_cap_drops_the_oldest_and_keeps_numbering(self, make_store: MakeStore) -> None:
        store = make_store(keep_revisions=3)
        try:
            for n in range(1, 7):
                store.put(Change("a", f"yaml: {n}"))
            page, total = store.revisions("a", limit=10, offset=0)
            assert ([r.number for r in page], total) == ([6, 5, 4], 3)
            assert store.put(Change("a", "yaml: 7")).record.revision == 7
        finally:
            store.close()

    def test_the_pipeline_cap_refuses_a_creation_but_never_an_update(self, make_store: MakeStore) -> None:
        store = make_store(max_pipelines=2)
        try:
            store.put(Change("a", "yaml: 1"))
            store.put(Change("b", "yaml: 1"))
            generation = store.generation()
            with pytest.raises(TooManyPipelines) as refused:
                store.put(Change("c", "yaml: 1"))
            assert refused.value.extensions["limit"] == 2
            with pytest.raises(TooManyPipelines):
                store.apply([Change("c", "yaml: 1"), Change("d", "yaml: 1")], [], None)
            assert store.get("c") is None
            assert store.generation() == generation  # nothing was written
            assert store.put(Change("a", "yaml: 2")).record.revision == 2  # updates are not refused
            store.delete("b")
            assert store.put(Change("c", "yaml: 1")).outcome is Outcome.CREATED
        finally:
            store.close()

    def test_the_pipeline_cap_holds_under_concurrent_creations(self, make_store: MakeStore) -> None:
        stores = [make_store(max_pipelines=5) for _ in range(4)]
        try:

            def create(index: int) -> bool:
                try:
                    stores[index % len(stores)].put(Change(f"p{index}", "yaml: 1"))
                except TooManyPipelines:
                    return False
                return True

            with ThreadPoolExecutor(8) as creating:
                created = list(creating.map(create, range(16)))
            assert sum(created) == 5
            assert len(stores[0].pipelines()) == 5
        finally:
            for store in stores:
                store.close()

    def test_audit_entries_are_recorded_and_filtered(self, store: DefinitionStore) -> None:
        store.record_audit(AuditEntry("alice", "create", "a", "ok", None, 1))
        store.record_audit(AuditEntry("bob", "update", "a", "refused", 1, None, "invalid definition"))
        store.record_audit(AuditEntry("alice", "create", "b", "ok", None, 1))
        everything = store.audit(AuditQuery())
        assert [(e.actor, e.action, e.pipeline, e.outcome) for e in everything] == [
            ("alice", "create", "b", "ok"),
            ("bob", "update", "a", "refused"),
            ("alice", "create", "a", "ok"),
        ]
        assert everything[1].detail == "invalid definition"
        assert everything[1].at is not None
        assert [e.pipeline for e in store.audit(AuditQuery(pipeline="a", actor="alice"))] == ["a"]
        assert store.audit(AuditQuery(since=datetime.now(UTC) + timedelta(hours=1))) == []
        assert len(store.audit(AuditQuery(until=datetime.now(UTC) + timedelta(hours=1), limit=2))) == 2

    def test_every_write_commits_its_audit_entry_with_it_completed_by_what_it_did(self, store: DefinitionStore) -> None:
        def entry(action: str, pipeline: str | None) -> AuditEntry:
            return AuditEntry("alice", action, pipeline, "ok", detail=f"by {action}")

        store.put(Change("a", "yaml: 1"), audit=entry("create", "a"))
        store.put(Change("a", "yaml: 1", enabled=False), audit=entry("disable", "a"))
        store.put(Change("a", "yaml: 1", enabled=False), audit=entry("disable", "a"))  # changes nothing
        store.apply([Change("b", "yaml: 1")], ["a"], audit=entry("apply", None))
        store.delete("b", audit=entry("delete", "b"))
        logged = [(e.action, e.pipeline, e.outcome, e.from_revision, e.to_revision) for e in store.audit(AuditQuery())]
        assert list(reversed(logged)) == [
            ("create", "a", "ok", None, 1),
            ("disable", "a", "ok", 1, 1),
            ("disable", "a", "unchanged", 1, 1),
            ("create", "b", "ok", None, 1),  # an apply's members take the action that happened to each
            ("delete", "a", "ok", 1, None),
            ("delete", "b", "ok", 1, None),
        ]
        assert {e.actor for e in store.audit(AuditQuery())} == {"alice"}

    def test_a_write_whose_audit_entry_cannot_be_written_commits_nothing(self, store: DefinitionStore) -> None:
        store.put(Change("a", "yaml: 1"))
        generation = store.generation()
        broken = AuditEntry(None, "update", "a", "ok")  # type: ignore[arg-type]  # an actor the table refuses

        with pytest.raises(Exception):  # noqa: B017, PT011 - each driver has its own integrity error
            store.put(Change("a", "yaml: 2"), audit=broken)
        with pytest.raises(Exception):  # noqa: B017, PT011
            store.apply([Change("b", "yaml: 1")], ["a"], audit=broken)
        with pytest.raises(Exception):  # noqa: B017, PT011
            store.delete("a", audit=broken)
        assert [(r.name, r.revision, r.yaml) for r in store.pipelines()] == [("a", 1, "yaml: 1")]
        assert store.generation() == generation
        assert store.audit(AuditQuery()) == []

    def test_replica_heartbeats_are_listed_and_replaced(self, store: DefinitionStore) -> None:
        started = datetime.now(UTC)
        store.beat(ReplicaRecord("r1", "host-a", 11, started, 3, {"a": LoadedPipeline(2, 3, "missing env var")}))
        store.beat(ReplicaRecord("r2", "host-b", 12, started, 1, {}))
        store.beat(ReplicaRecord("r2", "host-b", 12, started, 4, {"a": LoadedPipeline(4)}))
        listed = store.replicas(max_age=3600)
        assert [(r.id, r.host, r.pid, r.generation, r.pipelines) for r in listed] == [
            ("r1", "host-a", 11, 3, {"a": LoadedPipeline(2, 3, "missing env var")}),
            ("r2", "host-b", 12, 4, {"a": LoadedPipeline(4)}),
        ]
        assert listed[0].seen_at is not None
        assert listed[0].started_at == started

    def test_a_replica_that_left_or_went_silent_is_not_listed(self, store: DefinitionStore) -> None:
        store.beat(ReplicaRecord("r1", "h", 1, datetime.now(UTC), 0, {}))
        store.beat(ReplicaRecord("r2", "h", 2, datetime.now(UTC), 0, {}))
        store.leave("r1")
        assert [r.id for r in store.replicas(max_age=3600)] == ["r2"]
        # A negative age puts the cut-off in the future: every heartbeat is older than that.
        assert store.replicas(max_age=-60) == []

    # -- feedback -----------------------------------------------------------------------------------------------

    def test_feedback_is_stored_with_an_id_and_listed_newest_first(self, store: DefinitionStore) -> None:
        first = store.add_feedback(
            Feedback("query", 1, "who?", True, answer="Ada", document_id="d1", comment="good", meta={"k": [1]})
        )
        second = store.add_feedback(Feedback("query", 2, "what?", False, actor="bob"))
        store.add_feedback(Feedback("other", 1, "why?", True))
        assert first.id is not None
        assert first.created_at is not None
        assert (first.answer, first.document_id, first.comment, first.meta) == ("Ada", "d1", "good", {"k": [1]})
        listed = store.feedback("query", limit=10, offset=0)
        assert [item.id for item in listed] == [second.id, first.id]
        assert listed == [second, first]
        assert len(store.feedback(None, limit=10, offset=0)) == 3
        assert [item.id for item in store.feedback("query", limit=1, offset=1)] == [first.id]

    def test_feedback_is_deleted_one_by_id_or_all_of_a_pipeline(self, store: DefinitionStore) -> None:
        kept = store.add_feedback(Feedback("other", 1, "q", True))
        one = store.add_feedback(Feedback("query", 1, "q", True))
        store.add_feedback(Feedback("query", 1, "q", False))
        assert store.delete_feedback("query", one.id) == 1
        assert store.delete_feedback("query", one.id) == 0
        assert store.delete_feedback("query") == 1
        assert store.feedback(None, limit=10, offset=0) == [kept]
        assert store.delete_feedback(None) == 1

    def test_feedback_is_deleted_by_ids_of_one_pipeline_only(self, store: DefinitionStore) -> None:
        other = store.add_feedback(Feedback("other", 1, "q", True))
        many = [store.add_feedback(Feedback("query", 1, f"q{n}", True)) for n in range(1001)]
        kept = many.pop(600)
        ids = [item.id for item in many if item.id is not None]
        assert store.delete_feedback_ids("query", [*ids, other.id or 0, 999_999]) == len(many)
        assert store.feedback(None, limit=10, offset=0) == [kept, other]
        assert store.delete_feedback_ids("query", []) == 0

    def test_feedback_summary_counts_verdicts_per_revision(self, store: DefinitionStore) -> None:
        for revision, correct in [(1, True), (1, False), (1, False), (2, True), (2, True), (None, True)]:
            store.add_feedback(Feedback("query", revision, "q", correct))
        store.add_feedback(Feedback("other", 1, "q", True))
        assert store.feedback_summary("query") == [
            FeedbackCount(1, 3, 1, 2),
            FeedbackCount(2, 2, 2, 0),
            FeedbackCount(None, 1, 1, 0),
        ]
        assert store.feedback_summary("nothing") == []
