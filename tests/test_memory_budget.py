"""One memory budget for the server and its cells (`serving/memory.py`), with real processes: what the host gives,
the cell holding the most ended when all of them pass it, and the server refusing runs when it holds too much."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from stackyard.errors import RunFailed
from stackyard.serving.cell_pool import CellPool
from stackyard.serving.memory import MemoryWatch, host_budget, resident_bytes
from stackyard.settings import Settings
from stackyard.wire.jobs import Run
from stackyard.wire.replies import Done
from tests.components import Signal
from tests.yamls import prompt_yaml

pytestmark = pytest.mark.process
HOARD = 600 * 1024**2


def test_the_budget_is_the_hosts_memory_at_most_shared_between_the_server_processes() -> None:
    total = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0]) * 1024
    assert 0 < host_budget() <= total
    assert host_budget(4) == host_budget() // 4


def test_the_watch_ends_the_largest_cell_only_past_the_budget() -> None:
    me = os.getpid()
    size = resident_bytes(me)
    assert size is not None
    assert resident_bytes(2**22 + 12345) is None  # no such process
    calm = MemoryWatch(budget=size * 100).judge(me, [os.getppid()])
    assert (calm.end, calm.refuse) == (None, False)
    tight = MemoryWatch(budget=size).judge(me, [me, os.getppid()])
    assert tight.refuse  # this process alone holds more than a quarter of the budget
    assert tight.end == max((me, os.getppid()), key=lambda pid: resident_bytes(pid) or 0)


async def test_past_the_budget_the_cell_holding_the_most_is_ended_and_the_others_serve_on(tmp_path: Path) -> None:
    settings = Settings(
        store_url=f"sqlite:///{tmp_path}/yard.db", extra_allowed_modules=["tests.components"], run_workers=2
    )
    pool = CellPool.for_settings(settings)
    await pool.start()
    try:
        hoard = await pool.prepare("hoard", hoarding("budget"))
        other = await pool.prepare("other", prompt_yaml())
        # The budget: what the server and its cells hold now, and less than the hoard on top.
        held = pool.memory.judge(os.getpid(), pool.pids()).total
        pool.memory = MemoryWatch(budget=int((held + HOARD // 2) / 0.95))
        with pytest.raises(RunFailed, match="memory budget"):  # its cell was ended, and says why
            await pool.call(hoard, Run({"text": "t"}), deadline=time.monotonic() + 30)
        reply = await pool.call(other, Run({"name": "Ann"}), deadline=time.monotonic() + 30)
        assert isinstance(reply, Done)
        assert json.loads(reply.value)["prompt"]["prompt"] == "Hello Ann"
    finally:
        Signal("budget").set()
        await pool.close()


def hoarding(key: str) -> str:
    return f"""components:
  hoard:
    type: tests.components.Hoard
    init_parameters: {{size: {HOARD}, key: {key}}}
connections: []
"""


def test_a_server_holding_a_quarter_of_its_budget_refuses_new_runs_and_says_why(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from stackyard.api import create_app
    from tests.conftest import yard
    from tests.waiting import wait_until

    settings = Settings(store_url=f"sqlite:///{tmp_path}/yard.db", run_workers=1)
    with TestClient(create_app(settings)) as client:
        assert client.put(
            "/pipelines/a", content=prompt_yaml(), headers={"Content-Type": "application/yaml"}
        ).is_success
        state = yard(client.app)  # type: ignore[arg-type]
        state.pool.memory = MemoryWatch(budget=(resident_bytes(os.getpid()) or 0) * 2)  # this process: half of it
        wait_until(lambda: state.pool.short_of_memory, "the watch has weighed the server")
        answer = client.post("/pipelines/a/run", json={"data": {"name": "Ann"}})
        assert answer.status_code == 503, answer.text
        assert "memory" in answer.json()["detail"]
        assert answer.headers["Retry-After"] == "1"
