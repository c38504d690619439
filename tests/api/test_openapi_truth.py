"""What the OpenAPI document says is what the server does: each difference schemathesis once found, pinned down."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.yamls import prompt_yaml

YAML = {"Content-Type": "application/yaml"}


def test_numbers_larger_than_the_store_holds_are_422_not_500(client: TestClient) -> None:
    client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    for path in (
        f"/pipelines/greet/feedback/{2**64}",
        f"/pipelines/greet/revisions/{2**40}",
    ):
        answer = client.delete(path) if "feedback" in path else client.get(path)
        assert (path, answer.status_code) == (path, 422)
    for path in ("/pipelines/greet/revisions", "/pipelines/greet/feedback", "/audit"):
        assert client.get(path, params={"offset": 2**70}).status_code == 422
    assert client.post("/pipelines/greet/rollback", json={"revision": 2**40}).status_code == 422


def test_a_date_time_parameter_takes_iso_8601_text_only(client: TestClient) -> None:
    assert client.get("/audit", params={"until": "0.5"}).status_code == 422
    assert client.get("/audit", params={"until": "2999-01-01T00:00:00Z"}).status_code == 200


def test_json_members_have_exact_types(client: TestClient) -> None:
    client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    assert client.patch("/pipelines/greet", json={"enabled": 0}).status_code == 422
    assert client.post("/validate", json={"yaml": prompt_yaml(), "allow_writes": 1}).status_code == 422
    assert client.post("/pipelines/greet/rollback", json={"revision": "1"}).status_code == 422
    assert client.post("/pipelines/greet/rollback", json={"revision": 1.0}).status_code == 200  # JSON's integer
    assert client.get("/pipelines/greet").json()["enabled"] is True


def test_a_405_lists_every_method_of_the_path(client: TestClient) -> None:
    answer = client.options("/pipelines/greet")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "DELETE, GET, PATCH, PUT"
    assert client.request("PATCH", "/pipelines/greet/feedback").headers["allow"] == "DELETE, GET, POST"


def test_an_undocumented_method_on_a_literal_path_is_405_not_a_bad_id(client: TestClient) -> None:
    client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    answer = client.delete("/pipelines/greet/feedback/summary")
    assert (answer.status_code, answer.headers["allow"]) == (405, "GET")


def test_the_document_declares_what_the_server_checks(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    name = next(p for p in document["paths"]["/pipelines/{name}"]["get"]["parameters"] if p["name"] == "name")
    assert name["schema"]["pattern"] == "^[a-z0-9][a-z0-9_-]{0,62}$"
    patch = document["components"]["schemas"]["PatchBody"]
    assert [list(option["required"]) for option in patch["anyOf"]] == [["enabled"], ["description"], ["labels"]]
