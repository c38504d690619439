"""Starting and stopping real `stackyard serve` processes for tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import REPO


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, as in a crash or an OOM kill."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def cells(self) -> list[int]:
        """The cells' process ids: the children of the server's fork server."""
        children = _children(self.process.pid)
        servers = [pid for pid in children if b"multiprocessing.forkserver" in _cmdline(pid)]
        return [pid for server in servers for pid in _children(server)]

    def where_cells_are(self) -> str:
        """Each cell's Python stacks (SIGUSR1: `cell/life.py`) and kernel wait, with the log's end: what a test that
        timed out waiting on a run shows."""
        waits = []
        for pid in self.cells():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGUSR1)
                stack = Path(f"/proc/{pid}/stack").read_text()
                waits.append(f"cell {pid}, kernel stack:\n{stack}")
        time.sleep(0.5)  # the dumps are written by the cells themselves: a moment for them to reach the log
        return "\n".join(waits) + "\n--- server log, last 12000 characters ---\n" + self.log.read_text()[-12000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def start_server(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, port: int | None = None, ready_timeout: float = 60
) -> Server:
    """Start `stackyard serve ARGS` and return once /readyz answers 200 (raises with the log if it never does)."""
    port = port or free_port()
    log = tmp_path / f"server-{port}-{time.monotonic_ns()}.log"
    full_env = {
        **os.environ,
        "HAYSTACK_TELEMETRY_ENABLED": "false",
        "PYTHONPATH": str(REPO),
        "STACKYARD_EXTRA_ALLOWED_MODULES": "tests.components",
        **(env or {}),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "stackyard", "serve", "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=tmp_path,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.05)  # polling a port that is not open yet; no assertion depends on this timing
    server.stop()
    raise RuntimeError(f"server not ready after {ready_timeout} s:\n{log.read_text()}")


@contextmanager
def started(tmp_path: Path, *argsets: Sequence[str], env: dict[str, str] | None = None) -> Iterator[list[Server]]:
    """One server per set of arguments, started side by side (their start-ups overlap), all stopped afterwards."""
    with ThreadPoolExecutor(len(argsets)) as starting:
        launches = [starting.submit(start_server, tmp_path, *args, env=env) for args in argsets]
        wait(launches)
    servers = [launch.result() for launch in launches if launch.exception() is None]
    try:
        if len(servers) < len(argsets):
            raise next(error for launch in launches if (error := launch.exception()) is not None)
        yield servers
    finally:
        stop_all(servers)


def stop_all(servers: Sequence[Server]) -> None:
    """SIGTERM to every server first, then wait for each: their shutdowns overlap."""
    for server in servers:
        if server.process.poll() is None:
            server.process.send_signal(signal.SIGTERM)
    for server in servers:
        server.stop()


@contextmanager
def running(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Server]:
    server = start_server(tmp_path, *args, env=env)
    try:
        yield server
    finally:
        server.stop()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in children.read_text().split()]
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
