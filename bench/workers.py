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
from dataclasses import dataclass
from typing import Any

from bench import processes, workloads
from bench.load import Summary, interleaved
from bench.plan import Plan
from bench.report import Section, Table, num
from stackyard.definitions.build import BuildInfo
from stackyard.serving.pool import WorkerPool, WorkTimedOut, worker_config
from stackyard.serving.runner import run_build
from stackyard.serving.worker import build
from stackyard.settings import Settings

SETTINGS = Settings(store_url="sqlite:///unused.db", run_workers=1, extra_allowed_modules=["bench"])


def _forever(built: object) -> None:
    while True:
        pass


@dataclass
class Costs:
    in_process: float  # µs per run called in this process
    through_worker: float  # µs per run through a worker, as the server runs it (rules enforced)
    uncontained: float  # µs per run through a worker without the rules (`serving/containment.py`)
    replace_ms: float  # a worker ended past its timeout until its replacement is ready
    spawn_ms: float  # a new worker from the fork server


async def _per_run(pool: WorkerPool, info: BuildInfo, work: Any, runs: int) -> float:
    started = time.perf_counter()
    for _ in range(runs):
        await pool.run(info, work, seconds=10)
    return (time.perf_counter() - started) / runs * 1e6


async def _costs(runs: int, kills: int) -> Costs:
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
    # The same pool without the rules: its workers get no scratch folder, so they install no audit hook.
    bare = WorkerPool(config, minimum=1, maximum=1, build_timeout=SETTINGS.build_timeout)
    await pool.start()
    await bare.start()
    try:
        info, bare_info = await pool.prepare(yaml), await bare.prepare(yaml)
        work = functools.partial(run_build, data=dict(data))
        await _per_run(pool, info, work, 50)
        await _per_run(bare, bare_info, work, 50)
        # Batches of the two alternate, so a neighbour's burst on the shared machine hits both alike.
        contained, uncontained = [], []
        for _ in range(10):
            contained.append(await _per_run(pool, info, work, runs // 10))
            uncontained.append(await _per_run(bare, bare_info, work, runs // 10))
        through_worker, without_rules = statistics.median(contained), statistics.median(uncontained)

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
        await bare.close()
    return Costs(in_process, through_worker, without_rules, statistics.median(replaced), statistics.median(spawned))


def run(plan: Plan) -> Section:
    runs, kills = (200, 3) if plan.smoke else (5000, 20)
    costs = asyncio.run(_costs(runs, kills))

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
            "runs each), the latter also without the containment rules (`serving/containment.py`: no audit hook; "
            "batches of the two alternate, medians); a worker ended past its timeout until its replacement is ready "
            f"({kills} times, median); "
            "a new worker started from the fork server (median). Then a pipeline that burns 20 ms of CPU per run, "
            "served by one `stackyard serve` and by the floor, both unpinned on the machine's two cores, at one "
            "connection and at four: the speed-up is how many cores the server uses."
        ),
        tables=[
            Table(
                ["cost", "value"],
                [
                    ["one run in this process, µs", f"{costs.in_process:.0f}"],
                    ["one run through a worker, µs", f"{costs.through_worker:.0f}"],
                    ["overhead of the worker per run, µs", f"{costs.through_worker - costs.in_process:.0f}"],
                    ["one run through a worker without the containment rules, µs", f"{costs.uncontained:.0f}"],
                    ["cost of the containment rules per run, µs", f"{costs.through_worker - costs.uncontained:.0f}"],
                    ["killed worker replaced, ms", f"{costs.replace_ms:.0f}"],
                    ["new worker from the fork server, ms", f"{costs.spawn_ms:.0f}"],
                ],
            ),
            Table(["server", "req/s, 1 connection", "req/s, 4 connections", "speed-up"], rows),
        ],
        headline={
            "Worker overhead per run (µs)": f"{costs.through_worker - costs.in_process:.0f}",
            "Containment rules, cost per run (µs)": f"{costs.through_worker - costs.uncontained:.0f}",
            "Killed worker replaced in (ms)": f"{costs.replace_ms:.0f}",
            "CPU-bound pipeline, 4 connections / 1, Stackyard": f"{scaling['Stackyard']:.2f}",
            "CPU-bound pipeline, 4 connections / 1, floor": f"{scaling['floor']:.2f}",
        },
    )
