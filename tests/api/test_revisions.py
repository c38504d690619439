"""History, diff and rollback through the real app."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.yamls import prompt_yaml

YAML = {"Content-Type": "application/yaml"}


def put(client: TestClient, template: str, name: str = "greet", **headers: str) -> int:
    answer = client.put(f"/pipelines/{name}", content=prompt_yaml(template), headers={**YAML, **headers})
    assert answer.status_code in (200, 201), answer.text
    return int(answer.json()["revision"])


def test_history_after_create_update_rollback_delete_and_recreate(client: TestClient) -> None:
    put(client, "v1 {{ name }}", **{"X-Change-Message": "first"})
    put(client, "v2 {{ name }}")
    rolled = client.post("/pipelines/greet/rollback", json={"revision": 1})
    assert rolled.status_code == 200
    assert rolled.json()["revision"] == 3
    assert (
        client.post("/pipelines/greet/run", json={"data": {"name": "A"}}).json()["result"]["prompt"]["prompt"] == "v1 A"
    )
    assert client.delete("/pipelines/greet").status_code == 204
    assert put(client, "v4 {{ name }}") == 4

    page = client.get("/pipelines/greet/revisions").json()
    assert page["total"] == 4
    assert [(r["number"], r["author"]) for r in page["revisions"]] == [
        (4, "anonymous"),
        (3, "anonymous"),
        (2, "anonymous"),
        (1, "anonymous"),
    ]
    assert page["revisions"][1]["message"] == "rollback to revision 1"
    assert page["revisions"][3]["message"] == "first"
    second_page = client.get("/pipelines/greet/revisions", params={"limit": 2, "offset": 2}).json()
    assert [r["number"] for r in second_page["revisions"]] == [2, 1]


def test_a_deleted_pipeline_keeps_its_history(client: TestClient) -> None:
    put(client, "v1 {{ name }}")
    client.delete("/pipelines/greet")
    assert client.get("/pipelines/greet").status_code == 404
    assert client.get("/pipelines/greet/revisions").json()["total"] == 1
    assert client.get("/pipelines/greet/revisions/1").json()["yaml"] == prompt_yaml("v1 {{ name }}")


def test_one_revision_as_json_or_yaml(client: TestClient) -> None:
    put(client, "v1 {{ name }}")
    put(client, "v2 {{ name }}")
    as_yaml = client.get("/pipelines/greet/revisions/1", headers={"Accept": "application/yaml"})
    assert as_yaml.text == prompt_yaml("v1 {{ name }}")
    assert client.get("/pipelines/greet/revisions/2").json()["number"] == 2
    assert client.get("/pipelines/greet/revisions/9").status_code == 404
    assert client.get("/pipelines/ghost/revisions").status_code == 404


def test_diff_defaults_to_previous_against_live(client: TestClient) -> None:
    put(client, "v1 {{ name }}")
    put(client, "v2 {{ name }}")
    diff = client.get("/pipelines/greet/diff").json()
    assert (diff["from_revision"], diff["to_revision"]) == (1, 2)
    assert '-      template: "v1 {{ name }}"' in diff["diff"]
    assert '+      template: "v2 {{ name }}"' in diff["diff"]
    assert diff["diff"].startswith("--- greet@1\n+++ greet@2\n")
    text = client.get("/pipelines/greet/diff", params={"from": 2, "to": 1}, headers={"Accept": "text/x-diff"})
    assert text.headers["content-type"].startswith("text/x-diff")
    assert '+      template: "v1 {{ name }}"' in text.text


def test_diff_of_a_first_revision_has_nothing_to_compare(client: TestClient) -> None:
    put(client, "v1 {{ name }}")
    assert client.get("/pipelines/greet/diff").status_code == 404


def test_rollback_to_a_missing_revision_is_a_404_and_changes_nothing(client: TestClient) -> None:
    put(client, "v1 {{ name }}")
    answer = client.post("/pipelines/greet/rollback", json={"revision": 7})
    assert answer.status_code == 404
    assert client.get("/pipelines/greet").json()["revision"] == 1


def test_all_revisions_are_kept_by_default(client: TestClient) -> None:
    # The cap (STACKYARD_KEEP_REVISIONS) itself is covered by the store contract.
    for n in range(5):
        put(client, f"v{n} {{{{ name }}}}")
    assert client.get("/pipelines/greet/revisions").json()["total"] == 5
