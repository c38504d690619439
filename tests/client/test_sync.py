"""`Client` against the real app: every route returns its typed result, every problem raises its own class."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from stackyard.api import create_app
from stackyard.client import (
    ApplyItem,
    Client,
    DefinitionTooLarge,
    InvalidPipelineName,
    InvalidRunInput,
    PipelineDisabled,
    PipelineNotFound,
    RevisionConflict,
    RevisionNotFound,
    RolloutPending,
    RouteNotFound,
    ServerUnreachable,
    ValidationFailed,
    WriteResult,
)
from stackyard.settings import Settings
from stackyard.store import LoadedPipeline, ReplicaRecord
from tests.conftest import as_httpx
from tests.process.server import free_port
from tests.yamls import prompt_yaml


@pytest.fixture
def yard(client: TestClient) -> Client:
    return Client(http=as_httpx(client))


def test_put_get_list_and_delete_round_trip(yard: Client) -> None:
    created = yard.put_pipeline("greet", prompt_yaml(), description="Greets", labels={"team": "a"})
    assert isinstance(created, WriteResult)
    assert (created.outcome, created.revision, created.labels) == ("created", 1, {"team": "a"})
    assert yard.put_pipeline("greet", prompt_yaml(), description="Greets", labels={"team": "a"}).outcome == "unchanged"
    assert [(p.name, p.state) for p in yard.list_pipelines()] == [("greet", "serving")]
    assert yard.get_pipeline("greet").description == "Greets"
    assert yard.get_yaml("greet") == prompt_yaml()
    yard.delete_pipeline("greet")
    assert yard.list_pipelines() == []


def test_run_and_schema_answer_typed_results(yard: Client) -> None:
    yard.put_pipeline("greet", prompt_yaml())
    answer = yard.run("greet", {"name": "Ada"})
    assert (answer.pipeline, answer.revision, answer.result) == ("greet", 1, {"prompt": {"prompt": "Hello Ada"}})
    assert "name" in str(yard.schema("greet").inputs)


def test_history_diff_rollback_and_patch(yard: Client) -> None:
    yard.put_pipeline("greet", prompt_yaml(), message="first")
    yard.put_pipeline("greet", prompt_yaml("Hi {{ name }}"))
    page = yard.revisions("greet")
    assert ([r.number for r in page.revisions], page.total, page.revisions[1].message) == ([2, 1], 2, "first")
    assert yard.revision("greet", 1).yaml == prompt_yaml()
    diff = yard.diff("greet")
    assert (diff.from_revision, diff.to_revision) == (1, 2)
    assert '+      template: "Hi {{ name }}"' in diff.diff
    rolled = yard.rollback("greet", 1, message="back")
    assert (rolled.revision, rolled.yaml) == (3, prompt_yaml())
    patched = yard.patch_pipeline("greet", labels={"tier": "gold"})
    assert (patched.revision, patched.labels) == (4, {"tier": "gold"})


def test_apply_reports_each_outcome_and_dry_run(yard: Client) -> None:
    items = [ApplyItem(name="a", yaml=prompt_yaml()), ApplyItem(name="b", yaml=prompt_yaml())]
    first = yard.apply(items)
    assert (first.created, first.changed) == (["a", "b"], True)
    again = yard.apply(items)
    assert (again.unchanged, again.changed) == (["a", "b"], False)
    planned = yard.apply(items[:1], prune=True, dry_run=True)
    assert (planned.deleted, planned.dry_run) == (["b"], True)
    assert [p.name for p in yard.list_pipelines()] == ["a", "b"]


def test_validate_audit_and_health(yard: Client) -> None:
    assert yard.validate(prompt_yaml(), sample_input={"name": "x"}).simulation is not None
    report = yard.validate("- not a mapping\n")
    assert report.valid is False
    assert report.problems[0].message
    yard.put_pipeline("greet", prompt_yaml())
    assert [(e.action, e.pipeline) for e in yard.audit(pipeline="greet")] == [("create", "greet")]
    assert yard.health().status == "ok"
    assert yard.ready().ready is True


def test_missing_pipeline_and_revision_raise_their_own_errors(yard: Client) -> None:
    with pytest.raises(PipelineNotFound, match="ghost") as caught:
        yard.get_pipeline("ghost")
    assert (caught.value.status, caught.value.slug) == (404, "pipeline-not-found")
    yard.put_pipeline("greet", prompt_yaml())
    with pytest.raises(RevisionNotFound):
        yard.revision("greet", 9)


def test_stale_if_match_raises_revision_conflict(yard: Client) -> None:
    yard.put_pipeline("greet", prompt_yaml())
    yard.put_pipeline("greet", prompt_yaml("Hi {{ name }}"))
    with pytest.raises(RevisionConflict):
        yard.put_pipeline("greet", prompt_yaml("Yo {{ name }}"), if_match=1)
    with pytest.raises(RevisionConflict):
        yard.put_pipeline("greet", prompt_yaml(), create_only=True)


def test_invalid_definition_raises_validation_failed_with_each_problem(yard: Client) -> None:
    with pytest.raises(ValidationFailed):
        yard.put_pipeline("bad", "- not a mapping\n")
    items = [ApplyItem(name="good", yaml=prompt_yaml()), ApplyItem(name="bad", yaml="- not a mapping\n")]
    with pytest.raises(ValidationFailed) as caught:
        yard.apply(items)
    assert [problem["name"] for problem in caught.value.problems] == ["bad"]
    assert yard.list_pipelines() == []


def test_bad_name_bad_inputs_and_disabled_pipeline_raise_their_own_errors(yard: Client) -> None:
    with pytest.raises(InvalidPipelineName):
        yard.put_pipeline("Bad Name!", prompt_yaml())
    yard.put_pipeline("greet", prompt_yaml())
    with pytest.raises(InvalidRunInput):
        yard.run("greet", {})
    yard.patch_pipeline("greet", enabled=False)
    with pytest.raises(PipelineDisabled):
        yard.run("greet", {"name": "x"})


def test_a_route_the_server_lacks_raises_route_not_found(yard: Client) -> None:
    with pytest.raises(RouteNotFound, match="no route"):
        yard.raw("GET", "/no-such-route")


def test_too_large_definition_raises_definition_too_large(tmp_path: Path) -> None:
    settings = Settings(store_url=f"sqlite:///{tmp_path}/small.db", max_yaml_bytes=100)
    with TestClient(create_app(settings)) as http, pytest.raises(DefinitionTooLarge):
        Client(http=as_httpx(http)).put_pipeline("greet", prompt_yaml() + "#" * 300)


def test_a_server_that_does_not_listen_raises_server_unreachable() -> None:
    with Client(f"http://127.0.0.1:{free_port()}") as yard, pytest.raises(ServerUnreachable):
        yard.list_pipelines()


def test_the_token_is_sent_as_a_bearer_header(client: TestClient) -> None:
    seen: list[str | None] = []
    client.event_hooks["request"].append(lambda request: seen.append(request.headers.get("authorization")))
    Client(http=as_httpx(client), token="s3cret").list_pipelines()
    Client(http=as_httpx(client), token="").list_pipelines()
    assert seen == ["Bearer s3cret", None]


def _lagging_replica(client: TestClient, generation: int) -> None:
    """A second replica whose heartbeat says it applied `generation` only, written as another process would."""
    store = client.app.state.stackyard.store  # type: ignore[attr-defined]  # the app TestClient drives
    store.beat(ReplicaRecord("other", "host-b", 4242, datetime.now(UTC), generation, {"greet": LoadedPipeline(1)}))


def test_a_wait_that_runs_out_raises_rollout_pending_with_the_typed_rollout(client: TestClient, yard: Client) -> None:
    yard.put_pipeline("greet", prompt_yaml())
    _lagging_replica(client, 1)
    with pytest.raises(RolloutPending) as caught:
        yard.put_pipeline("greet", prompt_yaml("Hi {{ name }}"), wait="all", wait_timeout=0.1)
    rollout = caught.value.rollout
    assert (rollout.pipeline, rollout.revision, rollout.complete) == ("greet", 2, False)
    lagging = next(replica for replica in rollout.replicas if replica.id == "other")
    assert (lagging.applied, lagging.state, lagging.live_revision) == (False, "pending", 1)
    assert "other" in str(caught.value)
    assert yard.get_pipeline("greet").revision == 2  # the change itself was made
    with pytest.raises(RolloutPending) as deleted:
        yard.delete_pipeline("greet", wait="all", wait_timeout=0.1)
    assert (deleted.value.rollout.revision, deleted.value.rollout.complete) == (None, False)
    with pytest.raises(PipelineNotFound):
        yard.get_pipeline("greet")


def test_replicas_and_rollout_are_typed(yard: Client) -> None:
    yard.put_pipeline("greet", prompt_yaml(), wait="all")
    [me] = yard.replicas()
    assert (me.this, me.generation, me.pipelines["greet"].live_revision) == (True, 1, 1)
    rollout = yard.rollout("greet")
    assert (rollout.complete, [(r.state, r.live_revision) for r in rollout.replicas]) == (True, [("serving", 1)])
    yard.delete_pipeline("greet", wait="all")
