"""Part 7, the cells' own costs: what a run pays for crossing to a cell (wall time and CPU, both sides), how long a
killed cell takes to be replaced, and whether a CPU-bound pipeline served by one `stackyard` process uses both cores.

The first two are measured in this process with the pool the server uses (`CellPool`), one run at a time, so they
are costs, not throughput; the CPU of the server's side is this process's, the cell's is read from `/proc`. The
third starts `stackyard serve` unpinned (both cores) and the floor likewise, and compares one connection with four
on a pipeline that burns 20 ms of CPU per run.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

from bench import processes, workloads
from bench.load import Summary, interleaved
from bench.plan import Plan
from bench.report import Section, Table, num
from stackyard.cell.runner import run_build
from stackyard.cell.work import Work
from stackyard.serving.cell_pool import CellPool, Group, cell_config
from stackyard.serving.placement import GroupSpec
from stackyard.settings import Settings
from stackyard.wire.build_info import BuildInfo
from stackyard.wire.jobs import Run

SETTINGS = Settings(store_url="sqlite:///unused.db", run_workers=1, extra_allowed_modules=["bench"])
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Costs:
    in_process: float  # µs per run called in this process
    through_cell: float  # µs per run through a cell, as the server runs it (rules enforced)
    uncontained: float  # µs per run through a cell without the rules (`cell/containment.py`)
    server_cpu: float  # µs of the server side's CPU per run through a cell
    cell_cpu: float  # µs of the cell's CPU per run
    replace_ms: float  # a killed cell until its replacement serves
    spawn_ms: float  # a new cell from the fork server


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def _per_run(pool: CellPool, info: BuildInfo, job: Run, runs: int) -> float:
    started = time.perf_counter()
    for _ in range(runs):
        await pool.call(info, job, deadline=time.monotonic() + 10)
    return (time.perf_counter() - started) / runs * 1e6


async def _costs(runs: int, kills: int) -> Costs:
    yaml = workloads.retagged(workloads.TRIVIAL, 0)
    data = workloads.TRIVIAL_INPUT
    local = Work(cell_config(SETTINGS)).build(yaml, keep=False)
    for _ in range(50):
        run_build(local, dict(data))
    started = time.perf_counter()
    for _ in range(runs):
        run_build(local, dict(data))
    in_process = (time.perf_counter() - started) / runs * 1e6

    pool = CellPool.for_settings(SETTINGS)
    # The same pool without the rules: its cells get no scratch folder, so they install no audit hook.
    bare = CellPool(replace(pool.config, scratch_root=None), shared=1, build_timeout=SETTINGS.build_timeout)
    await pool.start()
    await bare.start()
    try:
        info, bare_info = await pool.prepare("trivial", yaml), await bare.prepare("trivial", yaml)
        job = Run(dict(data))
        await _per_run(pool, info, job, 50)
        await _per_run(bare, bare_info, job, 50)
        # Batches of the two alternate, so a neighbour's burst on the shared machine hits both alike.
        contained, uncontained, server_cpu, cell_cpu = [], [], [], []
        [cell] = pool.cells_of("shared")
        batch = runs // 10
        for _ in range(10):
            ours, theirs = time.process_time(), _cpu_seconds(cell.pid)
            contained.append(await _per_run(pool, info, job, batch))
            server_cpu.append((time.process_time() - ours) / batch * 1e6)
            cell_cpu.append((_cpu_seconds(cell.pid) - theirs) / batch * 1e6)
            uncontained.append(await _per_run(bare, bare_info, job, batch))

        replaced = []
        for _ in range(kills):
            [cell] = pool.cells_of("shared")
            began = time.perf_counter()
            cell.kill()
            await cell.ended
            while not any(other is not cell and other.state.value == "serving" for other in pool.cells_of("shared")):
                await pool.replaced()
                await asyncio.sleep(0.001)  # the pace of polling only: the group's state changes in tasks
            replaced.append((time.perf_counter() - began) * 1000)
        spawned = []
        for _ in range(kills):
            began = time.perf_counter()
            spare = await pool._spawn(Group(GroupSpec("probe", 1, own=True)))
            spawned.append((time.perf_counter() - began) * 1000)
            spare.channel.close()
            await spare.ended
    finally:
        await pool.close()
        await bare.close()
    return Costs(
        in_process,
        statistics.median(contained),
        statistics.median(uncontained),
        statistics.median(server_cpu),
        statistics.median(cell_cpu),
        statistics.median(replaced),
        statistics.median(spawned),
    )


def run(plan: Plan) -> Section:
    runs, kills = (200, 3) if plan.smoke else (5000, 20)
    costs = asyncio.run(_costs(runs, kills))
    hop_cpu = costs.server_cpu + costs.cell_cpu - costs.in_process

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
        title="7. Cells",
        text=(
            "Component code runs in cells (`serving/cell_pool.py`, `cell/life.py`). Costs measured with the server's "
            f"own pool, one request at a time: a PromptBuilder run called in this process and through a cell ({runs:,} "
            "runs each), the latter also without the containment rules (`cell/containment.py`: no audit hook; "
            "batches of the two alternate, medians), and the CPU each side spends per run; a killed cell until its "
            f"replacement serves ({kills} times, median); "
            "a new cell started from the fork server (median). Then a pipeline that burns 20 ms of CPU per run, "
            "served by one `stackyard serve` and by the floor, both unpinned on the machine's two cores, at one "
            "connection and at four: the speed-up is how many cores the server uses."
        ),
        tables=[
            Table(
                ["cost", "value"],
                [
                    ["one run in this process, µs", f"{costs.in_process:.0f}"],
                    ["one run through a cell, µs", f"{costs.through_cell:.0f}"],
                    ["overhead of the cell per run, µs", f"{costs.through_cell - costs.in_process:.0f}"],
                    ["server-side CPU per run through a cell, µs", f"{costs.server_cpu:.0f}"],
                    ["cell CPU per run, µs", f"{costs.cell_cpu:.0f}"],
                    ["CPU of the hop per run (both sides, less the run itself), µs", f"{hop_cpu:.0f}"],
                    ["one run through a cell without the containment rules, µs", f"{costs.uncontained:.0f}"],
                    ["cost of the containment rules per run, µs", f"{costs.through_cell - costs.uncontained:.0f}"],
                    ["killed cell replaced, ms", f"{costs.replace_ms:.0f}"],
                    ["new cell from the fork server, ms", f"{costs.spawn_ms:.0f}"],
                ],
            ),
            Table(["server", "req/s, 1 connection", "req/s, 4 connections", "speed-up"], rows),
        ],
        headline={
            "Cell hop, wall time per run (µs)": f"{costs.through_cell - costs.in_process:.0f}",
            "Cell hop, CPU per run, both sides (µs)": f"{hop_cpu:.0f}",
            "Containment rules, cost per run (µs)": f"{costs.through_cell - costs.uncontained:.0f}",
            "Killed cell replaced in (ms)": f"{costs.replace_ms:.0f}",
            "CPU-bound pipeline, 4 connections / 1, Stackyard": f"{scaling['Stackyard']:.2f}",
            "CPU-bound pipeline, 4 connections / 1, floor": f"{scaling['floor']:.2f}",
        },
    )
