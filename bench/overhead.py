"""Part 1, serving overhead: requests per second and p50/p99 latency with one worker, Stackyard against the floor
and Hayhooks, on a PromptBuilder-only pipeline and on BM25 over the corpus plus a PromptBuilder."""

from __future__ import annotations

from contextlib import ExitStack

from bench import processes, workloads
from bench.load import Summary, interleaved
from bench.plan import Plan
from bench.report import Plot, Section, Table, ms, num


def run(plan: Plan) -> Section:
    folder = plan.work / "overhead"
    pipelines = workloads.write(
        folder / "pipelines",
        {"trivial": workloads.TRIVIAL, "bm25": workloads.BM25, "corpus": workloads.corpus(plan.documents)},
    )
    notes = []
    with ExitStack() as stack:
        servers = {
            "Stackyard": stack.enter_context(processes.stackyard(folder, [pipelines])),
            "floor": stack.enter_context(processes.floor(folder, sorted(pipelines.glob("*.yml")))),
        }
        if plan.hayhooks is not None:
            servers["Hayhooks"] = stack.enter_context(processes.hayhooks(folder, plan.hayhooks, pipelines))
        else:
            notes.append("Hayhooks was not measured in this run (smoke run, or it could not be installed).")
        results = {}
        # The PromptBuilder pipeline at half and at all of the connections: containment must hold at both.
        cases = [
            (f"PromptBuilder only, {n} connections", "trivial", workloads.TRIVIAL_INPUT, n)
            for n in sorted({max(1, plan.connections // 2), plan.connections})
        ]
        cases.append(("BM25 + PromptBuilder", "bm25", workloads.BM25_INPUT, plan.bm25_connections))
        for title, name, data, connections in cases:
            targets: dict[str, tuple[str, dict[str, object] | None]] = {}
            for system, server in servers.items():
                if system == "Hayhooks":
                    targets[system] = (f"{server.url}/{name}/run", dict(data))
                else:
                    targets[system] = (f"{server.url}/pipelines/{name}/run", {"data": data})
            results[title] = {
                system: Summary.of(rounds)
                for system, rounds in interleaved(
                    targets, rounds=plan.rounds, seconds=plan.seconds, connections=connections, use_wrk=plan.use_wrk
                ).items()
            }
    rows = []
    headline = {}
    for title, by_system in results.items():
        floor = by_system["floor"].rps
        for system, summary in by_system.items():
            ratio = summary.rps / floor if floor else 0.0
            rows.append(
                [
                    title,
                    system,
                    num(summary.rps),
                    f"{ratio:.2f}",
                    ms(summary.p50_ms),
                    ms(summary.p99_ms),
                    str(summary.non2xx + summary.errors),
                ]
            )
            if system != "floor":
                headline[f"{system} throughput / floor, {title}"] = f"{ratio:.2f}"
    return Section(
        part="1-overhead",
        title="1. Serving overhead (one worker)",
        text=(
            f"{max(1, plan.connections // 2)} and {plan.connections} connections on the PromptBuilder pipeline and "
            f"{plan.bm25_connections} on BM25 "
            f"({'wrk -t1' if plan.use_wrk else 'Python loop'}) against each "
            "server's run endpoint; the floor is a bare Starlette route calling the same `Pipeline` in the "
            "threadpool (`bench/floor.py`). BM25 searches "
            f"{plan.documents:,} synthetic documents (`bench/corpus.py`). Target: Stackyard at least 0.85 of the "
            "floor on the PromptBuilder-only pipeline at both connection counts. Stackyard runs every pipeline in "
            "its worker processes (pinned with it to core 0), the floor in its own threads."
        ),
        tables=[Table(["pipeline", "server", "req/s", "of floor", "p50 ms", "p99 ms", "failed"], rows)],
        plots=[
            Plot(
                "overhead-throughput.png",
                "Throughput relative to the floor, one worker",
                "share of the floor's requests/s",
                {s: {t: results[t][s].rps / results[t]["floor"].rps for t in results} for s in servers},
            ),
            Plot(
                "overhead-latency.png",
                "p99 latency, one worker",
                "ms",
                {s: {t: results[t][s].p99_ms for t in results} for s in servers},
            ),
        ],
        notes=notes,
        headline=headline,
    )
