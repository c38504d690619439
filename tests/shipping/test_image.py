"""The container image, built from the real Dockerfile and run: as a user runs it, and stopped during a run.

Slow (a first build makes the base image with debootstrap and installs the dependencies: a few minutes; later
builds reuse both), so it is deselected by default: `scripts/test -m container tests/shipping` runs it. Skipped
with a message where podman or runc is missing.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from stackyard.tokens import create_token
from tests.conftest import REPO
from tests.metrics_text import sample
from tests.shipping import podman
from tests.waiting import wait_until

pytestmark = pytest.mark.container

# The container sees the repository's tests folder read-only, for the one component it adds: a run that takes time.
TESTS_MOUNT = f"{REPO / 'tests'}:/opt/stackyard-tests/tests:ro"
SLOW = """\
components:
  sleep:
    type: tests.shipping.sleeper.Sleep
    init_parameters: {seconds: 4}
"""


@pytest.fixture(scope="module")
def image() -> str:
    why = podman.missing_tools()
    if why is not None:
        pytest.skip(f"the container image cannot be built here: {why}")
    podman.build_image(podman.base_image())
    return podman.IMAGE


def test_the_image_as_it_is_serves_the_examples_and_keeps_management_closed(image: str) -> None:
    with podman.started() as container:
        container.wait_ready()
        with httpx.Client(base_url=container.url, timeout=30) as client:
            listed = client.get("/pipelines")
            ran = client.post("/pipelines/greet/run", json={"data": {"name": "Ada"}})
            deployed = client.put(
                "/pipelines/hello",
                content=(REPO / "examples/pipelines/greet.yml").read_bytes(),
                headers={"Content-Type": "application/yaml"},
            )
        assert listed.status_code == 200
        assert sorted(item["name"] for item in listed.json()["pipelines"]) == ["chat", "greet", "indexing", "query"]
        assert ran.status_code == 200, ran.text
        # No tokens on a non-loopback address: the open mode stays read-and-run; the image never opens management.
        assert deployed.status_code == 403
        assert deployed.json()["type"].endswith("insecure-open-mode")
        assert podman.podman("healthcheck", "run", container.name, check=False).returncode == 0, container.logs()
        assert podman.podman("exec", container.name, "id", "-u").stdout.strip() == "10001"


def test_a_run_in_flight_finishes_when_the_container_is_stopped_and_the_container_exits_0(
    image: str, tmp_path: Path
) -> None:
    token, line = create_token("container-test", "admin")
    tokens = tmp_path / "tokens"
    tokens.write_text(line + "\n", encoding="utf-8")
    tokens.chmod(0o644)  # the container's user is UID 10001, not the file's owner
    env = {
        "STACKYARD_TOKENS_FILE": "/run/stackyard/tokens",
        "PYTHONPATH": "/opt/stackyard-tests",
        "STACKYARD_EXTRA_ALLOWED_MODULES": "tests.shipping.sleeper",
    }
    with podman.started(env, volumes=[f"{tokens}:/run/stackyard/tokens:ro", TESTS_MOUNT]) as container:
        container.wait_ready()
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=container.url, headers=headers, timeout=60) as client, ThreadPoolExecutor(1) as pool:
            greet = (REPO / "examples/pipelines/greet.yml").read_bytes()
            yaml = {"Content-Type": "application/yaml"}
            assert client.put("/pipelines/hello", content=greet, headers=yaml).status_code == 201
            hello = client.post("/pipelines/hello/run", json={"data": {"name": "Ada"}})
            assert hello.status_code == 200, hello.text
            assert client.put("/pipelines/slow", content=SLOW, headers=yaml).status_code == 201

            running = pool.submit(client.post, "/pipelines/slow/run", json={"data": {"text": "finished"}})
            wait_until(
                lambda: sample(client.get("/metrics").text, "stackyard_runs_in_flight", pipeline="slow") == 1,
                "the slow run is in flight",
            )
            stopped_at = time.monotonic()
            podman.podman("kill", "--signal", "TERM", container.name)
            answer = running.result(timeout=60)

        assert answer.status_code == 200, answer.text
        assert answer.json()["result"] == {"sleep": {"text": "finished"}}
        assert container.exit_code() == 0, container.logs()
        assert time.monotonic() - stopped_at < 30  # it finished the run, then stopped: not held to the grace limit
