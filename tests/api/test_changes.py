"""Enable/disable, patching description and labels, and declarative apply of many pipelines."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import yard
from tests.yamls import prompt_yaml

YAML = {"Content-Type": "application/yaml"}


def test_disable_refuses_runs_with_503_and_enable_brings_it_back(client: TestClient) -> None:
    client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    off = client.patch("/pipelines/greet", json={"enabled": False})
    assert (off.status_code, off.json()["enabled"], off.json()["revision"]) == (200, False, 1)
    refused = client.post("/pipelines/greet/run", json={"data": {"name": "x"}})
    assert refused.status_code == 503
    assert refused.json()["type"].endswith("/disabled")
    assert client.get("/pipelines/greet").json()["enabled"] is False
    assert client.patch("/pipelines/greet", json={"enabled": True}).json()["enabled"] is True
    assert client.post("/pipelines/greet/run", json={"data": {"name": "x"}}).status_code == 200


def test_patch_description_and_labels_makes_a_revision_with_the_same_yaml(client: TestClient) -> None:
    client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    patched = client.patch("/pipelines/greet", json={"description": "Greets", "labels": {"team": "a"}})
    assert patched.json()["revision"] == 2
    got = client.get("/pipelines/greet").json()
    assert (got["description"], got["labels"], got["yaml"]) == ("Greets", {"team": "a"}, prompt_yaml())


def test_empty_patch_is_a_400(client: TestClient) -> None:
    client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    assert client.patch("/pipelines/greet", json={}).status_code == 400
    assert client.patch("/pipelines/ghost", json={"enabled": False}).status_code == 404


def item(name: str, template: str = "Hello {{ name }}") -> dict[str, object]:
    return {"name": name, "yaml": prompt_yaml(template)}


def test_apply_creates_updates_and_reports_unchanged(client: TestClient) -> None:
    first = client.put("/pipelines", json=[item("a"), item("b")]).json()
    assert (first["created"], first["updated"], first["unchanged"]) == (["a", "b"], [], [])
    second = client.put("/pipelines", json=[item("a"), item("b", "Hi {{ name }}"), item("c")]).json()
    assert (second["created"], second["updated"], second["unchanged"]) == (["c"], ["b"], ["a"])
    assert client.post("/pipelines/b/run", json={"data": {"name": "x"}}).json()["result"]["prompt"]["prompt"] == "Hi x"


def test_apply_with_prune_deletes_what_is_missing(client: TestClient) -> None:
    client.put("/pipelines", json=[item("a"), item("b")])
    report = client.put("/pipelines", params={"prune": "true"}, json=[item("a")]).json()
    assert report["deleted"] == ["b"]
    assert [p["name"] for p in client.get("/pipelines").json()["pipelines"]] == ["a"]
    assert client.post("/pipelines/b/run", json={"data": {"name": "x"}}).status_code == 404


def test_apply_dry_run_reports_and_changes_nothing(client: TestClient, app: FastAPI) -> None:
    client.put("/pipelines", json=[item("a"), item("b")])
    generation = yard(app).store.generation()
    report = client.put(
        "/pipelines", params={"prune": "true", "dry_run": "true"}, json=[item("a", "New {{ name }}"), item("c")]
    ).json()
    assert report == {
        "created": ["c"],
        "updated": ["a"],
        "unchanged": [],
        "deleted": ["b"],
        "dry_run": True,
        "generation": None,
    }
    assert [(p["name"], p["revision"]) for p in client.get("/pipelines").json()["pipelines"]] == [("a", 1), ("b", 1)]
    assert yard(app).store.generation() == generation


def test_apply_with_one_invalid_member_changes_nothing(client: TestClient, app: FastAPI) -> None:
    client.put("/pipelines", json=[item("a")])
    live_a = yard(app).registry.get("a")
    answer = client.put(
        "/pipelines",
        params={"prune": "true"},
        json=[item("a", "New {{ name }}"), item("b"), {"name": "bad", "yaml": "- not a mapping\n"}],
    )
    assert answer.status_code == 422
    problem = answer.json()
    assert [p["name"] for p in problem["problems"]] == ["bad"]
    assert "not a mapping" in problem["problems"][0]["detail"]
    assert [(p["name"], p["revision"]) for p in client.get("/pipelines").json()["pipelines"]] == [("a", 1)]
    assert yard(app).registry.get("a") is live_a
    assert yard(app).registry.get("b") is None


def test_apply_refuses_repeated_names_and_bad_names(client: TestClient) -> None:
    assert client.put("/pipelines", json=[item("a"), item("a")]).status_code == 422
    assert client.put("/pipelines", json=[item("Bad Name")]).status_code == 400
    assert client.get("/pipelines").json()["pipelines"] == []


def test_patch_of_switch_and_description_is_one_revision_one_audit_entry(client: TestClient, app: FastAPI) -> None:
    client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    generation = yard(app).store.generation()
    both = client.patch(
        "/pipelines/greet", json={"enabled": False, "description": "Greets"}, headers={"If-Match": '"1"'}
    )
    assert (both.status_code, both.json()["revision"], both.json()["enabled"]) == (200, 2, False)
    assert yard(app).store.generation() == generation + 1
    entries = client.get("/audit", params={"pipeline": "greet"}).json()["entries"]
    assert [(e["action"], e["to_revision"]) for e in entries] == [("update", 2), ("create", 1)]
    assert client.post("/pipelines/greet/run", json={"data": {"name": "x"}}).status_code == 503


def test_a_stale_if_match_on_patch_changes_neither_the_switch_nor_the_content(client: TestClient, app: FastAPI) -> None:
    client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    client.patch("/pipelines/greet", json={"description": "v2"})
    generation = yard(app).store.generation()
    stale = client.patch("/pipelines/greet", json={"enabled": False, "description": "v3"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    got = client.get("/pipelines/greet").json()
    assert (got["revision"], got["enabled"], got["description"]) == (2, True, "v2")
    assert yard(app).store.generation() == generation
    assert client.post("/pipelines/greet/run", json={"data": {"name": "x"}}).status_code == 200
