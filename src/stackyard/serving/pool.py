"""The server's worker processes (`serving.worker`): every build and every run happens in one of them.

A worker does one request at a time, so a run that overstays its timeout can be stopped by ending its worker, and
only that run is lost; its slot is given back once the process is gone. Workers are forked from a fork server that
imported Haystack once, so a new one is ready in milliseconds. The pool keeps `minimum` workers (by default one per
core) and replaces a worker that ends. When all are busy, the first request in line waits `grow_after` for one to
be freed before the pool starts another, up to `maximum`: short runs (a prompt, a BM25 query) are done long
before that and share the workers there are, since more processes than cores only trade cache for context
switches; long runs (a model call that waits on the network) get a worker each, after that short wait.

A build lives in the workers that built it (its key is the hash of its YAML); a run goes to an idle worker that has
its build if there is one, else to any idle worker, which builds it first. A pipeline that holds an in-memory
document store is pinned: its documents live in one process, so all such pipelines run in the one memory worker,
one request at a time. Ending that worker (a run that overstays there) loses what its in-memory stores held, as a
restart would.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import itertools
import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

import anyio

from stackyard.definitions.build import BuildInfo
from stackyard.definitions.parsing import Definition
from stackyard.errors import BuildTimeout, RunFailed, StackyardError
from stackyard.serving.containment import code_folders, worker_environment
from stackyard.serving.messages import (
    Answer,
    Channel,
    Forget,
    OnChunk,
    Prepare,
    Request,
    Work,
    key_of,
)
from stackyard.serving.worker import WorkerConfig, main
from stackyard.settings import Settings

log = logging.getLogger(__name__)

# Imported once by the fork server, so each worker starts with Haystack and Stackyard already loaded. The main
# module too: a worker would otherwise import it again as it starts (multiprocessing's rule for non-fork starts).
PRELOAD = ["__main__", "stackyard.serving.worker"]
STOP_WAIT = 5.0  # seconds a worker has to end once its socket is closed, before it is killed

# multiprocessing's process objects are not safe to use from two threads at once: starting a process polls every
# child that has not been joined (`multiprocessing.process._cleanup`), and of two threads polling a child that has
# ended, one reads its exit status from the fork server and the other finds nothing more to read and records 255
# ("the fork server was killed"), whichever writes last. So every start, join and poll of a worker holds this lock;
# waiting for a worker to end does not (it watches the process's sentinel, reading nothing).
_PROCESSES = threading.Lock()


def _start(process: BaseProcess) -> None:
    with _PROCESSES:
        process.start()


def _join(process: BaseProcess, timeout: float | None = None) -> int | None:
    """Wait (in a thread) until `process` has ended, at most `timeout` seconds: its exit code, None if it runs on."""
    multiprocessing.connection.wait([process.sentinel], timeout)
    with _PROCESSES:
        process.join(0)
        return process.exitcode


def worker_config(settings: Settings, scratch_root: str | None = None) -> WorkerConfig:
    """What the workers of a server with `settings` need to know; with `scratch_root`, where they make their scratch
    folders, and the rules they enforce (`serving.containment`)."""
    return WorkerConfig(
        max_yaml_bytes=settings.max_yaml_bytes,
        policy=settings.policy(),
        extra_allowed_modules=tuple(settings.extra_allowed_modules),
        memory_bytes=settings.worker_memory_bytes,
        cpu_seconds=settings.run_cpu_seconds,
        environment=worker_environment(os.environ, settings.secret_env_allowlist, settings.worker_environment),
        allowed_hosts=tuple(settings.allowed_hosts),
        readable=(*(str(path) for path in settings.readable_dirs), *code_folders(settings.extra_allowed_modules)),
        writable=tuple(str(path) for path in settings.writable_dirs),
        scratch_root=scratch_root,
    )


class WorkTimedOut(Exception):
    """The work passed its time and its worker was ended; raised once the process is gone."""


@dataclass(eq=False)
class _Handle:
    """One worker process and the server's end of its socket."""

    process: BaseProcess
    channel: Channel
    memory: bool = False  # the worker where in-memory stores live
    busy: bool = False
    keys: set[str] = field(default_factory=set)  # builds it holds
    forget: set[str] = field(default_factory=set)  # builds to drop at its next idle moment
    gone: bool = False
    dropped: bool = False

    def call(self, request: Request, on_chunk: OnChunk | None = None) -> asyncio.Future[Answer]:
        return self.channel.call(request, on_chunk)


