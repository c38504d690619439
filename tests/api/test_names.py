"""Every route that names a pipeline checks the name the same way and answers 404 for a pipeline that does not exist."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import yard
from tests.yamls import prompt_yaml

YAML = {"Content-Type": "application/yaml"}

# A body each route accepts, so that what answers is the name, not the body.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("put", "/pipelines/{name}"): {"content": prompt_yaml(), "headers": YAML},
    ("patch", "/pipelines/{name}"): {"json": {"enabled": False}},
    ("post", "/pipelines/{name}/rollback"): {"json": {"revision": 1}},
    ("post", "/pipelines/{name}/run"): {"json": {"data": {}}},
    ("post", "/pipelines/{name}/files"): {"files": {"files": ("a.txt", b"text", "text/plain")}},
    ("post", "/pipelines/{name}/documents/search"): {"json": {}},
    ("post", "/pipelines/{name}/documents/count"): {"json": {}},
    ("post", "/pipelines/{name}/documents/delete"): {"json": {"all": True}},
    ("post", "/pipelines/{name}/feedback"): {"json": {"query": "q", "answer": "a", "is_correct": True, "revision": 1}},
}
# Creating is the one thing a name that does not exist yet is for.
CREATES = {("put", "/pipelines/{name}")}


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    paths = app.openapi()["paths"]
    return sorted((method, path) for path, ops in paths.items() if "{name}" in path for method in ops)


def _call(client: TestClient, method: str, path: str, name: str) -> Any:
    url = path.replace("{name}", name).replace("{number}", "1").replace("{feedback_id}", "1")
    return client.request(method, url, **BODIES.get((method, path), {}))


def test_every_route_that_names_a_pipeline_refuses_a_bad_name_with_400(client: TestClient, app: FastAPI) -> None:
    routes = _routes(app)
    assert len(routes) >= 20
    for method, path in routes:
        answer = _call(client, method, path, "Not_A-Name!")
        assert (method, path, answer.status_code, answer.json()["type"]) == (
            method,
            path,
            400,
            "https://stackyard.dev/problems/invalid-pipeline-name",
        )
    assert client.get("/pipelines").json()["pipelines"] == []


def test_every_route_that_names_a_pipeline_answers_404_for_one_that_does_not_exist(
    client: TestClient, app: FastAPI
) -> None:
    generation = yard(app).store.generation()
    for method, path in _routes(app):
        if (method, path) in CREATES:
            continue
        answer = _call(client, method, path, "ghost")
        assert (method, path, answer.status_code) == (method, path, 404), answer.json()
    assert yard(app).store.generation() == generation
    assert yard(app).store.feedback(None, 10, 0) == []


@pytest.mark.parametrize("revision", [2, 99])
def test_feedback_on_a_revision_that_never_existed_is_404_and_stores_nothing(client: TestClient, revision: int) -> None:
    client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    answer = client.post(
        "/pipelines/greet/feedback", json={"query": "q", "answer": "a", "is_correct": True, "revision": revision}
    )
    assert (answer.status_code, answer.json()["type"]) == (404, "https://stackyard.dev/problems/revision-not-found")
    assert client.get("/pipelines/greet/feedback").json()["feedback"] == []
    ok = client.post("/pipelines/greet/feedback", json={"query": "q", "answer": "a", "is_correct": True, "revision": 1})
    assert (ok.status_code, ok.json()["revision"]) == (201, 1)


def test_a_disabled_pipeline_is_not_ready(client: TestClient) -> None:
    client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    assert client.get("/pipelines/greet/ready").status_code == 200
    client.patch("/pipelines/greet", json={"enabled": False})
    off = client.get("/pipelines/greet/ready")
    assert (off.status_code, off.json()["type"]) == (503, "https://stackyard.dev/problems/disabled")
    client.patch("/pipelines/greet", json={"enabled": True})
    assert client.get("/pipelines/greet/ready").status_code == 200
