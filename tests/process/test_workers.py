"""`stackyard serve --workers 2` on SQLite: both worker processes converge, so a change reaches every call."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.process.convergence import eventually
from tests.process.server import running
from tests.yamls import prompt_yaml

pytestmark = pytest.mark.process
YAML = {"Content-Type": "application/yaml"}


def test_after_one_put_forty_calls_in_a_row_are_all_answered_by_the_new_revision(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/yard.db"
    with running(tmp_path, "--store", store, "--workers", "2") as server, server.client() as http:
        eventually(lambda: len(http.get("/replicas").json()["replicas"]) == 2, "both workers registered")
        created = http.put("/pipelines/greet?wait=all", content=prompt_yaml("v1 {{ name }}"), headers=YAML)
        assert created.status_code == 201, created.text
        updated = http.put("/pipelines/greet?wait=all", content=prompt_yaml("v2 {{ name }}"), headers=YAML)
        assert updated.status_code == 200, updated.text
        answers = [http.post("/pipelines/greet/run", json={"data": {"name": "Ada"}}) for _ in range(40)]
        assert [(a.status_code, a.json()["revision"]) for a in answers] == [(200, 2)] * 40
        # Each worker reports revision 2 in its heartbeat.
        replicas = http.get("/replicas").json()["replicas"]
        assert [r["pipelines"]["greet"]["live_revision"] for r in replicas] == [2, 2]


def test_workers_converge_without_waiting_too(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/yard.db"
    with running(tmp_path, "--store", store, "--workers", "2") as server, server.client() as http:
        eventually(lambda: len(http.get("/replicas").json()["replicas"]) == 2, "both workers registered")
        assert http.put("/pipelines/greet", content=prompt_yaml(), headers=YAML).status_code == 201

        def everyone_serves() -> bool:
            rollout = http.get("/pipelines/greet/rollout").json()
            return [r["state"] for r in rollout["replicas"]] == ["serving", "serving"]

        eventually(everyone_serves, "both workers serve greet")
