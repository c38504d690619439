"""Part 6, deploy latency: from sending a PUT of a five-component pipeline until a run answers its new revision,
against Haystack's own `Pipeline.loads` + `warm_up` of the same text, timed in the same run."""

from __future__ import annotations

import time

import httpx

from bench import processes, workloads
from bench.floor import load_pipeline
from bench.load import median, percentile
from bench.plan import Plan
from bench.report import Plot, Section, Table, ms

QUERY = {"data": {"query": "barley"}}


def _haystack_ms(tag: int) -> float:
    began = time.perf_counter()
    pipeline = load_pipeline(workloads.five_components(tag))
    took = time.perf_counter() - began
    pipeline.close()
    return took * 1000


def run(plan: Plan) -> Section:
    folder = plan.work / "deploy"
    put_ms: list[float] = []
    served_ms: list[float] = []
    haystack_ms: list[float] = []
    run_ms: list[float] = []
    first_run_retries = 0
    _haystack_ms(-1)  # the first load imports the components; neither side pays that in the loop below
    with processes.stackyard(folder, []) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        for tag in range(plan.deploys + 1):
            began = time.perf_counter()
            answer = client.put(
                "/pipelines/five", content=workloads.five_components(tag), headers={"Content-Type": "application/yaml"}
            )
            answered = time.perf_counter()
            answer.raise_for_status()
            revision = answer.json()["revision"]
            while client.post("/pipelines/five/run", json=QUERY).json()["revision"] < revision:
                first_run_retries += 1
            served = time.perf_counter()
            client.post("/pipelines/five/run", json=QUERY)  # one more: what a run of this pipeline costs by itself
            run_ms.append((time.perf_counter() - served) * 1000)
            # Interleaved with the deploys, so both see the same neighbours on the shared machine.
            local = _haystack_ms(tag + 1000)
            if tag == 0:
                continue  # the server's first build imports the components
            put_ms.append((answered - began) * 1000)
            served_ms.append((served - began) * 1000)
            haystack_ms.append(local)
    put_gap = median(put_ms) - median(haystack_ms)
    served_gap = median(served_ms) - median(haystack_ms)
    rows = [
        [
            "Haystack `Pipeline.loads` + `warm_up` (in process)",
            ms(median(haystack_ms)),
            ms(percentile(haystack_ms, 99)),
        ],
        ["Stackyard PUT answered", ms(median(put_ms)), ms(percentile(put_ms, 99))],
        ["Stackyard PUT until a run answers the new revision", ms(median(served_ms)), ms(percentile(served_ms, 99))],
        ["One run of the pipeline, on its own", ms(median(run_ms)), ms(percentile(run_ms, 99))],
    ]
    return Section(
        part="6-deploy",
        title="6. Deploy latency (five components)",
        text=(
            f"{plan.deploys} deploys of a new revision of a five-component pipeline (BM25 retriever, joiner, chat "
            "prompt builder, mock chat generator, answer builder), each timed from sending the PUT until a run "
            "answers the new revision, next to Haystack's own parse-build-warm-up of the same text in the benchmark "
            "process. The PUT answers once the new revision is live: the registry swap comes before the answer, and "
            "the note below counts runs that still met the old revision after it. 'Until a run answers' adds one run "
            "of the pipeline, the proof, whose own cost is the last row (its chat prompt builder compiles its "
            "template on every run). Target: within 10 ms of Haystack's own time."
        ),
        tables=[Table(["what", "p50 ms", "p99 ms"], rows)],
        plots=[
            Plot(
                "deploy-latency.png",
                "Deploy latency, five components",
                "ms",
                {
                    "p50": {
                        "Haystack loads+warm_up": median(haystack_ms),
                        "Stackyard PUT": median(put_ms),
                        "PUT until served": median(served_ms),
                    }
                },
            )
        ],
        notes=[f"Runs that still answered the old revision after the PUT's answer: {first_run_retries}."],
        headline={
            "Deploy: Stackyard PUT answered (revision live) minus Haystack loads+warm_up (p50)": f"{put_gap:.1f} ms",
            "Deploy: Stackyard PUT until a run answers minus Haystack loads+warm_up (p50)": f"{served_gap:.1f} ms",
        },
    )
