"""Component code runs in cells, so no run and no build can hold the server: real server processes.

Each test sends work that never ends on its own (a backtracking regex that holds Python's lock, a component that
spins, a definition that takes for ever to build) and checks what the issue promised: `/healthz` answers within a
second meanwhile, other pipelines keep serving, the run or build is stopped at its deadline (a run that cannot
start by then is a 503, never a late answer), and a pipeline never has more runs in flight than its concurrency
limit, timed out or not.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.components import Signal, occupying
from tests.conftest import REPO
from tests.process.server import Server, running
from tests.waiting import wait_until
from tests.yamls import component_yaml

YAML = {"Content-Type": "application/yaml"}
RUN_TIMEOUT = 3.0
ENV = {
    "STACKYARD_RUN_TIMEOUT": str(RUN_TIMEOUT),
    "STACKYARD_BUILD_TIMEOUT": "3",
    "STACKYARD_MAX_CONCURRENT_RUNS": "2",
    "STACKYARD_RUN_WORKERS": "2",
}
BACKTRACKING = """components:
  extract:
    type: haystack.components.extractors.regex_text_extractor.RegexTextExtractor
    init_parameters: {regex_pattern: '^((a+)+)$'}
connections: []
"""
EVIL_TEXT = "a" * 40 + "!"  # (a+)+ tries every split of 40 a's before it gives up: longer than the universe lasts


SPIN = component_yaml("Spin", seconds=None)
GREET = (REPO / "examples/pipelines/greet.yml").read_text()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(tmp_path_factory.mktemp("stoppable"), env=ENV) as started:
        with started.client() as http:
            for name, yaml in {"greet": GREET, "regex": BACKTRACKING, "spin": SPIN}.items():
                answer = http.put(f"/pipelines/{name}", content=yaml, headers=YAML)
                assert answer.is_success, answer.text
        yield started


def health_latency(http: httpx.Client) -> float:
    started = time.perf_counter()
    answer = http.get("/healthz")
    assert answer.status_code == 200
    return time.perf_counter() - started


def assert_server_answers_meanwhile(http: httpx.Client, pending: list[Future[httpx.Response]]) -> None:
    """While `pending` work goes on, /healthz answers within a second and another pipeline runs."""
    checks = 0
    while not all(future.done() for future in pending) or checks < 3:
        assert health_latency(http) < 1.0
        greeted = http.post("/pipelines/greet/run", json={"data": {"name": "Ada"}})
        assert greeted.status_code == 200, greeted.text
        checks += 1


def test_healthz_and_other_pipelines_answer_while_a_backtracking_regex_runs_and_it_is_stopped_at_its_timeout(
    server: Server,
) -> None:
    with server.client() as http, ThreadPoolExecutor(4) as callers:
        started = time.perf_counter()
        runs = [
            callers.submit(http.post, "/pipelines/regex/run", json={"data": {"text_or_messages": EVIL_TEXT}})
            for _ in range(3)
        ]
        # The regex keeps Python's lock, so nothing else moves in its cell: each of the two cells it holds falls
        # silent, and is replaced (a new cell serves the shared pipelines) while it drains.
        wait_until(lambda: metric(http, 'stackyard_cells{state="draining"}') == 2, "the stalled cells were replaced")
        assert_server_answers_meanwhile(http, runs)
        answers = [run.result() for run in runs]
        # Two ran, two at a time, and were stopped at their deadline; the third waited for a slot past its own.
        assert sorted(answer.status_code for answer in answers) == [503, 504, 504], [a.text for a in answers]
        for answer in answers:
            assert ("stopped" if answer.status_code == 504 else "did not start") in answer.json()["detail"]
        assert time.perf_counter() - started < 2 * RUN_TIMEOUT  # the deadline, not the regex's lifetime


@pytest.mark.parametrize(
    "yaml",
    [
        component_yaml("SlowToBuild", seconds=600),
        """components:
  prompt:
    type: haystack.components.builders.prompt_builder.PromptBuilder
    init_parameters: {template: '{{ 7 ** 10000000 }}'}
