"""The cell pool on its own, with real cells: many runs per cell, the deadline policy (cancel, recycle), retiring,
crashes, placement, and builds made before a swap and reused across revisions."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from stackyard.errors import InvalidDefinition, PipelineCrashing, RunFailed
from stackyard.serving.cell_pool import GRACE, CellPool, WorkTimedOut
from stackyard.serving.cells import CellState
from stackyard.settings import Settings
from stackyard.wire.build_info import BuildInfo
from stackyard.wire.jobs import Run
from stackyard.wire.replies import Done, Failed
from tests.components import GATES, alive, warm_ups
from tests.waiting import until
from tests.yamls import component_yaml, gate_yaml, prompt_yaml

pytestmark = pytest.mark.process
REPO = Path(__file__).resolve().parent.parent


def settings_for(tmp_path: Path, **update: Any) -> Settings:
    return Settings(
        store_url=f"sqlite:///{tmp_path}/yard.db", extra_allowed_modules=["tests.components"], run_workers=1, **update
    )


@pytest.fixture
async def pool(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[CellPool]:
    update = getattr(request, "param", {})
    cells = CellPool.for_settings(settings_for(tmp_path, **update))
    await cells.start()
    try:
        yield cells
    finally:
        await cells.close()


async def run(pool: CellPool, info: BuildInfo, data: dict[str, Any], seconds: float = 30, **kw: Any) -> Any:
    answer = await pool.call(info, Run(data), deadline=time.monotonic() + seconds, **kw)
    if isinstance(answer, Failed):
        raise answer.problem.error()
    assert isinstance(answer, Done)
    return json.loads(answer.value)


async def test_one_cell_serves_many_sync_runs_at_once(pool: CellPool) -> None:
    # Ten runs that each wait until all ten have arrived: they meet only if the one cell runs them together.
    info = await pool.prepare("meet", component_yaml("Rendezvous", key="sync-10", count=10))
    results = await asyncio.gather(*(run(pool, info, {"text": str(n)}) for n in range(10)))
    pids = {result["work"]["text"].split()[-1] for result in results}
    assert len(pids) == 1
    assert [cell.name for cell in pool.cells_of("shared")] == [pool.cells_of("shared")[0].name]


@pytest.mark.parametrize("pool", [{"cell_threads": 2}], indirect=True)
async def test_async_runs_wait_on_the_cells_loop_and_hold_no_thread(pool: CellPool) -> None:
    # Two threads, twenty runs that wait for each other: only runs awaited on the loop can all be under way.
    info = await pool.prepare("meet", component_yaml("AsyncRendezvous", key="async-20", count=20))
    assert info.runs_async
    results = await asyncio.gather(*(run(pool, info, {"text": str(n)}) for n in range(20)))
    assert len(results) == 20


@pytest.mark.parametrize("pool", [{"cell_threads": 2}], indirect=True)
async def test_async_streams_wait_on_the_cells_loop_and_hold_no_thread(pool: CellPool) -> None:
    # Two threads, twelve streams that wait for each other after their first chunk.
    info = await pool.prepare("chat", component_yaml("AsyncStreamingRendezvous", key="streams-12", count=12))
    assert info.runs_async
    chunks: list[list[bytes]] = [[] for _ in range(12)]
    results = await asyncio.gather(
        *(
            pool.call(
                info, Run({"question": str(n)}, stream=True), deadline=time.monotonic() + 30, on_chunk=mine.append
            )
            for n, mine in enumerate(chunks)
        )
    )
    assert all(isinstance(result, Done) for result in results)
    assert [json.loads(mine[0])["content"] for mine in chunks] == [f"{n} " for n in range(12)]


@pytest.mark.parametrize("pool", [{"cell_threads": 2}], indirect=True)
async def test_sync_runs_beyond_the_threads_wait_their_turn_and_another_pipeline_is_not_starved(
    pool: CellPool,
) -> None:
    # Pipeline `busy` fills both threads and queues more; pipeline `other` gets the next free thread, not the
    # last one after every queued `busy` run.
    busy = await pool.prepare("busy", gate_yaml("fair-busy", "busy"))
    other = await pool.prepare("other", prompt_yaml())
    entered, release = GATES["fair-busy"]
    queued = [asyncio.create_task(run(pool, busy, {"text": str(n)})) for n in range(6)]
    await until(entered.is_set, "a busy run holds a thread")
    second = asyncio.create_task(run(pool, other, {"name": "Ann"}))
    release.set()
    assert (await second)["prompt"]["prompt"] == "Hello Ann"
    assert len(await asyncio.gather(*queued)) == 6


async def test_a_run_past_its_deadline_that_cannot_stop_recycles_its_cell_and_the_others_finish(
    pool: CellPool,
) -> None:
    slow = await pool.prepare("slow", component_yaml("Spin"))  # never returns: only ending its cell stops it
    held = await pool.prepare("held", gate_yaml("recycle-held", "held"))
    (cell,) = pool.cells_of("shared")
    entered, release = GATES["recycle-held"]
    other = asyncio.create_task(run(pool, held, {"text": "t"}))
    await until(entered.is_set, "the other run is under way")
    with pytest.raises(WorkTimedOut):
        await run(pool, slow, {"text": "t"}, seconds=0.3)
    await until(lambda: cell.state is CellState.DRAINING, "the cell is recycled")
    await until(lambda: any(c.state is CellState.SERVING for c in pool.cells_of("shared")), "a replacement serves")
    assert alive(cell.pid)  # it still has the other run to finish
    release.set()
    assert (await other)["gate"]["text"] == "held: t"
    await until(lambda: not alive(cell.pid), "the old cell ends once its other run is done")
    replacement = [c for c in pool.cells_of("shared") if c is not cell]
    assert len(replacement) == 1
    assert replacement[0].keys >= {slow.key, held.key}  # built before it served
    assert (await run(pool, held, {"text": "u"}))["gate"]["text"] == "held: u"


@pytest.mark.parametrize("pool", [{"run_cpu_seconds": 0.3}], indirect=True)
async def test_a_run_over_its_cpu_time_fails_and_its_cell_retires(pool: CellPool) -> None:
    info = await pool.prepare("spin", component_yaml("Spin"))
    greet = await pool.prepare("greet", prompt_yaml())
    (cell,) = pool.cells_of("shared")
    with pytest.raises(RunFailed, match="more CPU time than a request may"):
        await run(pool, info, {"text": "t"})
    await until(lambda: not alive(cell.pid), "the cell that could not stop the run ends")
    assert (await run(pool, greet, {"name": "Ann"}))["prompt"]["prompt"] == "Hello Ann"


@pytest.mark.parametrize("pool", [{"worker_memory_bytes": 3 * 1024**3}], indirect=True)
async def test_a_run_out_of_memory_retires_its_cell_and_the_next_run_of_another_pipeline_succeeds(
    pool: CellPool,
) -> None:
    hungry = await pool.prepare("hungry", component_yaml("Allocate", size=8 * 1024**3))
    greet = await pool.prepare("greet", prompt_yaml())
    (cell,) = pool.cells_of("shared")
    with pytest.raises(RunFailed, match="ran out of memory"):
        await run(pool, hungry, {"text": "t"})
    await until(lambda: not alive(cell.pid), "the cell that ran out of memory ends")
    results = await asyncio.gather(*(run(pool, greet, {"name": str(n)}) for n in range(10)))
    assert [result["prompt"]["prompt"] for result in results] == [f"Hello {n}" for n in range(10)]


async def test_a_pipeline_that_keeps_crashing_its_cells_is_refused_and_the_others_run_on(pool: CellPool) -> None:
    crash = await pool.prepare("crash", component_yaml("Crash"))
    greet = await pool.prepare("greet", prompt_yaml())
    for _ in range(3):
        with pytest.raises(RunFailed, match="cell doing the work ended"):
            await run(pool, crash, {"text": "t"}, pipeline="crash")
        await pool.replaced()
    with pytest.raises(PipelineCrashing):
        await run(pool, crash, {"text": "t"}, pipeline="crash")
    assert (await run(pool, greet, {"name": "Ann"}, pipeline="greet"))["prompt"]["prompt"] == "Hello Ann"


def in_memory(*indexes: str) -> str:
    """A BM25 retriever on each of `indexes`, each with an in-memory store of its own."""
    retrievers = "".join(
        f"""  retriever-{index}:
    type: haystack.components.retrievers.in_memory.bm25_retriever.InMemoryBM25Retriever
    init_parameters:
      document_store:
        type: haystack.document_stores.in_memory.document_store.InMemoryDocumentStore
        init_parameters: {{index: {index}}}
