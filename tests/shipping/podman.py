"""Building the real Dockerfile with podman on a local base image, and running containers of it for tests.

No registry is needed: the base is a Debian root filesystem made by debootstrap from Debian's package mirror, with
python3 and python3-venv as an official Python image has them, imported once and kept in podman's storage. Its
archive is cached under ~/.cache/stackyard-test-base, keyed by what went into it, so a new podman storage imports
it again without debootstrap. The containers use runc and the host's network, with explicit ulimits: what this
kernel allows.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import REPO
from tests.process.server import free_port

IMAGE = "localhost/stackyard-test:latest"
SUITE = "bookworm"
PACKAGES = ("python3", "python3-venv", "ca-certificates")
# The base trusts the authorities this machine trusts: behind a TLS-inspecting proxy, pip in the build needs them.
HOST_CERTIFICATES = Path("/etc/ssl/certs/ca-certificates.crt")
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stackyard-test-base"
RUNNING = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--network=host")


def missing_tools() -> str | None:
    """Why the image cannot be built and run here, or None when it can."""
    absent = [tool for tool in ("podman", "runc") if shutil.which(tool) is None]
    if absent:
        return f"{' and '.join(absent)} not installed: apt-get install podman runc debootstrap"
    return None


def podman(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", "--runtime", "runc", *args], capture_output=True, text=True, timeout=timeout, check=check
    )


def base_image() -> str:
    """The local base image's name; made (debootstrap, then import) when neither it nor its archive exists."""
    certificates = HOST_CERTIFICATES.read_bytes() if HOST_CERTIFICATES.exists() else b""
    key = hashlib.sha256(repr((SUITE, PACKAGES)).encode() + certificates).hexdigest()[:12]
    name = f"localhost/stackyard-test-base:{SUITE}-{key}"
    if podman("image", "exists", name, check=False).returncode == 0:
        return name
    archive = CACHE / f"{SUITE}-{key}.tar"
    if not archive.exists():
        _make_root_filesystem(archive, certificates)
    podman("import", str(archive), name, timeout=300)
    return name


def _make_root_filesystem(archive: Path, certificates: bytes) -> None:
    if shutil.which("debootstrap") is None or os.geteuid() != 0:
        raise RuntimeError("the test base image is made by debootstrap, as root: apt-get install debootstrap")
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as work:
        root = Path(work) / "root"
        subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(root)],
            capture_output=True,
            check=True,
            timeout=900,
        )
        if certificates:
            (root / "etc/ssl/certs/ca-certificates.crt").write_bytes(certificates)
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(root / cache)
        partial = archive.with_suffix(".partial")
        subprocess.run(["tar", "-C", str(root), "-cf", str(partial), "."], check=True, timeout=300)
        partial.rename(archive)  # whole or not at all: an interrupted run leaves no archive to trust


def build_image(base: str) -> None:
    """Build the repository's Dockerfile on `base` as `IMAGE` (podman keeps its layers between runs)."""
    # The docker format keeps HEALTHCHECK, which the OCI format has no field for.
    podman(
        "build",
        "--format=docker",
        "--network=host",
        f"--build-arg=BASE_IMAGE={base}",
        f"--tag={IMAGE}",
        str(REPO),
        timeout=1200,
    )


@dataclass
class Container:
    name: str
    url: str

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return result.stdout + result.stderr

    def state(self) -> str:
        return podman("inspect", "--format", "{{.State.Status}}", self.name).stdout.strip()

    def wait_ready(self, timeout: float = 120) -> float:
        """Seconds until /readyz answered 200; fails with the container's log if it stops or never gets there."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.state() != "running":
                raise AssertionError(f"the container stopped before it was ready:\n{self.logs()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            time.sleep(0.1)  # the pace of polling a port that is not open yet only
        raise AssertionError(f"not ready after {timeout} s:\n{self.logs()}")

    def exit_code(self, timeout: float = 60) -> int:
        """Wait for the container to stop; its exit code."""
        return int(podman("wait", self.name, timeout=timeout).stdout.strip())


@contextmanager
def started(env: dict[str, str] | None = None, volumes: Sequence[str] = ()) -> Iterator[Container]:
    """A container of `IMAGE`, started with `env` and `volumes` (HOST:CONTAINER[:OPTIONS]), removed afterwards.

    On the host's network each container needs a port of its own: STACKYARD_PORT is the one setting added.
    """
    port = free_port()
    name = f"stackyard-test-{port}"
    options = [f"--env={key}={value}" for key, value in {**(env or {}), "STACKYARD_PORT": str(port)}.items()]
    options += [f"--volume={volume}" for volume in volumes]
    podman("run", "--detach", f"--name={name}", *RUNNING, *options, IMAGE)
    try:
        yield Container(name, f"http://127.0.0.1:{port}")
    finally:
        podman("rm", "--force", "--volumes", name, check=False)
