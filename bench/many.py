"""Part 5, many pipelines: start-up time, resident memory, `GET /pipelines` latency and run overhead with 1, 100
and 1,000 pipelines served by one process."""

from __future__ import annotations

from contextlib import ExitStack

from bench import processes, workloads
from bench.load import Summary, interleaved
from bench.plan import Plan
from bench.processes import Server
from bench.report import Plot, Section, Table, ms, num


def run(plan: Plan) -> Section:
    rows = []
    with ExitStack() as stack:
        servers: dict[int, Server] = {}
        started: dict[int, tuple[float, str]] = {}
        for count in plan.pipeline_counts:
            folder = plan.work / f"many-{count}"
            pipelines = workloads.write(
                folder / "pipelines",
                {f"p{i:04d}": workloads.retagged(workloads.TRIVIAL, i) for i in range(count)},
            )
            store = f"sqlite:///{folder / 'yard.db'}"
            (folder / "yard.db").unlink(missing_ok=True)
            # First start: every file is parsed, built, warmed up and stored.
            first = processes.stackyard(folder, [pipelines], store=store)
            server = first
            if not plan.smoke:  # a smoke run skips the restart to stay fast
                first.stop()
                # Restart: everything comes from the store.
                server = processes.stackyard(folder, [], store=store)
            servers[count] = stack.enter_context(server)
            started[count] = (first.started_in, f"{server.started_in:.1f}" if server is not first else "-")
        # All sizes serve at once and their rounds interleave, so a busy neighbour hits every size alike.
        # One connection for the list: its latency, not the server's saturation, is the question.
        listing = interleaved(
            {str(c): (f"{s.url}/pipelines", None) for c, s in servers.items()},
            rounds=plan.rounds,
            seconds=plan.seconds,
            connections=1,
            use_wrk=plan.use_wrk,
        )
        running = interleaved(
            {str(c): (f"{s.url}/pipelines/p0000/run", {"data": workloads.TRIVIAL_INPUT}) for c, s in servers.items()},
            rounds=plan.rounds,
            seconds=plan.seconds,
            connections=plan.connections,
            use_wrk=plan.use_wrk,
        )
        rss = {count: server.rss_mib() for count, server in servers.items()}
        pss = {count: server.pss_mib() for count, server in servers.items()}
    runs = {count: Summary.of(running[str(count)]) for count in plan.pipeline_counts}
    for count in plan.pipeline_counts:
        lists = Summary.of(listing[str(count)])
        rows.append(
            [
                f"{count:,}",
                f"{started[count][0]:.1f}",
                started[count][1],
                f"{rss[count]:.0f}",
                f"{pss[count]:.0f}",
                ms(lists.p50_ms),
                ms(lists.p99_ms),
                num(runs[count].rps),
                ms(runs[count].p99_ms),
            ]
        )
    first_count, last_count = plan.pipeline_counts[0], plan.pipeline_counts[-1]
    ratio = runs[last_count].rps / runs[first_count].rps if runs[first_count].rps else 0.0
    return Section(
        part="5-many",
        title="5. Many pipelines in one process",
        text=(
            "PromptBuilder pipelines, each with its own template, given as files to a first start (parse, build, "
            "warm up, store each) and then served after a restart from the store; the servers of every size run "
            "side by side and their rounds interleave. `GET /pipelines` is timed over one "
            f"connection; runs of one of them over {plan.connections}. Memory is summed over the server, its fork "
            "server and its worker processes, which hold the builds: RSS counts the code they share once per "
            "process, PSS once in all. Targets: run throughput at "
            f"{last_count:,} pipelines within 10% of at {first_count}; at most 400 MiB (PSS) for {last_count:,}."
        ),
        tables=[
            Table(
                [
                    "pipelines",
                    "first start s",
                    "restart s",
                    "RSS MiB",
                    "PSS MiB",
                    "GET /pipelines p50 ms",
                    "GET /pipelines p99 ms",
                    "run req/s",
                    "run p99 ms",
                ],
                rows,
            )
        ],
        plots=[
            Plot(
                "many-run-throughput.png",
                "Run throughput by number of pipelines",
                "requests/s",
                {"Stackyard": {f"{c:,}": s.rps for c, s in runs.items()}},
            )
        ],
        headline={
            f"Run throughput at {last_count:,} pipelines / at {first_count}": f"{ratio:.2f}",
            f"Memory (PSS) of {last_count:,} pipelines, every process, MiB": f"{pss[last_count]:.0f}",
        },
    )
