"""The one load-bearing boundary, held in the tree: component code never runs in the process that serves HTTP.

Nothing outside `stackyard/cell/` imports Haystack, a model library or the cell package; the server side talks to
cells only in the plain data of `stackyard/wire/`. And the running server holds to it: after deploying and running
pipelines, the HTTP process has loaded no Haystack module, and neither it nor the fork server has loaded torch.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO

SRC = REPO / "src" / "stackyard"
CELL_ONLY = ("haystack", "haystack_integrations", "torch", "transformers", "sentence_transformers", "stackyard.cell")


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
    return names


def _cell_only(name: str) -> bool:
    return any(name == root or name.startswith(root + ".") for root in CELL_ONLY)


def test_nothing_outside_the_cell_package_imports_haystack_or_the_cell_package() -> None:
    crossing = {
        str(path.relative_to(SRC)): sorted({name for name in _imports(path) if _cell_only(name)})
        for path in SRC.rglob("*.py")
        if path.relative_to(SRC).parts[0] != "cell"
    }
    assert {module: names for module, names in crossing.items() if names} == {}


def test_the_wire_package_is_plain_data() -> None:
    # What crosses between the processes may import only the standard library, msgspec and the error catalogue.
    allowed = ("stackyard.wire", "stackyard.errors", "msgspec", "__future__")
    for path in (SRC / "wire").glob("*.py"):
        for name in _imports(path):
            top = name.split(".")[0]
            assert name.startswith(allowed) or top in sys.stdlib_module_names, f"{path.name} imports {name}"


def test_this_test_sees_a_crossing_when_there_is_one(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text("from haystack import Pipeline\nimport stackyard.cell.work\n")
    assert [name for name in _imports(planted) if _cell_only(name)] == [
        "haystack",
        "haystack.Pipeline",
        "stackyard.cell.work",
    ]


SERVE_AND_LOOK = """
import json, os, sys
from fastapi.testclient import TestClient
from stackyard.api import create_app
from stackyard.settings import Settings

def maps(pid):
    try:
        with open(f"/proc/{pid}/maps") as found:
            return found.read()
    except OSError:
        return ""

def main():
    app = create_app(Settings(store_url="sqlite:///" + sys.argv[1], run_workers=1))
    with TestClient(app) as client:
        yaml_body = open(sys.argv[2]).read()
        put = client.put("/pipelines/greet", content=yaml_body, headers={"Content-Type": "application/yaml"})
        assert put.status_code == 201, put.text
        run = client.post("/pipelines/greet/run", json={"data": {"name": "Ann"}})
        assert run.status_code == 200, run.text
        from multiprocessing import forkserver
        server_pid = forkserver._forkserver._forkserver_pid
        print(json.dumps({
            "haystack": sorted(name for name in sys.modules if name.split(".")[0] in ("haystack", "torch")),
            "cell_code": sorted(name for name in sys.modules if name.startswith("stackyard.cell")),
            "server_torch": "libc10" in maps(os.getpid()),
            "forkserver_torch": "libc10" in maps(server_pid),
        }))

if __name__ == "__main__":
    main()
"""


@pytest.mark.process
def test_the_running_server_and_its_fork_server_load_no_haystack_or_torch_of_their_own(tmp_path: Path) -> None:
    script = tmp_path / "serve_and_look.py"
    script.write_text(textwrap.dedent(SERVE_AND_LOOK))
    env = {**os.environ, "HAYSTACK_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "yard.db"), str(REPO / "examples/pipelines/greet.yml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["haystack"] == []
    assert seen["cell_code"] == []
    assert seen["server_torch"] is False
    assert seen["forkserver_torch"] is False
