"""Part 3, updates under load: replace a pipeline again and again while connections run it.

Counts answers that were not 2xx and compares p99 during the updates with p99 in steady state, for Stackyard's
`PUT /pipelines/{name}` and for Hayhooks' overwrite deploy (`POST /deploy-yaml` with `overwrite: true`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from bench import processes, workloads
from bench.load import Load, LoadResult, Summary, interleaved, median
from bench.plan import Plan
from bench.processes import Server
from bench.report import Plot, Section, Table, ms, num


def _stackyard_update(client: httpx.Client, tag: int) -> httpx.Response:
    return client.put(
        "/pipelines/trivial",
        content=workloads.retagged(workloads.TRIVIAL, tag),
        headers={"Content-Type": "application/yaml"},
    )


def _hayhooks_update(client: httpx.Client, tag: int) -> httpx.Response:
    return client.post(
        "/deploy-yaml",
        json={
            "name": "trivial",
            "source_code": workloads.retagged(workloads.TRIVIAL, tag),
            "overwrite": True,
            "save_file": False,
        },
    )


def _under_updates(
    plan: Plan, server: Server, url: str, body: dict[str, object], update: Callable[[httpx.Client, int], httpx.Response]
) -> tuple[LoadResult, list[float], int]:
    """Load `url` while applying `plan.updates` updates one after the other.

    Returns the load's result, each update's duration and the number of updates that failed.
    """
    load = Load(url, body, connections=plan.update_connections, seconds=600, use_wrk=plan.use_wrk)
    load.start()
    took: list[float] = []
    failed = 0
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            time.sleep(min(1.0, plan.seconds))  # let the load reach steady state before the first update
            for tag in range(1, plan.updates + 1):
                began = time.perf_counter()
                answer = update(client, tag)
                took.append(time.perf_counter() - began)
                failed += not answer.is_success
    finally:
        result = load.stop()
    return result, took, failed


def run(plan: Plan) -> Section:
    folder = plan.work / "updates"
    pipelines = workloads.write(folder / "pipelines", {"trivial": workloads.retagged(workloads.TRIVIAL, 0)})
    systems: dict[str, tuple[Callable[[Plan], Server], str, dict[str, object], Callable[..., httpx.Response]]] = {
        "Stackyard": (
            lambda p: processes.stackyard(folder, [pipelines]),
            "/pipelines/trivial/run",
            {"data": workloads.TRIVIAL_INPUT},
            _stackyard_update,
        ),
    }
    notes = []
    if plan.hayhooks is not None:
        executable = plan.hayhooks
        systems["Hayhooks"] = (
            lambda p: processes.hayhooks(folder, executable, pipelines),
            "/trivial/run",
            dict(workloads.TRIVIAL_INPUT),
            _hayhooks_update,
        )
    else:
        notes.append("Hayhooks was not measured in this run (smoke run, or it could not be installed).")
    rows = []
    headline = {}
    plot: dict[str, dict[str, float]] = {"steady": {}, "during updates": {}}
    for system, (start, path, body, update) in systems.items():
        with start(plan) as server:
            steady = Summary.of(
                interleaved(
                    {system: (server.url + path, body)},
                    rounds=plan.rounds,
                    seconds=plan.seconds,
                    connections=plan.update_connections,
                    use_wrk=plan.use_wrk,
                )[system]
            )
            during, took, failed_updates = _under_updates(plan, server, server.url + path, body, update)
            # An update that answered 2xx must also be what runs now: check the last template is served.
            answer = httpx.post(server.url + path, json=body, timeout=30)
            if f"({plan.updates})" not in answer.text:
                notes.append(
                    f"{system}: after the updates, a run did not answer the last template: {answer.text[:200]}"
                )
        ratio = during.p99_ms / steady.p99_ms if steady.p99_ms else 0.0
        rows.append(
            [
                system,
                str(plan.updates - failed_updates),
                ms(median(took) * 1000),
                num(during.requests),
                str(during.non2xx + during.errors),
                ms(steady.p99_ms),
                ms(during.p99_ms),
                f"{ratio:.2f}",
                num(during.rps),
                num(steady.rps),
            ]
        )
        headline[f"{system}: failed runs during {plan.updates} updates"] = str(during.non2xx + during.errors)
        headline[f"{system}: p99 during updates / steady p99"] = f"{ratio:.2f}"
        plot["steady"][system] = steady.p99_ms
        plot["during updates"][system] = during.p99_ms
    return Section(
        part="3-updates",
        title="3. Updates under load",
        text=(
            f"{plan.updates} replacements of the PromptBuilder pipeline, one after the other, while "
            f"{plan.update_connections} connections run it. Each replacement changes the template, so each is a new "
            "revision (Stackyard: `PUT /pipelines/trivial`; Hayhooks: `POST /deploy-yaml` with `overwrite: true`). "
            "Targets: 0 failed runs, p99 during the updates at most 2x the steady p99."
        ),
        tables=[
            Table(
                [
                    "server",
                    "updates applied",
                    "update ms (p50)",
                    "runs during updates",
                    "failed runs",
                    "steady p99 ms",
                    "p99 during updates ms",
                    "ratio",
                    "req/s during",
                    "req/s steady",
                ],
                rows,
            )
        ],
        plots=[Plot("updates-latency.png", "p99 latency: steady vs during updates", "ms", plot)],
        notes=notes,
        headline=headline,
    )
