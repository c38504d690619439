"""The README's examples run as written, in order, from the repository root, against a server like `scripts/serve`'s.

Each fenced block runs unless the line before it is an HTML comment starting with `<!-- not run`. A `bash` block is
split into commands (a line ending in `\\` goes on); each must exit 0, and curl is made to fail on any HTTP error.
`# -> OUTPUT` lines after a command (or after a `print` in a `python` block) give what it must print: JSON is
compared as JSON, anything else with runs of spaces taken as one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from stackyard.api.middleware.access_control import PUBLIC, PUBLIC_FOLDERS, PUBLIC_PAGES
from tests.conftest import REPO
from tests.process.server import Server, start_server

README = REPO / "README.md"
FENCE = re.compile(r"^\s*```(\w*)\s*$")
NOT_RUN = "<!-- not run"
ARROW = "# -> "


@dataclass
class Block:
    language: str
    lines: list[str]
    runs: bool
    line: int  # where it starts in the README, for failure messages


@dataclass
class Command:
    text: str
    expected: list[str] = field(default_factory=list)


def blocks(text: str) -> list[Block]:
    found: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        before = next((line.strip() for line in reversed(lines[:index]) if line.strip()), "")
        end = next(i for i in range(index + 1, len(lines)) if FENCE.match(lines[i]))
        body = [line.strip() if opening.group(1) == "bash" else line for line in lines[index + 1 : end]]
        found.append(Block(opening.group(1), body, not before.startswith(NOT_RUN), index + 1))
        index = end + 1
    return found


def commands(block: Block) -> list[Command]:
    """The shell commands of a bash block, each with the output its `# -> ` lines expect."""
    found: list[Command] = []
    pending = ""
    for line in block.lines:
        if line.startswith(ARROW):
            found[-1].expected.append(line.removeprefix(ARROW))
        elif pending or (line and not line.startswith("#")):
            pending += line.removesuffix("\\") + " " if line.endswith("\\") else line
            if not line.endswith("\\"):
                found.append(Command(pending))
                pending = ""
    return found


def check_output(printed: str, expected: list[str], what: str) -> None:
    if not expected:
        return
    wanted = "\n".join(expected)
    try:
        assert json.loads(printed) == json.loads(wanted), what
    except json.JSONDecodeError:
        assert " ".join(printed.split()) == " ".join(wanted.split()), what


@pytest.fixture
def served(tmp_path: Path) -> Server:
    """`scripts/serve`'s server: the example folder on a fresh SQLite store (here a temporary one, on a free port)."""
    return start_server(tmp_path, str(REPO / "examples" / "pipelines"), "--store", f"sqlite:///{tmp_path}/yard.db")


@pytest.mark.process
def test_the_readme_examples_run_in_order_against_the_example_server(served: Server, tmp_path: Path) -> None:
    port = served.url.rsplit(":", 1)[1]
    (tmp_path / ".curlrc").write_text("--fail-with-body\n--silent\n--show-error\n")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # as `source .venv/bin/activate`
        "STACKYARD_URL": served.url,
        "CURL_HOME": str(tmp_path),  # curl reads .curlrc there: an HTTP error fails the command
        "COLUMNS": "200",
    }

    def run(argv: list[str], what: str) -> str:
        """Run one example from the repository root, pointed at the test server; what it printed."""
        here = argv[-1].replace("localhost:8000", f"127.0.0.1:{port}").replace("127.0.0.1:8000", f"127.0.0.1:{port}")
        done = subprocess.run(
            [*argv[:-1], here], cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, f"{what}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    ran = 0
    try:
        for block in blocks(README.read_text()):
            if not block.runs:
                continue
            if block.language == "bash":
                for command in commands(block):
                    what = f"README line {block.line}: {command.text}"
                    printed = run(["bash", "-c", command.text], what)
                    check_output(printed, command.expected, f"{what}\n{printed}")
                    ran += 1
            elif block.language == "python":
                what = f"README line {block.line}: the Python block"
                printed = run([sys.executable, "-c", "\n".join(block.lines)], what)
                expected = [line.strip().removeprefix(ARROW) for line in block.lines if line.strip().startswith(ARROW)]
                assert printed.splitlines() == expected, what
                ran += 1
            else:
                pytest.fail(f"README line {block.line}: a runnable block must be bash or python, or marked not run")
    finally:
        served.stop()
    assert ran > 30  # the README's examples, not a handful that happened to parse


def test_only_a_few_blocks_are_marked_not_run_and_every_runnable_block_is_complete() -> None:
    found = blocks(README.read_text())
    assert sum(not block.runs for block in found) <= 3
    for block in found:
        if block.runs:
            code = [c.text for c in commands(block)] if block.language == "bash" else block.lines
            assert not any("..." in line.split("  #")[0] for line in code), f"README line {block.line}: a placeholder"


def test_the_readme_names_every_public_route() -> None:
    security = README.read_text().split("## Security", 1)[1].split("\n## ", 1)[0]
    for route in sorted((PUBLIC | PUBLIC_PAGES | set(PUBLIC_FOLDERS)) - {"/ui", "/docs/"}):
        assert f"`{route}`" in security, route
