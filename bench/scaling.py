"""Part 2, scaling with workers: Stackyard's throughput on the BM25 pipeline at `--workers 1` and `--workers 2`."""

from __future__ import annotations

from contextlib import ExitStack

from bench import processes, workloads
from bench.load import Summary, interleaved
from bench.plan import Plan
from bench.report import Plot, Section, Table, ms, num

WORKERS = (1, 2)


def run(plan: Plan) -> Section:
    folder = plan.work / "scaling"
    pipelines = workloads.write(
        folder / "pipelines", {"bm25": workloads.BM25, "corpus": workloads.corpus(plan.documents)}
    )
    with ExitStack() as stack:
        targets: dict[str, tuple[str, dict[str, object] | None]] = {}
        for workers in WORKERS:
            # Two workers need both cores, so in this part the servers may use both (the load generator shares one).
            server = stack.enter_context(processes.stackyard(folder, [pipelines], workers=workers, cpus="0,1"))
            targets[f"--workers {workers}"] = (f"{server.url}/pipelines/bm25/run", {"data": workloads.BM25_INPUT})
        results = {
            label: Summary.of(rounds)
            for label, rounds in interleaved(
                targets,
                rounds=plan.rounds,
                seconds=plan.seconds,
                connections=plan.bm25_connections,
                use_wrk=plan.use_wrk,
            ).items()
        }
    one = results["--workers 1"].rps
    rows = [
        [label, num(s.rps), f"{s.rps / one:.2f}" if one else "-", ms(s.p50_ms), ms(s.p99_ms), str(s.non2xx + s.errors)]
        for label, s in results.items()
    ]
    speedup = results["--workers 2"].rps / one if one else 0.0
    return Section(
        part="2-scaling",
        title="2. Scaling with workers (BM25 + PromptBuilder)",
        text=(
            f"{plan.bm25_connections} connections on the BM25 pipeline ({plan.documents:,} documents). Two workers "
            "share the machine's two cores with the load generator, so they can at most double one worker's "
            "throughput; on this shared machine the rounds of either set-up also meet other people's runs, which "
            "moves the ratio by a tenth or more either way (above 2 included)."
        ),
        tables=[Table(["server", "req/s", "of 1 worker", "p50 ms", "p99 ms", "failed"], rows)],
        plots=[
            Plot(
                "scaling-throughput.png",
                "BM25 throughput by workers",
                "requests/s",
                {"Stackyard": {label: s.rps for label, s in results.items()}},
            )
        ],
        headline={"Stackyard BM25 throughput, 2 workers / 1 worker": f"{speedup:.2f}"},
    )
