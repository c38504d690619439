"""One tenant's pipelines cannot harm another's, in a real server process: the attacks of a `run@faq-*` caller on
the examples as deployed, each tried for real.

- Ending one cell loses only the in-memory documents of the indexes it holds.
- An 8 MB query to the example query pipeline is refused before it runs (`metadata.serving.max_input_chars`).
- A 400 MB answer is refused in the cell, and `/healthz` answers at once meanwhile.
- Another tenant's long but in-time runs do not hold a run past its deadline.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.components import alive
from tests.conftest import REPO
from tests.documents import on_index
from tests.process.server import Server, running
from tests.waiting import wait_until
from tests.yamls import component_yaml

pytestmark = pytest.mark.process

YAML = {"Content-Type": "application/yaml"}
INDEXING = (REPO / "examples/pipelines/indexing.yml").read_text()
QUERY = (REPO / "examples/pipelines/query.yml").read_text()
GREET = (REPO / "examples/pipelines/greet.yml").read_text()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"STACKYARD_RUN_TIMEOUT": "5", "STACKYARD_RUN_WORKERS": "1"}
    with running(tmp_path_factory.mktemp("tenants"), env=env) as started:
        with started.client() as http:
            for tenant in ("a", "b"):
                for kind, yaml_text in {"index": INDEXING, "query": QUERY}.items():
                    answer = http.put(
                        f"/pipelines/faq-{tenant}-{kind}", content=on_index(yaml_text, tenant), headers=YAML
                    )
                    assert answer.is_success, answer.text
            assert http.put("/pipelines/greet", content=GREET, headers=YAML).is_success
        yield started


def index(http: httpx.Client, tenant: str, text: str) -> None:
    files = {"files": (f"{tenant}.txt", text.encode(), "text/plain")}
    answer = http.post(f"/pipelines/faq-{tenant}-index/files", files=files)
    assert answer.status_code == 200, answer.text


def found(http: httpx.Client, tenant: str) -> list[str]:
    answer = http.post(f"/pipelines/faq-{tenant}-query/documents/search", json={})
    assert answer.status_code == 200, answer.text
    return [document["content"] for document in answer.json()["documents"]]


def cell_of(http: httpx.Client, group: str) -> int:
    [pid] = [cell["pid"] for cell in http.get("/status").json()["cells"] if cell["group"] == group]
    return int(pid)


def test_ending_one_cell_loses_only_the_documents_of_its_own_index(server: Server) -> None:
    with server.client() as http:
        index(http, "a", "Tenant A's handbook.")
        index(http, "b", "Tenant B's handbook.")
        cells = {cell["group"]: cell["pipelines"] for cell in http.get("/status").json()["cells"]}
        assert cells["indexes:a"] == ["faq-a-index", "faq-a-query"]
        assert cells["indexes:b"] == ["faq-b-index", "faq-b-query"]
        doomed = cell_of(http, "indexes:a")
        os.kill(doomed, signal.SIGKILL)  # as the kernel's OOM killer or a crash would
        wait_until(lambda: not alive(doomed), "the cell of index a has ended")
        wait_until(lambda: cell_of_or_none(http, "indexes:a") not in (None, doomed), "index a has a new cell")
        assert found(http, "b") == ["Tenant B's handbook."]  # another tenant's documents are untouched
        assert found(http, "a") == []  # what the ended cell held is gone, as after a restart
        index(http, "a", "Tenant A's handbook, again.")
        assert found(http, "a") == ["Tenant A's handbook, again."]


def cell_of_or_none(http: httpx.Client, group: str) -> int | None:
    pids = [cell["pid"] for cell in http.get("/status").json()["cells"] if cell["group"] == group]
    serving = [cell["state"] for cell in http.get("/status").json()["cells"] if cell["group"] == group]
    return int(pids[0]) if len(pids) == 1 and serving == ["serving"] else None


def test_an_eight_megabyte_query_to_the_example_is_refused_before_it_runs(server: Server) -> None:
    with server.client() as http:
        answer = http.post("/pipelines/faq-a-query/run", json={"data": {"query": "q" * 8_000_000}})
        assert answer.status_code == 422, answer.text
        assert answer.json()["rule"] == "max-input-chars"
        assert http.post("/pipelines/faq-b-query/run", json={"data": {"query": "handbook"}}).status_code == 200


def test_a_huge_answer_is_refused_in_the_cell_and_the_server_answers_meanwhile(server: Server) -> None:
    with server.client() as http, ThreadPoolExecutor(1) as caller:
        assert http.put("/pipelines/huge", content=component_yaml("Big", size=400_000_000), headers=YAML).is_success
        pending = caller.submit(http.post, "/pipelines/huge/run", json={"data": {"text": "x"}})
        slowest = 0.0
        while not pending.done():
            began = time.perf_counter()
            assert http.get("/healthz").status_code == 200
            slowest = max(slowest, time.perf_counter() - began)
        answer = pending.result()
        assert answer.status_code == 422, answer.text
        assert answer.json()["rule"] == "max-result-bytes"
        # Nothing of the answer crossed to the server, so its event loop was never held up by it.
        assert slowest < 0.5, slowest


def test_another_tenants_long_runs_in_time_do_not_hold_a_run_past_its_deadline(server: Server) -> None:
    with server.client() as http, ThreadPoolExecutor(8) as callers:
        spin = component_yaml("Spin", seconds=3)
        assert http.put("/pipelines/long", content=spin, headers=YAML).is_success
        long_runs = [callers.submit(http.post, "/pipelines/long/run", json={"data": {"text": "t"}}) for _ in range(6)]
        wait_until(lambda: in_flight(http, "long") == 6, "the six long runs are under way")
        # The shared cell runs all six, and a seventh run of another pipeline among them, within its deadline.
        greeted = http.post("/pipelines/greet/run", json={"data": {"name": "Ada"}})
        assert greeted.status_code == 200, greeted.text
        assert all(run.result().status_code == 200 for run in long_runs)


def in_flight(http: httpx.Client, pipeline: str) -> float:
    for line in http.get("/metrics").text.splitlines():
        if line.startswith(f'stackyard_runs_in_flight{{pipeline="{pipeline}"}} '):
            return float(line.split()[-1])
    return 0.0
