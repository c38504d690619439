"""Part 4, propagation: from the answer to a PUT until every replica (or worker) serves the new revision.

Two set-ups: three `stackyard serve` replicas on one PostgreSQL store, each polled directly; and one server with
`--workers 2` on SQLite, where the kernel picks the worker of each connection: each answer names the server
process that gave it (`X-Stackyard-Replica`), and one keep-alive connection per worker does the polling.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import httpx

from bench import processes, workloads
from bench.load import median, percentile
from bench.plan import Plan
from bench.report import Plot, Section, Table, ms

POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
DATABASE = "stackyard_bench"
UPDATE_TIMEOUT = 15.0
# Updates sent back to back would each arrive just after the previous one was seen, i.e. just after a poll of the
# store, and always wait a whole interval; a random pause before each PUT samples every phase of the poll.
PAUSE_NOTE = "each PUT follows a random pause of 0 to 0.5 s, so updates fall at every phase of the store polling"
JITTER = random.Random(4)


def _put(client: httpx.Client, tag: int) -> int:
    answer = client.put("/pipelines/probe", content=workloads.probe(tag), headers={"Content-Type": "application/yaml"})
    answer.raise_for_status()
    return int(answer.json()["revision"])


def _probe(client: httpx.Client) -> tuple[str, int]:
    """(server process, revision) of one probe run. The pipeline itself runs in a worker process of that server;
    the answer's header names the server process that holds the revision."""
    answer = client.post("/pipelines/probe/run", json={"data": {"name": "x"}})
    return answer.headers["X-Stackyard-Replica"], int(answer.json()["revision"])


def _one_client_per_worker(url: str, workers: int, stack: ExitStack) -> dict[str, httpx.Client]:
    """Keep-alive connections opened at the same time land on different workers; keep one per worker."""
    by_pid: dict[str, httpx.Client] = {}
    for _ in range(20):
        clients = [
            stack.enter_context(httpx.Client(base_url=url, timeout=10, limits=httpx.Limits(max_connections=1)))
            for _ in range(8)
        ]
        with ThreadPoolExecutor(len(clients)) as pool:
            for client, (pid, _) in zip(clients, pool.map(_probe, clients), strict=True):
                by_pid.setdefault(pid, client)
        if len(by_pid) >= workers:
            break
    return by_pid


def _workers_case(plan: Plan, interval: float | None = None) -> tuple[list[float], str]:
    folder = plan.work / "propagation-sqlite"
    env = {"STACKYARD_SYNC_INTERVAL": str(interval)} if interval else None
    pipelines = workloads.write(folder / "pipelines", {"probe": workloads.probe(0)})
    times: list[float] = []
    with ExitStack() as stack:
        server = stack.enter_context(processes.stackyard(folder, [pipelines], workers=2, env=env))
        client = stack.enter_context(httpx.Client(base_url=server.url, timeout=30))
        workers = _one_client_per_worker(server.url, 2, stack)
        if len(workers) < 2:
            return times, "only one worker ever answered; no propagation measured"
        for tag in range(1, plan.updates + 1):
            time.sleep(JITTER.uniform(0, 0.5))  # see PAUSE_NOTE
            revision = _put(client, tag)
            acknowledged = time.perf_counter()
            pending = set(workers)
            deadline = acknowledged + UPDATE_TIMEOUT
            while pending and time.perf_counter() < deadline:
                for pid in list(pending):
                    served_pid, served = _probe(workers[pid])
                    if served_pid != pid:
                        return times, "a keep-alive connection changed worker; the measurement is void"
                    if served >= revision:
                        pending.discard(pid)
            if pending:
                return times, f"update {tag}: not every worker served revision {revision} within {UPDATE_TIMEOUT} s"
            times.append(time.perf_counter() - acknowledged)
    return times, ""


