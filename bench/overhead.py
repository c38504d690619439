"""Part 1, serving overhead: requests per second, server CPU per request and p50/p99 latency, Stackyard against
the floor and Hayhooks, on a PromptBuilder-only pipeline and on BM25 over the corpus plus a PromptBuilder; each
server alone on one core, and each free on the machine's cores."""

from __future__ import annotations

from contextlib import ExitStack

from bench import processes, workloads
from bench.load import Summary, interleaved
from bench.plan import Plan
from bench.report import Plot, Section, Table, ms, num

# Where the servers run: each on core 0 alone (what a request costs when CPU time is all there is), and as each
# runs by default, free on the machine's cores (Stackyard's HTTP process and its workers side by side, the
# floor's and Hayhooks' one process as they are). wrk keeps core 1 in both.
PLACES = {"one core each": processes.SERVER_CPU, "the machine's cores": None}


def run(plan: Plan) -> Section:
    folder = plan.work / "overhead"
    pipelines = workloads.write(
        folder / "pipelines",
        {"trivial": workloads.TRIVIAL, "bm25": workloads.BM25, "corpus": workloads.corpus(plan.documents)},
    )
    notes = []
    if plan.hayhooks is None:
        notes.append("Hayhooks was not measured in this run (smoke run, or it could not be installed).")
    # The PromptBuilder pipeline at half and at all of the connections: containment must hold at both.
    cases = [
        (f"PromptBuilder only, {n} connections", "trivial", workloads.TRIVIAL_INPUT, n)
        for n in sorted({max(1, plan.connections // 2), plan.connections})
    ]
    cases.append(("BM25 + PromptBuilder", "bm25", workloads.BM25_INPUT, plan.bm25_connections))
    results: dict[str, dict[str, Summary]] = {}
    for place, cpus in PLACES.items():
        with ExitStack() as stack:
            servers = {
                "Stackyard": stack.enter_context(processes.stackyard(folder, [pipelines], cpus=cpus)),
                "floor": stack.enter_context(processes.floor(folder, sorted(pipelines.glob("*.yml")), cpus=cpus)),
            }
            if plan.hayhooks is not None:
                servers["Hayhooks"] = stack.enter_context(
                    processes.hayhooks(folder, plan.hayhooks, pipelines, cpus=cpus)
                )
            for title, name, data, connections in cases:
                targets: dict[str, tuple[str, dict[str, object] | None]] = {}
                for system, server in servers.items():
                    if system == "Hayhooks":
                        targets[system] = (f"{server.url}/{name}/run", dict(data))
                    else:
                        targets[system] = (f"{server.url}/pipelines/{name}/run", {"data": data})
                measured = interleaved(
                    targets,
                    rounds=plan.rounds,
                    seconds=plan.seconds,
                    connections=connections,
                    use_wrk=plan.use_wrk,
                    clocks={system: server.cpu_seconds for system, server in servers.items()},
                )
                results[f"{title}, {place}"] = {system: Summary.of(rounds) for system, rounds in measured.items()}
    rows = []
    headline = {}
    for title, by_system in results.items():
        floor = by_system["floor"]
        for system, summary in by_system.items():
            ratio = summary.rps / floor.rps if floor.rps else 0.0
            cpu = f"{summary.cpu_us:.0f}" if summary.cpu_us is not None else "-"
            rows.append(
                [
                    title,
                    system,
                    num(summary.rps),
                    f"{ratio:.2f}",
                    cpu,
                    ms(summary.p50_ms),
                    ms(summary.p99_ms),
                    str(summary.non2xx + summary.errors),
                ]
            )
            if system != "floor":
                headline[f"{system} throughput / floor, {title}"] = f"{ratio:.2f}"
    systems = sorted({system for by_system in results.values() for system in by_system})
    return Section(
        part="1-overhead",
        title="1. Serving overhead",
        text=(
            f"{max(1, plan.connections // 2)} and {plan.connections} connections on the PromptBuilder pipeline and "
            f"{plan.bm25_connections} on BM25 "
            f"({'wrk -t1' if plan.use_wrk else 'Python loop'}, on core 1) against each "
            "server's run endpoint; the floor is a bare Starlette route calling the same `Pipeline` in the "
            "threadpool (`bench/floor.py`). BM25 searches "
            f"{plan.documents:,} synthetic documents (`bench/corpus.py`). Each server runs one uvicorn worker in "
            "its default configuration; Stackyard runs every pipeline in its worker processes, the floor and "
            "Hayhooks in threads of their one process. The servers are measured twice: each alone on core 0 "
            "(`taskset -c 0`, workers included: the CPU a request costs decides throughput), and free on the "
            "machine's two cores, as each runs when started. `CPU µs` is the CPU time of the server's processes "
            "(workers and fork server included) per request. Target: Stackyard at least 0.85 of the floor on the "
            "PromptBuilder-only pipeline at both connection counts in its default configuration, on the machine's "
            "cores."
        ),
        tables=[Table(["case", "server", "req/s", "of floor", "CPU µs", "p50 ms", "p99 ms", "failed"], rows)],
        plots=[
            Plot(
                "overhead-throughput.png",
                "Throughput relative to the floor",
                "share of the floor's requests/s",
                {
                    s: {t: results[t][s].rps / results[t]["floor"].rps for t in results if s in results[t]}
                    for s in systems
                },
            ),
            Plot(
                "overhead-latency.png",
                "p99 latency",
                "ms",
                {s: {t: results[t][s].p99_ms for t in results if s in results[t]} for s in systems},
            ),
        ],
        notes=notes,
        headline=headline,
    )
