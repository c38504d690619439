"""Part 7, the worker processes' own costs: what a run pays for crossing to a worker, how long a killed worker takes
to be replaced, and whether a CPU-bound pipeline served by one `stackyard` process uses both cores.

The first two are measured in this process with the pool the server uses (`WorkerPool`), one run at a time, so
they are costs, not throughput. The third starts `stackyard serve` unpinned (both cores) and the floor likewise,
and compares one connection with four on a pipeline that burns 20 ms of CPU per run.
"""

from __future__ import annotations

import asyncio
import functools
import statistics
import time
from contextlib import ExitStack

from bench import processes, workloads
from bench.load import Summary, interleaved
from bench.plan import Plan
from bench.report import Section, Table, num
from stackyard.serving.pool import WorkerPool, WorkTimedOut, worker_config
from stackyard.serving.runner import run_build
from stackyard.serving.worker import build
from stackyard.settings import Settings

SETTINGS = Settings(store_url="sqlite:///unused.db", run_workers=1, extra_allowed_modules=["bench"])


def _forever(built: object) -> None:
    while True:
        pass


async def _costs(runs: int, kills: int) -> tuple[float, float, float, float]:
    """(µs per run in this process, µs per run through a worker, ms to replace a killed worker, ms to start one)."""
    config = worker_config(SETTINGS)
    yaml = workloads.retagged(workloads.TRIVIAL, 0)
    local = build(yaml, config)
    data = workloads.TRIVIAL_INPUT
    for _ in range(50):
        run_build(local, dict(data))
    started = time.perf_counter()
    for _ in range(runs):
        run_build(local, dict(data))
    in_process = (time.perf_counter() - started) / runs * 1e6

    pool = WorkerPool.for_settings(SETTINGS)
    await pool.start()
    try:
        info = await pool.prepare(yaml)
        work = functools.partial(run_build, data=dict(data))
        for _ in range(50):
            await pool.run(info, work, seconds=10)
        started = time.perf_counter()
        for _ in range(runs):
            await pool.run(info, work, seconds=10)
        through_worker = (time.perf_counter() - started) / runs * 1e6

        replaced = []
        for _ in range(kills):
            try:
                await pool.run(info, _forever, seconds=0.2)
            except WorkTimedOut:
                ended = time.perf_counter()  # raised once the worker is gone
            await pool.replaced()
            replaced.append((time.perf_counter() - ended) * 1000)
        spawned = []
        for _ in range(kills):
            started = time.perf_counter()
            handle = await pool._spawn(memory=False)
            spawned.append((time.perf_counter() - started) * 1000)
            handle.channel.close()
            await asyncio.to_thread(handle.process.join)
    finally:
        await pool.close()
    return in_process, through_worker, statistics.median(replaced), statistics.median(spawned)


def run(plan: Plan) -> Section:
    runs, kills = (200, 3) if plan.smoke else (5000, 20)
    in_process, through_worker, replace_ms, spawn_ms = asyncio.run(_costs(runs, kills))

    folder = plan.work / "workers"
    pipelines = workloads.write(folder / "pipelines", {"burn": workloads.BURN})
    rows = []
    with ExitStack() as stack:
        servers = {
            "Stackyard": stack.enter_context(processes.stackyard(folder, [pipelines], cpus=None)),
            "floor": stack.enter_context(processes.floor(folder, sorted(pipelines.glob("*.yml")), cpus=None)),
        }
        by_connections = {}
        for connections in (1, 4):
            targets: dict[str, tuple[str, dict[str, object] | None]] = {
                system: (f"{server.url}/pipelines/burn/run", {"data": workloads.BURN_INPUT})
                for system, server in servers.items()
            }
            by_connections[connections] = {
                system: Summary.of(rounds)
                for system, rounds in interleaved(
                    targets, rounds=plan.rounds, seconds=plan.seconds, connections=connections, use_wrk=plan.use_wrk
                ).items()
            }
    scaling = {}
    for system in servers:
        one, four = by_connections[1][system].rps, by_connections[4][system].rps
        scaling[system] = four / one if one else 0.0
        rows.append([system, num(one), num(four), f"{scaling[system]:.2f}"])
    return Section(
        part="7-workers",
        title="7. Worker processes",
        text=(
            "Component code runs in worker processes (`serving/pool.py`). Costs measured with the server's own pool, "
            f"one request at a time: a PromptBuilder run called in this process and through a worker ({runs:,} "
            f"runs each); a worker ended past its timeout until its replacement is ready ({kills} times, median); "
            "a new worker started from the fork server (median). Then a pipeline that burns 20 ms of CPU per run, "
            "served by one `stackyard serve` and by the floor, both unpinned on the machine's two cores, at one "
            "connection and at four: the speed-up is how many cores the server uses."
        ),
        tables=[
            Table(
                ["cost", "value"],
                [
                    ["one run in this process, µs", f"{in_process:.0f}"],
                    ["one run through a worker, µs", f"{through_worker:.0f}"],
                    ["overhead of the worker per run, µs", f"{through_worker - in_process:.0f}"],
                    ["killed worker replaced, ms", f"{replace_ms:.0f}"],
                    ["new worker from the fork server, ms", f"{spawn_ms:.0f}"],
                ],
            ),
            Table(["server", "req/s, 1 connection", "req/s, 4 connections", "speed-up"], rows),
        ],
        headline={
            "Worker overhead per run (µs)": f"{through_worker - in_process:.0f}",
            "Killed worker replaced in (ms)": f"{replace_ms:.0f}",
            "CPU-bound pipeline, 4 connections / 1, Stackyard": f"{scaling['Stackyard']:.2f}",
            "CPU-bound pipeline, 4 connections / 1, floor": f"{scaling['floor']:.2f}",
        },
    )