def _postgres_available() -> str:
    """Empty when this build accepts a PostgreSQL store URL, else why not."""
    probe = subprocess.run(
        [sys.executable, "-c", "import stackyard.store.postgres"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        return "not available in this build (stackyard.store.postgres is missing)"
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[postgres]')"
    try:
        with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True, connect_timeout=5) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
            connection.execute(f"CREATE DATABASE {DATABASE}")
    except psycopg.Error as error:
        return f"PostgreSQL at {POSTGRES_URL} is not reachable: {error}"
    return ""


def _replicas_case(plan: Plan) -> tuple[list[float], str]:
    missing = _postgres_available()
    if missing:
        return [], missing
    folder = plan.work / "propagation-postgres"
    pipelines = workloads.write(folder / "pipelines", {"probe": workloads.probe(0)})
    store = f"{POSTGRES_URL}/{DATABASE}"
    times: list[float] = []
    with ExitStack() as stack:
        try:
            replicas = [stack.enter_context(processes.stackyard(folder, [pipelines], store=store)) for _ in range(3)]
        except RuntimeError as error:
            return times, f"the replicas did not start on PostgreSQL: {str(error)[:300]}"
        clients = [stack.enter_context(httpx.Client(base_url=r.url, timeout=10)) for r in replicas]
        for tag in range(1, plan.updates + 1):
            time.sleep(JITTER.uniform(0, 0.5))  # see PAUSE_NOTE
            revision = _put(clients[0], tag)
            acknowledged = time.perf_counter()
            pending = set(range(len(clients)))
            deadline = acknowledged + UPDATE_TIMEOUT
            while pending and time.perf_counter() < deadline:
                for index in list(pending):
                    if (clients[index].get("/pipelines/probe").json().get("live_revision") or 0) >= revision:
                        pending.discard(index)
            if pending:
                return times, f"update {tag}: replicas {sorted(pending)} did not serve revision {revision} in time"
            times.append(time.perf_counter() - acknowledged)
    return times, ""


def run(plan: Plan) -> Section:
    rows = []
    notes = []
    headline = {}
    plot: dict[str, dict[str, float]] = {"p50": {}, "p99": {}}
    cases: dict[str, Callable[[Plan], tuple[list[float], str]]] = {
        "3 replicas, PostgreSQL": _replicas_case,
        "1 server --workers 2, SQLite": _workers_case,
        "1 server --workers 2, SQLite, STACKYARD_SYNC_INTERVAL=0.05": lambda p: _workers_case(p, 0.05),
    }
    if plan.smoke:  # the shorter interval runs the same code as the default one: the harness needs it once
        del cases["1 server --workers 2, SQLite, STACKYARD_SYNC_INTERVAL=0.05"]
    for label, case in cases.items():
        times, problem = case(plan)
        if problem:
            notes.append(f"{label}: {problem}.")
        if times:
            p50, p99 = median(times) * 1000, percentile(times, 99) * 1000
            rows.append([label, str(len(times)), ms(p50), ms(p99), ms(max(times) * 1000)])
            headline[f"Propagation p99, {label}"] = f"{ms(p99)} ms"
            plot["p50"][label] = p50
            plot["p99"][label] = p99
        else:
            rows.append([label, "0", "-", "-", "-"])
    return Section(
        part="4-propagation",
        title="4. Propagation to every replica",
        text=(
            f"{plan.updates} updates, one after the other; each is timed from the PUT's answer until every replica "
            "(or worker) serves the new revision. Replicas are polled directly (`GET /pipelines/probe`, "
            "`live_revision`); workers behind one port are told apart by a probe component that answers its process "
            "id, each polled over a keep-alive connection that the kernel gave to it. The SQLite case polls the "
            "store every `STACKYARD_SYNC_INTERVAL` (0.1 s by default), which bounds the wait for the poll; "
            f"{PAUSE_NOTE}. Target: p99 under 250 ms, with PostgreSQL and with SQLite."
        ),
        tables=[Table(["set-up", "updates", "p50 ms", "p99 ms", "max ms"], rows)],
        plots=[Plot("propagation.png", "PUT answered until served everywhere", "ms", plot)] if plot["p50"] else [],
        notes=notes,
        headline=headline,
    )
