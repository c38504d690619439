"""The audit log records every management action, accepted or refused, and survives restarts."""

from __future__ import annotations

from fastapi.testclient import TestClient

from stackyard.api import create_app
from stackyard.settings import Settings
from tests.yamls import prompt_yaml

YAML = {"Content-Type": "application/yaml"}


def test_each_action_is_audited_with_revisions_and_outcome(client: TestClient) -> None:
    client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    client.put("/pipelines/greet", content=prompt_yaml("v2 {{ name }}"), headers=YAML)
    client.put("/pipelines/greet", content="- bad\n", headers=YAML)
    client.post("/pipelines/greet/rollback", json={"revision": 1})
    client.patch("/pipelines/greet", json={"enabled": False})
    client.patch("/pipelines/greet", json={"enabled": True})
    client.delete("/pipelines/greet")
    client.put("/pipelines", json=[{"name": "other", "yaml": prompt_yaml()}])
    entries = client.get("/audit").json()["entries"]
    seen = [(e["action"], e["pipeline"], e["outcome"], e["from_revision"], e["to_revision"]) for e in entries]
    assert seen[::-1] == [
        ("create", "greet", "ok", None, 1),
        ("update", "greet", "unchanged", 1, 1),
        ("update", "greet", "ok", 1, 2),
        ("update", "greet", "refused", 2, None),
        ("rollback", "greet", "ok", 2, 3),
        ("disable", "greet", "ok", 3, 3),
        ("enable", "greet", "ok", 3, 3),
        ("delete", "greet", "ok", 3, None),
        ("create", "other", "ok", None, 1),
    ]
    refused = next(e for e in entries if e["outcome"] == "refused")
    assert "not a mapping" in refused["detail"]
    assert all(e["actor"] == "anonymous" for e in entries)


def test_audit_filters_by_pipeline_and_actor_and_time(client: TestClient) -> None:
    client.put("/pipelines/a", content=prompt_yaml(), headers=YAML)
    client.put("/pipelines/b", content=prompt_yaml(), headers=YAML)
    assert [e["pipeline"] for e in client.get("/audit", params={"pipeline": "a"}).json()["entries"]] == ["a"]
    assert client.get("/audit", params={"actor": "nobody"}).json()["entries"] == []
    assert client.get("/audit", params={"since": "2999-01-01T00:00:00Z"}).json()["entries"] == []
    assert len(client.get("/audit", params={"limit": 1}).json()["entries"]) == 1
    assert client.get("/audit", params={"since": "not a time"}).status_code == 422


def test_audit_survives_a_restart(settings: Settings) -> None:
    with TestClient(create_app(settings)) as first:
        first.put("/pipelines/a", content=prompt_yaml(), headers=YAML)
    with TestClient(create_app(settings)) as second:
        assert [e["action"] for e in second.get("/audit").json()["entries"]] == ["create"]
