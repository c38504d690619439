"""Health, readiness and status with a broken pipeline in the store: one bad pipeline never takes the process down."""

from __future__ import annotations

import os

from fastapi import FastAPI
from fastapi.testclient import TestClient

from stackyard import __version__
from stackyard.settings import Settings
from stackyard.store import Change
from tests.conftest import yard
from tests.waiting import wait_until
from tests.yamls import prompt_yaml

YAML = {"Content-Type": "application/yaml"}
UNBUILDABLE = """components:
  prompt:
    type: haystack.components.builders.prompt_builder.NoSuchBuilder
    init_parameters: {}
connections: []
"""


def store_directly(app: FastAPI, name: str, text: str) -> int:
    """Write a revision as another process would, without building it here."""
    return yard(app).store.put(Change(name=name, yaml=text)).generation


def test_one_broken_pipeline_leaves_the_process_ready(client: TestClient, app: FastAPI) -> None:
    assert client.put("/pipelines/good", content=prompt_yaml(), headers=YAML).status_code == 201
    store_directly(app, "broken", UNBUILDABLE)
    wait_until(lambda: client.get("/pipelines/broken/ready").status_code == 503, "the sync met the broken pipeline")

    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    good = client.get("/pipelines/good/ready")
    assert (good.status_code, good.json()) == (200, {"pipeline": "good", "revision": 1, "state": "serving"})
    broken = client.get("/pipelines/broken/ready")
    assert broken.headers["content-type"] == "application/problem+json"
    assert "failed to build" in broken.json()["detail"]
    assert client.get("/pipelines/unknown/ready").status_code == 404
    assert client.post("/pipelines/good/run", json={"data": {"name": "Ada"}}).status_code == 200


def test_a_revision_that_fails_here_leaves_the_older_one_ready_and_degraded(client: TestClient, app: FastAPI) -> None:
    client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    store_directly(app, "greet", UNBUILDABLE)
    wait_until(lambda: client.get("/pipelines/greet/ready").json()["state"] == "degraded", "the sync met revision 2")

    ready = client.get("/pipelines/greet/ready")
    assert (ready.status_code, ready.json()["revision"]) == (200, 1)
    [pipeline] = client.get("/status").json()["pipelines"]
    assert (pipeline["name"], pipeline["revision"], pipeline["live_revision"]) == ("greet", 2, 1)
    assert pipeline["state"] == "degraded"
    assert "NoSuchBuilder" in pipeline["error"]


def test_status_names_the_version_replica_store_and_each_pipeline(client: TestClient) -> None:
    client.put("/pipelines/a", content=prompt_yaml(), headers=YAML)
    client.put("/pipelines/b", content=prompt_yaml(), headers=YAML)
    client.put("/pipelines/b", content=prompt_yaml("Hi {{ name }}"), headers=YAML)

    status = client.get("/status").json()
    assert status["version"] == __version__
    assert status["pid"] == os.getpid()
    assert len(status["replica"]) == 12
    assert status["uptime_seconds"] >= 0
    assert status["ready"] is True
    assert (status["store"]["kind"], status["store"]["generation"]) == ("sqlite", 3)
    assert [(p["name"], p["live_revision"], p["state"], p["error"]) for p in status["pipelines"]] == [
        ("a", 1, "serving", None),
        ("b", 2, "serving", None),
    ]
    assert client.get("/healthz").headers["X-Stackyard-Replica"] == status["replica"]


def test_status_shows_which_cells_serve_which_pipelines(client: TestClient, settings: Settings) -> None:
    client.put("/pipelines/small", content=prompt_yaml(), headers=YAML)
    isolated = prompt_yaml() + "metadata:\n  serving: {isolated: true}\n"
    client.put("/pipelines/alone", content=isolated, headers=YAML)

    cells = client.get("/status").json()["cells"]
    shared = [cell for cell in cells if cell["group"] == "shared"]
    own = [cell for cell in cells if cell["group"] == "pipeline:alone"]
    assert len(shared) == settings.run_workers
    assert all(cell["pipelines"] == ["small"] and cell["state"] == "serving" for cell in shared)
    assert [cell["pipelines"] for cell in own] == [["alone"]]
    assert len({cell["pid"] for cell in cells}) == len(cells)
    assert os.getpid() not in {cell["pid"] for cell in cells}


def test_the_replica_id_can_be_set(settings: Settings) -> None:
    from stackyard.api import create_app

    app = create_app(settings.model_copy(update={"replica_id": "eu-1"}))
    with TestClient(app) as client:
        assert client.get("/status").json()["replica"] == "eu-1"


def test_status_answers_from_the_registry_when_the_store_is_closed(client: TestClient, app: FastAPI) -> None:
    client.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
    yard(app).store.close()  # reads now fail, as in a store outage

    status = client.get("/status")
    assert status.status_code == 200
    assert status.json()["store"]["generation"] is None
    assert status.json()["store"]["error"].startswith("The store cannot be read")
    assert [(p["name"], p["live_revision"]) for p in status.json()["pipelines"]] == [("greet", 1)]
