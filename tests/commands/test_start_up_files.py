"""Start-up files and `stackyard apply -f` agree, and `stackyard status` names a start-up file the server ignored."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.commands.conftest import Stackyard
from tests.conftest import REPO
from tests.process.server import running
from tests.yamls import prompt_yaml

pytestmark = pytest.mark.process


def test_applying_the_folder_a_server_started_from_changes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "pipelines"
    shutil.copytree(REPO / "examples" / "pipelines", folder)
    (folder / "whatever.yml").write_text(prompt_yaml() + "metadata:\n  name: greeter\n  labels: {team: docs}\n")
    with running(tmp_path, str(folder)) as server:
        result = Stackyard(server.url)("apply", "-f", folder)
    assert result.exit_code == 0, result.output
    assert [line.split()[:2] for line in result.stdout.splitlines()] == [
        ["unchanged", "chat"],
        ["unchanged", "greet"],
        ["unchanged", "indexing"],
        ["unchanged", "query"],
        ["unchanged", "greeter"],
    ]


def test_status_names_an_edited_start_up_file_that_the_server_ignored(tmp_path: Path) -> None:
    (tmp_path / "greet.yml").write_text(prompt_yaml())
    with running(tmp_path, str(tmp_path / "greet.yml")) as server:
        assert "ignored" not in Stackyard(server.url)("status").stdout
    (tmp_path / "greet.yml").write_text(prompt_yaml("Hi {{ name }}"))
    with running(tmp_path, str(tmp_path / "greet.yml")) as server:
        status = Stackyard(server.url)("status")
    assert status.exit_code == 0, status.output
    assert (
        f"ignored start-up file: {tmp_path / 'greet.yml'} differs from the stored pipeline 'greet', whose revision 1 "
        f"kept serving. Apply the file with `stackyard apply -f {tmp_path / 'greet.yml'}`"
    ) in " ".join(status.stdout.split())
