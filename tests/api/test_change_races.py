"""Changes made through the API are never undone by the sync re-applying what it read before they committed."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from stackyard.api import create_app
from stackyard.settings import Settings
from tests.components import RUNS
from tests.yamls import counter_yaml

YAML = {"Content-Type": "application/yaml"}


def _client(tmp_path: Path) -> TestClient:
    # A sync that polls as often as it can: every tick reads the store while the changes below commit.
    settings = Settings(
        store_url=f"sqlite:///{tmp_path}/yard.db", extra_allowed_modules=["tests.components"], sync_interval=0.02
    )
    return TestClient(create_app(settings))


def test_two_hundred_create_disable_run_cycles_execute_no_run(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        answers = []
        for cycle in range(200):
            key = f"race-{cycle}"
            assert client.put(f"/pipelines/p{cycle}", content=counter_yaml(key), headers=YAML).status_code == 201
            assert client.patch(f"/pipelines/p{cycle}", json={"enabled": False}).status_code == 200
            answers.append(client.post(f"/pipelines/p{cycle}/run", json={"data": {"text": "x"}}).status_code)
        executed = sum(RUNS[f"race-{cycle}"] for cycle in range(200))
        assert (executed, set(answers)) == (0, {503})


def test_a_deleted_pipeline_is_never_served_again_by_a_sync_that_read_it_before(tmp_path: Path) -> None:
    with _client(tmp_path) as client:
        answers = []
        for cycle in range(200):
            key = f"gone-{cycle}"
            assert client.put(f"/pipelines/d{cycle}", content=counter_yaml(key), headers=YAML).status_code == 201
            assert client.delete(f"/pipelines/d{cycle}").status_code == 204
            answers.append(client.post(f"/pipelines/d{cycle}/run", json={"data": {"text": "x"}}).status_code)
        executed = sum(RUNS[f"gone-{cycle}"] for cycle in range(200))
        assert (executed, set(answers)) == (0, {404})
