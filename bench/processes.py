"""Server processes under test: start pinned to a CPU, wait until ready, read their memory, stop."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "bench" / ".work"
SERVER_CPU = "0"
LOAD_CPU = "1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(command: list[str], cpus: str | None) -> list[str]:
    """`command` under `taskset -c cpus` when pinning is possible; `cpus=None` frees it on every core, since a
    child inherits its parent's affinity and the orchestrator pins itself to the load generator's core."""
    count = os.cpu_count() or 1
    if shutil.which("taskset") is None or count < 2:
        return command
    return ["taskset", "-c", cpus if cpus is not None else f"0-{count - 1}", *command]


def base_env() -> dict[str, str]:
    return {
        **os.environ,
        "HAYSTACK_TELEMETRY_ENABLED": "false",
        "PYTHONPATH": str(REPO),
        # Lets every server (Hayhooks too) build the bench's own corpus and probe components.
        "HAYSTACK_DESERIALIZATION_ALLOWLIST": "bench",
    }


@dataclass
class Server:
    """One server process (and its workers) listening on `url`."""

    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    started_in: float = 0.0
    extra: dict[str, str] = field(default_factory=dict)

    def rss_mib(self) -> float:
        """Resident memory of the process and its children, in MiB."""
        total = 0
        for pid in [self.process.pid, *_children(self.process.pid)]:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except FileNotFoundError:
                continue
        return total / 1024

    def pss_mib(self) -> float:
        """Proportional set size of the process and its children (workers, fork server), in MiB: memory they
        share (the code a fork server imported once) is counted once in all, not once per process as RSS does."""
        total = 0
        for pid in [self.process.pid, *_children(self.process.pid)]:
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
            except (FileNotFoundError, ProcessLookupError):
                continue
        return total / 1024

    def cpu_seconds(self) -> float:
        """CPU time (user and system) the process and its children have used so far."""
        total = 0
        for pid in [self.process.pid, *_children(self.process.pid)]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of proc(5)
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _children(pid: int) -> list[int]:
    """Every descendant of `pid`. Each thread has its own list of children: a process started from a thread (the
    server starts its workers from one) is listed under that thread, not under the process's main one."""
    found: list[int] = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            direct = children.read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        for child in direct:
            found += [int(child), *_children(int(child))]
    return found
    for child in direct:
        found += [int(child), *_children(int(child))]
    return found


def start(
    name: str,
    command: list[str],
    *,
    port: int,
    ready_path: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    cpus: str | None = SERVER_CPU,
    timeout: float = 180,
) -> Server:
    """Start `command` and return once GET `ready_path` answers 200; the time this took is `started_in`."""
    cwd.mkdir(parents=True, exist_ok=True)
    log = cwd / f"{name}-{port}.log"
    began = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(
            pinned(command, cpus), stdout=out, stderr=subprocess.STDOUT, env={**base_env(), **(env or {})}, cwd=cwd
        )
    server = Server(name, process, f"http://127.0.0.1:{port}", log)
    deadline = began + timeout
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(server.url + ready_path, timeout=2).status_code == 200:
                server.started_in = time.perf_counter() - began
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.02)  # polling a port that is not open yet
    server.stop()
    raise RuntimeError(f"{name} not ready after {timeout} s:\n{log.read_text()[-3000:]}")


def stackyard(
    cwd: Path,
    paths: list[Path] | None = None,
    *,
    workers: int = 1,
    store: str | None = None,
    cpus: str | None = SERVER_CPU,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> Server:
    """`stackyard serve` with the bench's components allowed, on a fresh port."""
    port = free_port()
    command = [sys.executable, "-m", "stackyard", "serve", *(str(p) for p in paths or []), "--port", str(port)]
    command += ["--workers", str(workers), "--store", store or f"sqlite:///{cwd / f'yard-{port}.db'}"]
    full_env = {"STACKYARD_EXTRA_ALLOWED_MODULES": "bench", "STACKYARD_LOG_LEVEL": "WARNING", **(env or {})}
    return start(
        "stackyard", command, port=port, ready_path="/readyz", cwd=cwd, env=full_env, cpus=cpus, timeout=timeout
    )


def floor(
    cwd: Path, yaml_files: list[Path], *, env: dict[str, str] | None = None, cpus: str | None = SERVER_CPU
) -> Server:
    """The bare Starlette endpoint over the same YAML files, under the same uvicorn."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.floor:create_app", "--factory", "--port", str(port)]
    command += ["--no-access-log", "--log-level", "warning"]
    full_env = {"BENCH_FLOOR_YAML": ",".join(str(p) for p in yaml_files), **(env or {})}
    return start("floor", command, port=port, ready_path="/readyz", cwd=cwd, env=full_env, cpus=cpus)


def hayhooks(cwd: Path, executable: Path, pipelines_dir: Path, *, cpus: str | None = SERVER_CPU) -> Server:
    """`hayhooks run` from its own virtual environment, deploying every YAML in `pipelines_dir` at start-up."""
    port = free_port()
    command = [
        str(executable),
        "run",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--pipelines-dir",
        str(pipelines_dir),
    ]
    env = {"HAYHOOKS_SHOW_TRACEBACKS": "false", "LOG": "WARNING", "HAYHOOKS_DISABLE_SSL": "false"}
    return start("hayhooks", command, port=port, ready_path="/status", cwd=cwd, env=env, cpus=cpus)
