"""The worker pool on its own, with real worker processes: the moments between a request's parts that a test
through the app cannot place exactly."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stackyard.errors import RunFailed
from stackyard.serving.messages import Answer
from stackyard.serving.pool import WorkerPool
from stackyard.serving.runner import run_build
from stackyard.serving.streams import stream_build
from stackyard.settings import Settings
from tests.api.test_streaming import CHAT, QUESTION
from tests.components import over_cpu_budget
from tests.yamls import prompt_yaml

pytestmark = pytest.mark.process


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[WorkerPool]:
    settings = Settings(
        store_url=f"sqlite:///{tmp_path}/yard.db",
        extra_allowed_modules=["tests.components"],
        run_workers=1,
        max_run_workers=1,
    )
    workers = WorkerPool.for_settings(settings)
    await workers.start()
    try:
        yield workers
    finally:
        await workers.close()


async def test_a_stream_given_up_as_it_answers_leaves_its_worker_serving(pool: WorkerPool) -> None:
    # The client leaves in the moment between the worker's answer and the stream reading it. The work has ended
    # on its own then: its worker, free again, must not be ended under the next request that takes it.
    info = await pool.prepare(CHAT)
    (worker,) = pool._general
    chunks: list[bytes] = []
    stream: asyncio.Task[Answer] | None = None

    def leave() -> None:  # called as the answer arrives, before the stream has read it
        assert stream is not None
        stream.cancel()

    work = functools.partial(stream_build, data=QUESTION["data"])
    stream = asyncio.create_task(pool.run(info, work, seconds=30, on_chunk=chunks.append, on_end=leave))
    with pytest.raises(asyncio.CancelledError):
        await stream
    assert chunks  # it did stream before it answered

    answer = await pool.run(info, functools.partial(run_build, data=QUESTION["data"]), seconds=30)
    assert answer.error is None
    assert pool._general == [worker]
    assert worker.process.is_alive()


async def test_a_worker_ended_by_the_kernel_is_reported_for_what_ended_it_as_its_replacement_starts(
    pool: WorkerPool,
) -> None:
    # A worker that ends is joined to learn how, while its replacement starts in another thread: starting a process
    # polls the ones that ended, and two threads polling one such process used to race for its exit status (the
    # loser records 255). Each round here is one such meeting.
    info = await pool.prepare(prompt_yaml())
    for _ in range(20):
        with pytest.raises(RunFailed, match="more CPU time than a request may"):
            await pool.run(info, over_cpu_budget, seconds=30)
        await pool.replaced()
