"""`--workers 2` over an in-memory store: deploy, validate, /status and uploads warn that documents stay per process."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.documents import INDEXING, QUERY
from tests.process.convergence import eventually
from tests.process.server import running

pytestmark = pytest.mark.process
YAML = {"Content-Type": "application/yaml"}


def test_two_workers_over_an_in_memory_store_warn_everywhere_it_matters(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/yard.db"
    with running(tmp_path, "--store", store, "--workers", "2") as server, server.client() as http:
        eventually(lambda: len(http.get("/replicas").json()["replicas"]) == 2, "both workers registered")
        deployed = http.put("/pipelines/indexing", content=INDEXING, headers=YAML)
        assert deployed.status_code == 201, deployed.text
        (warning,) = deployed.json()["warnings"]
        assert "'docs'" in warning
        assert "2 server processes" in warning
        assert "shared-document-stores" in warning
        validated = http.post("/validate", json={"yaml": QUERY}).json()
        assert [w["kind"] for w in validated["warnings"]] == ["in-memory-store-per-process"]
        eventually(lambda: http.get("/status").json()["warnings"] != [], "status warns once indexing serves here")
        uploaded = http.post("/pipelines/indexing/files", files=[("files", ("a.txt", b"hay", "text/plain"))])
        assert uploaded.status_code == 200, uploaded.text
        assert uploaded.json()["warnings"] == [warning]
        assert (
            http.put(
                "/pipelines/greet",
                content=(Path(__file__).parents[2] / "examples/pipelines/greet.yml").read_text(),
                headers=YAML,
            ).json()["warnings"]
            == []
        )


def test_one_worker_does_not_warn(tmp_path: Path) -> None:
    with running(tmp_path, "--store", f"sqlite:///{tmp_path}/yard.db") as server, server.client() as http:
        assert http.put("/pipelines/indexing", content=INDEXING, headers=YAML).json()["warnings"] == []
        assert http.get("/status").json()["warnings"] == []
