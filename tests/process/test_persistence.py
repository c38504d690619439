"""A real server process: what the API acknowledged is served again after a SIGKILL and a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.process.server import running, start_server
from tests.yamls import BM25, prompt_yaml

pytestmark = pytest.mark.process
YAML = {"Content-Type": "application/yaml"}


def test_pipelines_survive_sigkill_at_the_same_revisions(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/yard.db"
    server = start_server(tmp_path, "--store", store)
    try:
        with server.client() as http:
            assert http.put("/pipelines/greet", content=prompt_yaml(), headers=YAML).status_code == 201
            assert http.put("/pipelines/greet", content=prompt_yaml("Hi {{ name }}"), headers=YAML).status_code == 200
            assert http.put("/pipelines/search", content=BM25, headers=YAML).status_code == 201
    finally:
        server.kill()

    with running(tmp_path, "--store", store) as restarted, restarted.client() as http:
        listed = {p["name"]: (p["revision"], p["state"]) for p in http.get("/pipelines").json()["pipelines"]}
        assert listed == {"greet": (2, "serving"), "search": (1, "serving")}
        run = http.post("/pipelines/greet/run", json={"data": {"name": "Ada"}}).json()
        assert (run["revision"], run["result"]) == (2, {"prompt": {"prompt": "Hi Ada"}})


def test_start_up_files_are_served_and_never_modified(tmp_path: Path) -> None:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "greet.yml").write_text(prompt_yaml())
    legacy = tmp_path / "legacy.yaml"
    legacy.write_text(BM25)
    before = {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in (folder / "greet.yml", legacy)}
    env = {"PIPELINE_YAML_PATH": str(legacy)}
    store = f"sqlite:///{tmp_path}/yard.db"
    with running(tmp_path, str(folder), "--store", store, env=env) as server, server.client() as http:
        names = [p["name"] for p in http.get("/pipelines").json()["pipelines"]]
        assert names == ["greet", "legacy"]
        assert http.post("/pipelines/legacy/run", json={"data": {"query": "q"}}).status_code == 200
        assert http.delete("/pipelines/greet").status_code == 204
    assert {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in before} == before


def test_an_api_change_is_not_reverted_by_the_start_up_file(tmp_path: Path) -> None:
    (tmp_path / "greet.yml").write_text(prompt_yaml())
    args = (str(tmp_path / "greet.yml"), "--store", f"sqlite:///{tmp_path}/yard.db")
    with running(tmp_path, *args) as server, server.client() as http:
        assert http.put("/pipelines/greet", content=prompt_yaml("Yo {{ name }}"), headers=YAML).json()["revision"] == 2
    with running(tmp_path, *args) as server, server.client() as http:
        assert http.get("/pipelines/greet").json()["revision"] == 2


def test_a_broken_start_up_file_stops_the_server_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "broken.yml").write_text("- not a mapping\n")
    with pytest.raises(RuntimeError, match=r"broken\.yml") as failure:
        start_server(tmp_path, str(tmp_path / "broken.yml"), "--store", f"sqlite:///{tmp_path}/yard.db")
    assert "not a mapping" in str(failure.value)


def test_history_and_audit_survive_a_restart_and_rollback_works_after_it(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/yard.db"
    with running(tmp_path, "--store", store) as server, server.client() as http:
        http.put("/pipelines/greet", content=prompt_yaml("v1 {{ name }}"), headers=YAML)
        http.put("/pipelines/greet", content=prompt_yaml("v2 {{ name }}"), headers=YAML)
    with running(tmp_path, "--store", store) as server, server.client() as http:
        assert http.get("/pipelines/greet/revisions").json()["total"] == 2
        assert http.post("/pipelines/greet/rollback", json={"revision": 1}).json()["revision"] == 3
        assert http.post("/pipelines/greet/run", json={"data": {"name": "A"}}).json()["result"] == {
            "prompt": {"prompt": "v1 A"}
        }
        assert [e["action"] for e in http.get("/audit").json()["entries"]] == ["rollback", "update", "create"]