"""
        for index in indexes
    )
    return f"components:\n{retrievers}connections: []\n"


async def test_placement_small_isolated_and_in_memory_pipelines(pool: CellPool) -> None:
    await pool.prepare("small", prompt_yaml())
    isolated = prompt_yaml().replace("connections: []", "connections: []\nmetadata:\n  serving: {processes: 2}")
    await pool.prepare("alone", isolated)
    await pool.prepare("docs", in_memory("a"))
    assert pool.placed == {"small": "shared", "alone": "pipeline:alone", "docs": "indexes:a"}
    assert len(pool.cells_of("pipeline:alone")) == 2
    assert len(pool.cells_of("indexes:a")) == 1
    two = in_memory("a", "b")
    with pytest.raises(InvalidDefinition, match="overlap"):
        await pool.prepare("bridge", two)
    assert "bridge" not in pool.placed
    assert "indexes:a,b" not in pool.groups


async def test_an_update_that_keeps_a_component_reuses_its_warm_state_and_one_that_changes_it_warms_once(
    pool: CellPool,
) -> None:
    def warmed(tag: str, key: str = "reuse") -> str:
        return f"""components:
  model:
    type: tests.components.Warmed
    init_parameters: {{key: {key}}}
  prompt:
    type: haystack.components.builders.prompt_builder.PromptBuilder
    init_parameters: {{template: "{tag} {{{{ text }}}}"}}