class WorkerPool:
    """Builds and runs in worker processes, with timeouts that end the worker, never the server."""

    def __init__(
        self, config: WorkerConfig, *, minimum: int, maximum: int, build_timeout: float, grow_after: float = 0.0
    ) -> None:
        self.config = config
        self.minimum = max(1, minimum)
        self.maximum = max(self.minimum, maximum)
        self.build_timeout = build_timeout
        self.grow_after = grow_after
        self._general: list[_Handle] = []
        self._memory: _Handle | None = None
        self._starting = 0
        self._starting_memory = False
        self._changed = asyncio.Condition()
        self._queues: dict[bool, collections.deque[int]] = {False: collections.deque(), True: collections.deque()}
        self._tickets = itertools.count()
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(PRELOAD)
        self._background: set[asyncio.Task[None]] = set()
        self._closed = False

    @classmethod
    def for_settings(cls, settings: Settings) -> WorkerPool:
        """The pool a server with `settings` runs its builds and runs in; its workers' scratch folders go in a
        folder of its own, removed when it closes."""
        return cls(
            worker_config(settings, tempfile.mkdtemp(prefix="stackyard-scratch-")),
            minimum=settings.run_workers,
            maximum=settings.max_run_workers,
            build_timeout=settings.build_timeout,
            grow_after=settings.grow_workers_after,
        )

    # -- life ----------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the minimum of workers (the first start also starts the fork server, about a second)."""
        started = await asyncio.gather(*(self._spawn(memory=False) for _ in range(self.minimum)))
        async with self._changed:
            self._general.extend(started)
            self._changed.notify_all()

    async def close(self) -> None:
        """End every worker: its socket closed, it ends on its own; one that does not is killed."""
        self._closed = True
        handles = [*self._general, *([self._memory] if self._memory is not None else [])]
        for handle in handles:
            handle.gone = True
            handle.channel.close()
        for handle in handles:
            if await anyio.to_thread.run_sync(_join, handle.process, STOP_WAIT) is None:
                handle.process.kill()
                await anyio.to_thread.run_sync(_join, handle.process)
        for task in list(self._background):
            task.cancel()
        if self.config.scratch_root is not None:
            shutil.rmtree(self.config.scratch_root, ignore_errors=True)  # what workers that were killed left

    async def replaced(self) -> None:
        """Wait until the pool has its minimum of workers again (after some were ended)."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self._general) >= self.minimum)

    @property
    def busy(self) -> int:
        """Workers executing a request now: what the metrics report as work in progress."""
        return sum(handle.busy for handle in self._handles())

    @property
    def size(self) -> int:
        return len(self._handles())

    # -- requests ------------------------------------------------------------------------------------------------

    async def prepare(self, yaml_text: str) -> BuildInfo:
        """Build `yaml_text` in a worker, under the build timeout; the worker keeps the build for the runs to come.

        A pipeline that turns out to hold an in-memory store is then built in the memory worker too, where its runs
        will go; a definition that cannot build (or takes too long to) never reaches that worker.
        """
        key = key_of(yaml_text)
        info = await self._prepare_in(key, yaml_text, memory=False)
        if info.pinned:
            # The memory worker builds from the definition parsed already: half a deploy's parsing saved.
            await self._prepare_in(key, yaml_text, memory=True, parsed=info.definition)
            self.forget(key, memory=False)
        return info

    async def _prepare_in(
        self, key: str, yaml_text: str, *, memory: bool, parsed: Definition | None = None
    ) -> BuildInfo:
        seconds = self.build_timeout

        def too_long() -> Exception:
            return BuildTimeout(
                f"Building the definition took longer than {seconds:g} s (STACKYARD_BUILD_TIMEOUT); it was not applied."
            )

        answer = await self._dispatch(key, memory, Prepare(key, yaml_text, parsed), seconds, timed_out=too_long)
        if answer.error is not None:
            raise answer.error
        info: BuildInfo = answer.value
        return info

    async def run(
        self,
        info: BuildInfo,
        work: Callable[[Any], Any],
        *,
        seconds: float,
        scope: tuple[str, int] | None = None,
        spans: bool = False,
        on_end: Callable[[], None] | None = None,
        on_chunk: OnChunk | None = None,
    ) -> Answer:
        """Do `work(build)` on the build `info` describes, in a worker, within `seconds`.

        Answers the worker's `Answer` (a problem in it is the caller's to raise). Past its time the worker is
        ended and `WorkTimedOut` raised once it is gone. `on_end` is called once the work has really stopped (an
        answer read, the worker ended), also when the caller gives up waiting, so a slot held for the work is given
        back only then. With `on_chunk`, the work streams (`serving/streams.py`): its chunks go there as they
        come, and a caller that gives up ends the work at once (its worker is ended, unless it is the memory
        worker, whose documents matter more: there the work runs on, bounded by its time).
        """
        request = Work(info.key, info.definition.text, work, scope=scope, spans=spans, stream=on_chunk is not None)
        return await self._dispatch(info.key, info.pinned, request, seconds, on_end=on_end, on_chunk=on_chunk)

    async def examine(
        self, yaml_text: str, work: Callable[[Any, str], Any], *, seconds: float, too_long: Callable[[], Exception]
    ) -> Answer:
        """Do `work(build, key)` on a throwaway build of `yaml_text` (built, used and closed in a worker, never one
        that serves), within `seconds`; past them the worker is ended and `too_long()` raised."""
        key = key_of(yaml_text)
        request = Work(key, yaml_text, functools.partial(_with_key, work, key), keep=False)
        return await self._dispatch(key, False, request, seconds, timed_out=too_long)

    def forget(self, key: str, *, memory: bool | None = None) -> None:
        """Drop the build under `key` from the workers that hold it (all, or only the memory worker or the others)."""
        for handle in self._handles():
            if key in handle.keys and (memory is None or handle.memory == memory):
                handle.keys.discard(key)
                handle.forget.add(key)
                if not handle.busy:
                    handle.busy = True
                    self._in_background(self._flush(handle))

    # -- dispatch ------------------------------------------------------------------------------------------------

    async def _dispatch(
        self,
        key: str,
        memory: bool,
        request: Request,
        seconds: float,
        *,
        on_end: Callable[[], None] | None = None,
        timed_out: Callable[[], Exception] = WorkTimedOut,
        on_chunk: OnChunk | None = None,
    ) -> Answer:
        ended = False

        def end() -> None:
            nonlocal ended
            if not ended:
                ended = True
                if on_end is not None:
                    on_end()

        try:
            handle = await self._acquire(key, memory)
        except BaseException:
            end()  # the work never started
            raise
        if isinstance(request, Work) and request.keep and key in handle.keys:
            # It holds the build: no need to send the YAML again.
            request = Work(request.key, None, request.work, request.scope, request.keep, request.spans, request.stream)
        try:
            task = handle.call(request, on_chunk)
        except BaseException:
            self._release(handle)  # nothing reached the worker
            end()
            raise
        task.add_done_callback(lambda done: self._after(handle, key, request, done, end))
        deadline = asyncio.get_running_loop().time() + seconds
        try:
            async with asyncio.timeout_at(deadline):
                answer = await asyncio.shield(task)
        except asyncio.CancelledError:
            if on_chunk is not None and not handle.memory and not task.done():
                # A stream nobody reads any more (its client went away): end it now, and its slot with it. Marked
                # gone at once, so no request takes the worker in the moment before it is killed.
                handle.gone = True
                self._in_background(self._end_worker(handle))
            else:
                # The caller gave up (its client went away, the server stops): the work goes on, still bounded by
                # its time, so nobody's slot is held past it.
                self._in_background(self._watch(handle, task, deadline))
            raise
        except TimeoutError:
            if task.done() and not task.cancelled() and task.exception() is None:
                answer = task.result()  # it answered as time ran out
            else:
                await self._end_worker(handle)
                with contextlib.suppress(BaseException):
                    await task
                raise timed_out() from None
        except (EOFError, ConnectionError):
            raise await self._lost(handle) from None
        return answer

    def _after(
        self, handle: _Handle, key: str, request: Request, task: asyncio.Future[Answer], end: Callable[[], None]
    ) -> None:
        """The worker answered, or its socket failed: the work has really stopped."""
        try:
            if task.cancelled() or task.exception() is not None:
                self._drop(handle)
            else:
                keeps = isinstance(request, Prepare) or (isinstance(request, Work) and request.keep)
                if keeps and task.result().error is None:
                    handle.keys.add(key)
                self._release(handle)
        finally:
            end()

    async def _acquire(self, key: str, memory: bool) -> _Handle:
        """An idle worker for `key`, started if need be; first come, first served (a worker freed while others
        wait goes to the one that waited longest, never to a request that just arrived)."""
        queue = self._queues[memory]
        ticket = next(self._tickets)
        async with self._changed:
            queue.append(ticket)
            try:
                handle = await self._wait_in_line(queue, ticket, key, memory)
            finally:
                queue.remove(ticket)
                self._changed.notify_all()  # the next in line may go
        if handle is not None:
            return handle
        try:
            handle = await self._spawn(memory=memory)
        finally:
            async with self._changed:
                if memory:
                    self._starting_memory = False
                else:
                    self._starting -= 1
                self._changed.notify_all()
        handle.busy = True
        async with self._changed:
            if memory:
                self._memory = handle
            else:
                self._general.append(handle)
        return handle

    async def _wait_in_line(self, queue: collections.deque[int], ticket: int, key: str, memory: bool) -> _Handle | None:
        """Wait (holding `_changed`) until `ticket` is first in line and a worker is idle, answered taken; or until
        it may start one, answered `None` with the start counted."""
        loop = asyncio.get_running_loop()
        grow_at: float | None = None  # when this request, first in line, may start a worker past the minimum
        while True:
            if self._closed:
                raise RunFailed("The server is shutting down; no work is taken any more.")
            if queue[0] == ticket:
                handle = self._pick(key, memory)
                if handle is not None:
                    handle.busy = True
                    return handle
                if memory and self._memory is None and not self._starting_memory:
                    self._starting_memory = True
                    return None
                workers = len(self._general) + self._starting
                if not memory and workers < self.maximum:
                    if grow_at is None:
                        grow_at = loop.time() + self.grow_after
                    if workers < self.minimum or loop.time() >= grow_at:
                        self._starting += 1
                        return None
            if grow_at is None:
                await self._changed.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(grow_at):
                        await self._changed.wait()

    def _pick(self, key: str, memory: bool) -> _Handle | None:
        if memory:
            usable = self._memory is not None and not self._memory.busy and not self._memory.gone
            return self._memory if usable else None
        idle = [handle for handle in self._general if not handle.busy and not handle.gone]  # gone: being ended
        holding = [handle for handle in idle if key in handle.keys]
        if holding:
            return holding[0]
        # Else the idle worker holding the fewest builds: builds spread, and so does memory.
        return min(idle, key=lambda handle: len(handle.keys), default=None)

    def _release(self, handle: _Handle) -> None:
        if handle.forget and not handle.gone:
            self._in_background(self._flush(handle))  # still busy: the forgetting goes first
            return
        handle.busy = False
        if self._queues[handle.memory]:  # someone waits for a worker of this kind: wake the first in line
            self._in_background(self._notify())

    async def _flush(self, handle: _Handle) -> None:
        keys, handle.forget = tuple(handle.forget), set()
        try:
            await handle.call(Forget(keys))
        except (EOFError, ConnectionError):
            self._drop(handle)
            return
        self._release(handle)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- workers -------------------------------------------------------------------------------------------------

    async def _spawn(self, *, memory: bool) -> _Handle:
        ours, theirs = socket.socketpair()
        process = self._context.Process(
            target=main, args=(theirs, self.config), name="stackyard-memory-worker" if memory else "stackyard-worker"
        )
        try:
            await anyio.to_thread.run_sync(_start, process)
            _transport, channel = await asyncio.get_running_loop().create_connection(Channel, sock=ours)
        except BaseException:
            ours.close()  # a start cut short (the server stops): a worker that did start reads the end and ends
            raise
        finally:
            theirs.close()
        return _Handle(process, channel, memory=memory)

    async def _watch(self, handle: _Handle, task: asyncio.Future[Answer], deadline: float) -> None:
        """End the worker of work nobody waits for any more once its time is up."""
        try:
            async with asyncio.timeout_at(deadline):
                await asyncio.shield(task)
        except TimeoutError:
            if not task.done():
                await self._end_worker(handle)
        except Exception:  # noqa: S110 - the worker failed on its own: `_after` has dropped it already
            pass

    async def _end_worker(self, handle: _Handle) -> None:
        """Kill the worker and wait until the process is gone: only then is its work really stopped."""
        handle.gone = True
        handle.process.kill()
        await anyio.to_thread.run_sync(_join, handle.process)
        handle.channel.close()
        self._drop(handle)

    async def _lost(self, handle: _Handle) -> StackyardError:
        """The worker ended on its own while working: say how."""
        code = await anyio.to_thread.run_sync(_join, handle.process, STOP_WAIT)
        self._drop(handle)
        if code == -signal.SIGXCPU:
            return RunFailed(
                f"The work used more CPU time than a request may ({self.config.cpu_seconds:g} s, "
                "STACKYARD_RUN_CPU_SECONDS); its worker was ended."
            )
        how = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        return RunFailed(f"The worker doing the work ended ({how}); the work did not finish.")

    def _drop(self, handle: _Handle) -> None:
        """Forget a worker that is gone; keep the minimum by starting another in the background."""
        if handle.dropped:
            return
        handle.dropped = handle.gone = True
        if handle is self._memory:
            self._memory = None
        elif handle in self._general:
            self._general.remove(handle)
        if not self._closed and not handle.memory and len(self._general) + self._starting < self.minimum:
            self._in_background(self._replace())
        self._in_background(self._notify())

    async def _replace(self) -> None:
        async with self._changed:
            self._starting += 1
        try:
            handle = await self._spawn(memory=False)
        except Exception:
            log.exception("a worker could not be started")
            return
        finally:
            async with self._changed:
                self._starting -= 1
        async with self._changed:
            self._general.append(handle)
            self._changed.notify_all()

    def _handles(self) -> list[_Handle]:
        return [*self._general, *([self._memory] if self._memory is not None else [])]

    def _in_background(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _with_key(work: Callable[[Any, str], Any], key: str, build: Any) -> Any:
    return work(build, key)
