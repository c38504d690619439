"""Start-up files into the store: named and described as `stackyard apply` would, and reported when ignored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from stackyard.api import create_app
from stackyard.settings import Settings
from tests.yamls import prompt_yaml

METADATA = "metadata:\n  name: greeter\n  description: Greets\n  labels: {team: docs}\n"


def status_after_start(tmp_path: Path, **settings: Any) -> dict[str, Any]:
    """Start a server on the store in tmp_path with these settings and read its /status."""
    app = create_app(Settings(store_url=f"sqlite:///{tmp_path}/yard.db", **settings))
    with TestClient(app) as client:
        answer: dict[str, Any] = client.get("/status").json()
        return answer


def test_a_start_up_file_is_stored_with_the_name_description_and_labels_of_its_metadata(tmp_path: Path) -> None:
    (tmp_path / "whatever.yml").write_text(prompt_yaml() + METADATA)
    settings = Settings(store_url=f"sqlite:///{tmp_path}/yard.db", pipeline_paths=[tmp_path / "whatever.yml"])
    with TestClient(create_app(settings)) as client:
        got = client.get("/pipelines/greeter").json()
        assert (got["description"], got["labels"], got["revision"]) == ("Greets", {"team": "docs"}, 1)
        history = client.get("/pipelines/greeter/revisions").json()["revisions"]
        assert [(r["author"], r["message"]) for r in history] == [("start-up", "start-up file whatever.yml")]


def test_an_edited_start_up_file_that_the_stored_pipeline_wins_over_is_in_status_until_applied(tmp_path: Path) -> None:
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "greet.yml").write_text(prompt_yaml())
    assert status_after_start(tmp_path, pipeline_paths=[folder])["ignored_files"] == []
    edited = prompt_yaml("Hi {{ name }}")
    (folder / "greet.yml").write_text(edited)

    app = create_app(Settings(store_url=f"sqlite:///{tmp_path}/yard.db", pipeline_paths=[folder]))
    with TestClient(app) as client:
        assert client.post("/pipelines/greet/run", json={"data": {"name": "A"}}).json()["result"] == {
            "prompt": {"prompt": "Hello A"}
        }
        [ignored] = client.get("/status").json()["ignored_files"]
        assert (ignored["file"], ignored["pipeline"], ignored["revision"]) == (str(folder / "greet.yml"), "greet", 1)
        assert f"stackyard apply -f {folder / 'greet.yml'}" in ignored["detail"]
        assert "STACKYARD_SEED_MODE=replace" in ignored["detail"]
        # Once the stored pipeline is what the file says, nothing is ignored any more.
        client.put("/pipelines/greet", content=edited, headers={"Content-Type": "application/yaml"})
        assert client.get("/status").json()["ignored_files"] == []


def test_in_replace_mode_the_edited_file_goes_live_and_nothing_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "greet.yml").write_text(prompt_yaml())
    status_after_start(tmp_path, pipeline_paths=[tmp_path / "greet.yml"])
    (tmp_path / "greet.yml").write_text(prompt_yaml("Hi {{ name }}"))
    status = status_after_start(tmp_path, pipeline_paths=[tmp_path / "greet.yml"], seed_mode="replace")
    assert status["ignored_files"] == []
    assert [(p["name"], p["revision"]) for p in status["pipelines"]] == [("greet", 2)]