connections: []
"""

    first = await pool.prepare("model", warmed("one"))
    serving = {str(cell.pid) for cell in pool.cells_of(pool.placed["model"])}
    # Once in each serving cell (and once in the cell a new pipeline is first built in, to learn where it goes).
    assert sorted(pid for pid in warm_ups("reuse") if pid in serving) == sorted(serving)
    before = len(warm_ups("reuse"))
    second = await pool.prepare("model", warmed("two"))  # the prompt changed, the model did not
    assert len(warm_ups("reuse")) == before
    assert (await run(pool, second, {"text": "x"}))["model"]["text"].startswith("x model-reuse")
    pool.forget(first.key)
    assert (await run(pool, second, {"text": "y"}))["prompt"]["prompt"] == "two y"
    await pool.prepare("model", warmed("two", key="other"))  # the model changed: loaded once per serving cell
    assert sorted(warm_ups("other")) == sorted(serving)


async def test_cells_end_when_the_server_is_gone(tmp_path: Path) -> None:
    # The cells read their socket in a thread of their own: a server that dies (SIGKILL, no goodbye) takes them
    # with it, busy or not.
    script = tmp_path / "serve.py"
    script.write_text(
        "import asyncio, sys, time\n"
        "from stackyard.serving.cell_pool import CellPool\n"
        "from stackyard.settings import Settings\n"
        "from stackyard.wire.jobs import Run\n"
        "async def main():\n"
        f"    pool = CellPool.for_settings(Settings(store_url='sqlite:///{tmp_path}/y.db', run_workers=2,"
        " extra_allowed_modules=['tests.components']))\n"
        "    await pool.start()\n"
        "    info = await pool.prepare('spin', sys.argv[1])\n"
        "    asyncio.ensure_future(pool.call(info, Run({'text': 't'}), deadline=time.monotonic() + 600))\n"
        "    print(' '.join(str(c.pid) for c in pool.cells_of('shared')), flush=True)\n"
        "    await asyncio.sleep(600)\n"
        "if __name__ == '__main__':\n"
        "    asyncio.run(main())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = await asyncio.create_subprocess_exec(
        sys.executable, str(script), component_yaml("Spin"), stdout=asyncio.subprocess.PIPE, env=env
    )
    assert server.stdout is not None
    line = await asyncio.wait_for(server.stdout.readline(), 60)
    pids = [int(pid) for pid in line.split()]
    assert len(pids) == 2
    assert all(alive(pid) for pid in pids)
    server.send_signal(signal.SIGKILL)
    await server.wait()
    await until(lambda: not any(alive(pid) for pid in pids), "every cell has ended", within=1.5)


def fork_servers() -> list[int]:
    """The fork servers this process started (its children running multiprocessing's fork server)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if parent == os.getpid() and b"multiprocessing.forkserver" in command:
            found.append(int(stat.parent.name))
    return found


async def test_after_the_fork_server_is_killed_a_run_past_its_deadline_still_ends_its_cell(pool: CellPool) -> None:
    info = await pool.prepare("spin", component_yaml("Spin"))
    [first] = fork_servers()
    os.kill(first, signal.SIGKILL)
    # The cells it forked serve on; the next one comes from a new fork server, which multiprocessing starts.
    [old] = pool.cells_of("shared")
    old.kill()
    await until(
        lambda: any(c.state is CellState.SERVING for c in pool.cells_of("shared") if c is not old), "a new cell"
    )
    assert fork_servers() not in ([], [first])
    [cell] = [c for c in pool.cells_of("shared") if c is not old]
    with pytest.raises(WorkTimedOut):
        await pool.call(info, Run({"text": "t"}), deadline=time.monotonic() + 0.3)
    # A spinning thread cannot be stopped: past its grace the cell is ended, by its pidfd, whatever multiprocessing
    # thinks of the processes of a fork server it no longer knows.
    await until(lambda: not alive(cell.pid), "the cell of the overdue run has ended", within=GRACE + 2)


async def test_a_run_sent_to_a_cell_that_stopped_answering_is_answered_by_another(pool: CellPool) -> None:
    info = await pool.prepare("greet", prompt_yaml())
    [stuck] = pool.cells_of("shared")
    # As a call that keeps Python's lock would: the cell reads nothing and beats nothing.
    os.kill(stuck.pid, signal.SIGSTOP)
    try:
        result = await run(pool, info, {"name": "Ann"})
        assert result["prompt"]["prompt"] == "Hello Ann"  # by the replacement: the stuck cell never took the job
        assert stuck.state is not CellState.SERVING
        await until(lambda: not alive(stuck.pid), "the stuck cell was ended", within=10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(stuck.pid, signal.SIGCONT)