connections: []
""",
    ],
    ids=["slow-component", "jinja-constant-folding"],
)
def test_healthz_answers_while_a_hostile_definition_is_built_and_the_build_is_refused_in_time(
    server: Server, yaml: str
) -> None:
    with server.client() as http, ThreadPoolExecutor(1) as deployer:
        before = http.get("/pipelines/greet").json()["revision"]
        put = deployer.submit(http.put, "/pipelines/greet", content=yaml, headers=YAML)
        assert_server_answers_meanwhile(http, [put])
        answer = put.result()
        assert answer.status_code == 422, answer.text
        assert http.get("/pipelines/greet").json()["revision"] == before  # the old revision serves on
        assert http.post("/pipelines/greet/run", json={"data": {"name": "Ada"}}).status_code == 200


def test_runaway_runs_that_time_out_leave_the_capacity_of_other_pipelines(server: Server) -> None:
    with server.client() as http, ThreadPoolExecutor(12) as callers:
        runaway = [callers.submit(http.post, "/pipelines/spin/run", json={"data": {"text": "t"}}) for _ in range(8)]
        assert_server_answers_meanwhile(http, runaway)
        # Two ran and were stopped at their deadline; the six queued behind them never started in time.
        assert sorted(run.result().status_code for run in runaway) == [503] * 6 + [504] * 2
        for _ in range(5):  # and after: nothing is left running
            assert http.post("/pipelines/greet/run", json={"data": {"name": "Ada"}}).status_code == 200
        wait_until(lambda: metric(http, "stackyard_cell_jobs") == 0, "no job is left in any cell", timeout=10)


def test_the_concurrency_limit_bounds_the_runs_a_pipeline_has_in_flight_timed_out_or_not(
    server: Server, tmp_path: Path
) -> None:
    key = f"occupy-{time.monotonic_ns()}"
    with server.client() as http, ThreadPoolExecutor(10) as callers:
        assert http.put("/pipelines/occupy", content=component_yaml("Occupy", key=key), headers=YAML).is_success
        seen: list[float] = []
        runs = [callers.submit(http.post, "/pipelines/occupy/run", json={"data": {"text": "t"}}) for _ in range(9)]
        # Never released: each run that started passes its deadline, and its cell is ended. Watch the runs in flight
        # meanwhile: a timed-out run counts until its work has really stopped.
        while not all(run.done() for run in runs):
            seen.append(in_flight(http, "occupy"))
        assert max(seen) == 2  # the limit, reached and never passed
        assert all(run.result().status_code in (504, 503) for run in runs)
        wait_until(lambda: not occupying(key), "the cells holding the runs were ended")
    Signal(key).set()


def test_a_run_past_the_cpu_budget_fails_clearly_and_its_cell_is_replaced(tmp_path: Path) -> None:
    env = {**ENV, "STACKYARD_RUN_CPU_SECONDS": "1", "STACKYARD_RUN_TIMEOUT": "60"}
    with running(tmp_path, env=env) as limited, limited.client() as http:
        assert http.put("/pipelines/spin", content=SPIN, headers=YAML).is_success
        started = time.perf_counter()
        answer = http.post("/pipelines/spin/run", json={"data": {"text": "t"}})
        assert answer.status_code == 500, answer.text
        assert "CPU time" in answer.json()["detail"]
        assert time.perf_counter() - started < 30  # the budget ended it, not the run timeout
        assert http.put("/pipelines/greet", content=GREET, headers=YAML).is_success
        assert http.post("/pipelines/greet/run", json={"data": {"name": "Ada"}}).status_code == 200


def test_a_run_past_the_memory_limit_fails_clearly_and_its_cell_is_replaced(tmp_path: Path) -> None:
    env = {**ENV, "STACKYARD_WORKER_MEMORY_BYTES": str(2 * 1024**3)}
    with running(tmp_path, env=env) as limited, limited.client() as http:
        greedy = component_yaml("Allocate", size=4 * 1024**3)
        assert http.put("/pipelines/greedy", content=greedy, headers=YAML).is_success
        answer = http.post("/pipelines/greedy/run", json={"data": {"text": "t"}})
        assert answer.status_code == 500, answer.text
        assert "out of memory" in answer.json()["detail"]
        assert http.put("/pipelines/greet", content=GREET, headers=YAML).is_success
        assert http.post("/pipelines/greet/run", json={"data": {"name": "Ada"}}).status_code == 200
        assert http.post("/pipelines/greedy/run", json={"data": {"text": "t"}}).status_code == 500  # again, cleanly


def in_flight(http: httpx.Client, pipeline: str) -> float:
    return metric(http, f'stackyard_runs_in_flight{{pipeline="{pipeline}"}}')


def metric(http: httpx.Client, series: str) -> float:
    for line in http.get("/metrics").text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


def test_validate_simulations_are_stopped_at_their_timeouts_and_hold_nothing_else_meanwhile(server: Server) -> None:
    body = {"yaml": SPIN, "sample_input": {"text": "t"}}
    with server.client() as http, ThreadPoolExecutor(10) as callers:
        started = time.perf_counter()
        checks = [callers.submit(http.post, "/validate", json=body) for _ in range(10)]
        while not all(check.done() for check in checks):
            for path in ("/pipelines", "/metrics", "/healthz"):
                began = time.perf_counter()
                assert http.get(path).status_code == 200
                assert time.perf_counter() - began < 1.0, path
        for check in checks:
            answer = check.result()
            assert answer.status_code == 200, answer.text
            assert answer.json()["valid"] is False
            assert "took longer than" in answer.json()["problems"][0]["message"]
        # Ten simulations, at most four at once, each in a throwaway cell stopped at build + run timeout: a few
        # rounds, not forever.
        assert time.perf_counter() - started < 6 * (3 + RUN_TIMEOUT)
