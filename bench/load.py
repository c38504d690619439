"""Load generation: `wrk` pinned to the load CPU, or a small Python loop when wrk is missing (smoke runs only)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import httpx

from bench.processes import LOAD_CPU, WORK, pinned

# wrk's done() hook prints exact figures (microseconds) as one JSON line, instead of its rounded text summary.
WRK_SCRIPT = """
wrk.method = os.getenv("BENCH_METHOD")
wrk.body = os.getenv("BENCH_BODY")
if wrk.body == "" then wrk.body = nil end
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"errors":%d,"non2xx":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


@dataclass
class LoadResult:
    """What one load run measured. Latencies in milliseconds."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    non2xx: int
    tool: str
    cpu_seconds: float | None = None  # CPU time the server (all its processes) used during the run, when measured

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, float | int | str]:
        return {**asdict(self), "rps": self.rps}


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def ensure_wrk() -> bool:
    """Install wrk with apt when it is missing and we may (root on Debian); say how otherwise."""
    if wrk_available():
        return True
    if shutil.which("apt-get") and os.geteuid() == 0:
        print("installing wrk with apt-get ...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, capture_output=True)
        if not wrk_available():
            subprocess.run(["apt-get", "update", "-q"], check=False, capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, capture_output=True)
    if not wrk_available():
        print("wrk is missing: install it (Debian: apt-get install -y wrk); using the Python load loop", flush=True)
    return wrk_available()


class Load:
    """A load run against `url`: `run()` for a fixed time, or `start()` ... `stop()` around something else."""

    def __init__(
        self, url: str, body: dict[str, object] | None, *, connections: int, seconds: float, use_wrk: bool
    ) -> None:
        self.url = url
        self.body = body
        self.connections = connections
        self.seconds = seconds
        self.use_wrk = use_wrk and wrk_available()
        self._process: subprocess.Popen[str] | None = None
        self._thread_result: list[LoadResult] = []
        self._stop = False
        self._runner: threading.Thread | None = None

    def run(self) -> LoadResult:
        self.start()
        if self.use_wrk:
            return self._finish_wrk()
        return self._join_python()

    def start(self) -> None:
        if self.use_wrk:
            script = WORK / "bench.lua"
            script.parent.mkdir(parents=True, exist_ok=True)
            script.write_text(WRK_SCRIPT)
            command = ["wrk", "-t1", f"-c{self.connections}", f"-d{max(1, round(self.seconds))}s", "--timeout", "10s"]
            command += ["-s", str(script), self.url]
            env = {
                "BENCH_METHOD": "POST" if self.body is not None else "GET",
                "BENCH_BODY": json.dumps(self.body) if self.body is not None else "",
                "PATH": "/usr/bin:/bin:/usr/local/bin",
            }
            self._process = subprocess.Popen(pinned(command, LOAD_CPU), stdout=subprocess.PIPE, text=True, env=env)
        else:
            self._stop = False
            thread = threading.Thread(target=lambda: self._thread_result.append(asyncio.run(self._python_loop())))
            thread.start()
            self._runner = thread

    def stop(self) -> LoadResult:
        """End a run started with a long duration early and return what it measured."""
        if self.use_wrk:
            assert self._process is not None
            self._process.send_signal(signal.SIGINT)  # wrk stops, prints its summary and runs done()
            return self._finish_wrk()
        self._stop = True
        return self._join_python()

    def _finish_wrk(self) -> LoadResult:
        assert self._process is not None
        out, _ = self._process.communicate(timeout=self.seconds + 60)
        for line in out.splitlines():
            if line.startswith("BENCH "):
                data = json.loads(line[6:])
                return LoadResult(
                    requests=data["requests"],
                    seconds=data["duration_us"] / 1e6,
                    p50_ms=data["p50_us"] / 1000,
                    p99_ms=data["p99_us"] / 1000,
                    max_ms=data["max_us"] / 1000,
                    errors=data["errors"],
                    non2xx=data["non2xx"],
                    tool="wrk",
                )
        raise RuntimeError(f"wrk printed no summary:\n{out}")

    def _join_python(self) -> LoadResult:
        assert self._runner is not None
        self._runner.join()
        return self._thread_result.pop()

    async def _python_loop(self) -> LoadResult:
        latencies: list[float] = []
        errors = non2xx = 0
        began = time.perf_counter()
        deadline = began + self.seconds

        async def worker(client: httpx.AsyncClient) -> None:
            nonlocal errors, non2xx
            while not self._stop and time.perf_counter() < deadline:
                sent = time.perf_counter()
                try:
                    if self.body is None:
                        answer = await client.get(self.url)
                    else:
                        answer = await client.post(self.url, json=self.body)
                except httpx.HTTPError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - sent)
                if not 200 <= answer.status_code < 400:
                    non2xx += 1

        async with httpx.AsyncClient(timeout=10) as client:
            await asyncio.gather(*(worker(client) for _ in range(self.connections)))
        elapsed = time.perf_counter() - began
        return LoadResult(
            requests=len(latencies) + errors,
            seconds=elapsed,
            p50_ms=percentile(latencies, 50) * 1000,
            p99_ms=percentile(latencies, 99) * 1000,
            max_ms=max(latencies, default=0) * 1000,
            errors=errors,
            non2xx=non2xx,
            tool="python",
        )


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def interleaved(
    targets: dict[str, tuple[str, dict[str, object] | None]],
    *,
    rounds: int,
    seconds: float,
    connections: int,
    use_wrk: bool,
    clocks: dict[str, Callable[[], float]] | None = None,
) -> dict[str, list[LoadResult]]:
    """Measure every target once per round, rounds interleaved, so a neighbour's burst on the shared machine
    hits all systems alike. A short warm-up run per target comes first and is not counted. `clocks` gives, per
    target, the CPU seconds its server has used so far: each run then records what it cost the server."""
    for url, body in targets.values():
        Load(url, body, connections=connections, seconds=min(1, seconds / 2), use_wrk=use_wrk).run()
    results: dict[str, list[LoadResult]] = {label: [] for label in targets}
    for _ in range(rounds):
        for label, (url, body) in targets.items():
            clock = (clocks or {}).get(label)
            before = clock() if clock is not None else 0.0
            result = Load(url, body, connections=connections, seconds=seconds, use_wrk=use_wrk).run()
            if clock is not None:
                result = replace(result, cpu_seconds=clock() - before)
            results[label].append(result)
    return results


@dataclass
class Summary:
    """Medians over rounds."""

    rps: float
    p50_ms: float
    p99_ms: float
    non2xx: int
    errors: int
    cpu_us: float | None = None  # server CPU time per request over all rounds, in microseconds, when measured

    @classmethod
    def of(cls, results: list[LoadResult]) -> Summary:
        requests = sum(r.requests for r in results)
        measured = [r.cpu_seconds for r in results if r.cpu_seconds is not None]
        return cls(
            rps=median([r.rps for r in results]),
            p50_ms=median([r.p50_ms for r in results]),
            p99_ms=median([r.p99_ms for r in results]),
            non2xx=sum(r.non2xx for r in results),
            errors=sum(r.errors for r in results),
            cpu_us=sum(measured) / requests * 1e6 if measured and len(measured) == len(results) and requests else None,
        )
