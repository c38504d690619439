"""One cell as the server sees it: its process, its socket, its builds, and where it stands in its life.

A cell is started by multiprocessing's fork server (which preloaded Haystack: `cell.preload`) and then known by
its pid through a pidfd (`os.pidfd_open`): signals go to that process and no other, and the pidfd is readable on
the event loop once the process is gone, whether or not the fork server that started it still lives (a fork
server that was killed is started again for the next cell; the cells it had started serve on).

    starting ──built──▶ serving ──retire / recycle──▶ draining ──jobs done or overdue──▶ gone
        └──────────────────────── died (any state) ─────────────────────────────────────▶ gone
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import multiprocessing
import multiprocessing.context
import os
import signal
import socket
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from multiprocessing.process import BaseProcess

from stackyard.serving.channel import Channel
from stackyard.wire.cell_config import CellConfig

log = logging.getLogger(__name__)

# Imported once by the fork server, so each cell starts with Haystack and the cell's code loaded. The main module
# too: a cell would otherwise import it again as it starts (multiprocessing's rule for non-fork starts).
PRELOAD = ["__main__", "stackyard.cell.preload"]
# The cell's main function, by name: the server never imports the cell's code, the fork server does.
TARGET = "stackyard.cell.life"

# multiprocessing's process objects are not safe to use from two threads at once (starting one polls every child
# not yet joined): every start and poll holds this lock.
_PROCESSES = threading.Lock()


class CellState(StrEnum):
    STARTING = "starting"  # forked; building the builds of its group before it serves
    SERVING = "serving"  # takes new jobs
    DRAINING = "draining"  # takes no new jobs; ends once its jobs are answered or overdue
    GONE = "gone"  # its process has ended


@dataclass(eq=False)
class Cell:
    name: str
    group: str
    process: BaseProcess
    pidfd: int
    channel: Channel
    ended: asyncio.Future[None]
    state: CellState = CellState.STARTING
    keys: set[str] = field(default_factory=set)  # the builds it holds
    # job id -> its deadline on the monotonic clock: a draining cell is ended once the last of them has passed
    deadlines: dict[int, float] = field(default_factory=dict)
    retire_reason: str | None = None
    building: int = 0  # builds in flight: loading a model may keep Python's lock for seconds, and is no stall

    @property
    def pid(self) -> int:
        return self.process.pid or 0

    @property
    def load(self) -> int:
        return self.channel.in_flight

    def kill(self) -> None:
        """SIGKILL this cell's process (by its pidfd: never another process that reused the pid)."""
        if self.state is CellState.GONE:
            return
        with contextlib.suppress(ProcessLookupError, OSError):
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)

    def exit_status(self) -> int | None:
        """How the process ended, when the fork server that started it could tell (else None)."""
        with _PROCESSES:
            try:
                self.process.join(0)
            except (OSError, ValueError, AssertionError):
                return None
            return self.process.exitcode


class Spawner:
    """Starts cells from the fork server; one per pool."""

    def __init__(self, config: CellConfig) -> None:
        self.config = config
        self._context: multiprocessing.context.ForkServerContext = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(PRELOAD)

    async def _forked(self, target: _Target, theirs: socket.socket, name: str) -> BaseProcess:
        """Start the cell's process. A fork server that was killed (by an operator, by the kernel) fails the start
        with an EOF until multiprocessing has seen it gone and started another: retried, a few times."""
        for attempt in range(FORK_ATTEMPTS):
            process = self._context.Process(target=target, args=(theirs, self.config), name=f"stackyard-cell-{name}")
            try:
                await asyncio.to_thread(_start, process)
                return process
            except (EOFError, ConnectionError) as error:
                if attempt == FORK_ATTEMPTS - 1:
                    raise
                log.warning("the fork server did not start a cell (%s); it is started again", error)
                await asyncio.sleep(_backoff(attempt))
        raise AssertionError("unreachable")

    async def start(self, name: str, group: str) -> Cell:
        """Fork a cell and connect to it; it serves once the pool has built its group's builds in it."""
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair()
        try:
            # Named, not imported here: `stackyard.cell.life` imports Haystack, which only the fork server and the
            # cells load. The fork server resolves the target when it unpickles the process object.
            target = _Target(TARGET)
            process = await self._forked(target, theirs, name)
            pid = process.pid
            assert pid is not None
            pidfd = os.pidfd_open(pid)
            _transport, channel = await loop.create_connection(lambda: Channel(self.config.max_frame_bytes), sock=ours)
        except BaseException:
            ours.close()  # a start cut short (the server stops): a cell that did start reads the end and ends
            raise
        finally:
            theirs.close()
        ended: asyncio.Future[None] = loop.create_future()

        def gone() -> None:
            loop.remove_reader(pidfd)
            if not ended.done():
                ended.set_result(None)

        loop.add_reader(pidfd, gone)
        return Cell(name, group, process, pidfd, channel, ended)


FORK_ATTEMPTS = 5  # a fork server that was killed is replaced by multiprocessing once it is seen gone


def _backoff(attempt: int) -> float:
    return 0.05 * float(2**attempt)


class _Target:
    """A picklable reference to the cell's main function by module name, resolved in the fork server's child."""

    def __init__(self, module: str) -> None:
        self.module = module

    def __call__(self, sock: socket.socket, config: CellConfig) -> None:
        importlib.import_module(self.module).main(sock, config)


def _start(process: BaseProcess) -> None:
    with _PROCESSES:
        process.start()


def close_pidfd(cell: Cell) -> None:
    with contextlib.suppress(OSError):
        os.close(cell.pidfd)
