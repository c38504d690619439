"""A real server with two workers: one scrape answers the sum over both, and the metrics folder is its own."""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.metrics_text import sample
from tests.process.server import start_server
from tests.waiting import wait_until
from tests.yamls import prompt_yaml

pytestmark = pytest.mark.process
YAML = {"Content-Type": "application/yaml"}
RUNS_PER_WORKER = 3


def test_one_scrape_sums_the_runs_of_both_workers(tmp_path: Path) -> None:
    # A temporary folder of its own, to see the metrics folder made and removed there. A short one: the worker
    # pool's fork server listens on a socket in it, and a socket's path may not pass 107 bytes (pytest's own
    # temporary paths, numbered by run, grow past that).
    temp = Path(tempfile.mkdtemp(prefix="sy-"))
    env = {"TMPDIR": str(temp), "STACKYARD_SYNC_INTERVAL": "0.1"}
    server = start_server(tmp_path, "--store", f"sqlite:///{tmp_path}/yard.db", "--workers", "2", env=env)
    try:
        [metrics_dir] = list(temp.glob("stackyard-metrics-*"))
        with server.client() as http:
            put = http.put("/pipelines/greet", content=prompt_yaml(), headers=YAML)
            assert put.status_code == 201
            generation = int(put.headers["X-Stackyard-Generation"])

        # A fresh connection per request lets the kernel hand requests to either worker. A worker that has not
        # converged yet answers 404 and counts nothing; run until each worker has answered a few runs.
        answered: Counter[str] = Counter()

        def both_workers_ran() -> bool:
            answer = httpx.post(f"{server.url}/pipelines/greet/run", json={"data": {"name": "x"}}, timeout=30)
            if answer.status_code == 200:
                answered[answer.headers["X-Stackyard-Replica"]] += 1
            return len(answered) == 2 and min(answered.values()) >= RUNS_PER_WORKER

        wait_until(both_workers_ran, "both workers served runs", timeout=60)
        total = sum(answered.values())

        scraped_by: dict[str, str] = {}

        def both_workers_scraped() -> bool:
            answer = httpx.get(f"{server.url}/metrics", timeout=30)
            scraped_by[answer.headers["X-Stackyard-Replica"]] = answer.text
            return len(scraped_by) == 2

        wait_until(both_workers_scraped, "both workers answered a scrape", timeout=60)
        for text in scraped_by.values():
            assert sample(text, "stackyard_runs_total", pipeline="greet", revision="1", outcome="ok") == total
            assert sample(text, "stackyard_run_duration_seconds_count", pipeline="greet", revision="1") == total
            count = sample(text, "stackyard_component_duration_seconds_count", pipeline="greet", component="prompt")
            assert count == total
            assert sample(text, "stackyard_runs_in_flight", pipeline="greet") == 0
            # Only the worker that took the PUT applied it through the API; the other converged through the store.
            assert sample(text, "stackyard_changes_total", action="deploy", outcome="applied") == 1
        wait_until(
            lambda: sample(httpx.get(f"{server.url}/metrics").text, "stackyard_store_generation_applied") == generation,
            "the lowest generation over the workers reached the PUT's",
        )
        assert any(metrics_dir.iterdir()), "the workers write their values into the server's metrics folder"
    finally:
        server.stop()
    try:
        assert not metrics_dir.exists(), "the metrics folder goes away with the server"
    finally:
        shutil.rmtree(temp, ignore_errors=True)
