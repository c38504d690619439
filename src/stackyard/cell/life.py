"""A cell's life: the contained process where component code is built and run, many jobs at once.

The server (`serving.cell_pool`) starts cells from a fork server that imported Haystack once (`cell.preload`) and
talks to each over a socket pair: named jobs in (`wire.jobs`), replies out (`wire.replies`). In the cell:

- the main thread reads jobs; it sees the socket close the moment the server is gone, whatever the jobs do, and
  ends the cell then (`os._exit`): a cell never outlives its server;
- sync jobs run in a bounded pool of threads (`STACKYARD_CELL_THREADS`), shared fairly between pipelines
  (`cell.threads`); the runs of builds with async components are awaited on the cell's event loop
  (`Pipeline.run_async`), whose sync components go to threads of their own, so a run waiting on a remote model
  holds no thread;
- replies are written by whichever thread has one, one frame at a time (a lock);
- a watchdog thread beats every 0.1 s (`Beat`: a cell gone silent is held by a call that keeps Python's lock), and
  holds each sync job to its CPU time (`STACKYARD_RUN_CPU_SECONDS`), read from the job's own thread clock: past
  it, the job fails and the cell asks to retire (`Retire`), since a thread cannot be stopped.
  Running out of memory retires the cell too; the server starts its replacement and ends it once its other jobs
  are done.

The cell limits itself at start: its environment (the allowed variables only), its address space, its
`oom_score_adj` (the kernel's choice when memory runs out falls on a cell, never on the server), the compute
threads of torch and OpenMP, and the containment rules (`cell.containment`).
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import gc
import logging
import os
import resource
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import dataclass
from typing import Any

from stackyard.cell import template_limits
from stackyard.cell.containment import Guard, Refused, code_folders, install, rules_for
from stackyard.cell.threads import FairThreads
from stackyard.cell.tracer import JobScope, Measurements, SpanRecorder, Stopped, enter_run_scope, install_tracer
from stackyard.cell.work import Work
from stackyard.errors import (
    InputRejected,
    InternalError,
    InvalidRequest,
    PolicyViolation,
    RunContained,
    RunFailed,
    RunTimeout,
    StackyardError,
)
from stackyard.wire.cell_config import CellConfig
from stackyard.wire.framing import FrameTooLarge, frame, job_frames
from stackyard.wire.jobs import Cancel, Documents, Envelope, Examine, Export, Forget, Index, Prepare, Query, Run
from stackyard.wire.replies import BEAT_EVERY, Beat, Chunk, Done, Failed, Fault, Retire

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Active:
    """A job being done in a thread: where its CPU time is read, and whether it was answered already."""

    clock: int
    cpu_at_start: float
    answered: bool = False


class CellProcess:
    def __init__(self, config: CellConfig, sock: socket.socket) -> None:
        self.config = config
        self.sock = sock
        self.work = Work(config)
        self._send_lock = threading.Lock()
        self.threads = FairThreads(config.threads)
        self.loop = asyncio.new_event_loop()
        # `asyncio.to_thread` (the sync components of runs awaited on the loop) goes to threads of their own, so a
        # full line of sync jobs never holds up a run that is already under way.
        self.loop.set_default_executor(ThreadPoolExecutor(config.threads, thread_name_prefix="stackyard-async"))
        self._active: dict[int, _Active] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._stops: dict[int, threading.Event] = {}  # the sync jobs under way, each with the flag a cancel sets
        self._retired = False
        self._taken = 0  # the id of the last job the reader took (`Beat`)

    # -- the socket ----------------------------------------------------------------------------------------------

    def send(self, message: Any) -> None:
        data = frame(message)
        with self._send_lock:
            self.sock.sendall(data)

    def serve(self) -> None:
        """Read jobs until the server closes the socket (or is gone)."""
        threading.Thread(target=self.loop.run_forever, name="stackyard-loop", daemon=True).start()
        threading.Thread(target=self._watch, name="stackyard-watchdog", daemon=True).start()
        frames = job_frames(self.config.max_frame_bytes)
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except OSError:
                return
            if not data:
                return
            try:
                envelopes = frames.feed(data)
            except FrameTooLarge:
                log.error("the server sent a frame over the limit; the cell ends")
                return
            taken = max((envelope.id for envelope in envelopes), default=0)
            if taken > self._taken:
                # Said before any of them can start: a job the server hears was taken may have run, one it has
                # not heard of never did, so only the latter may go to another cell if this one stops answering.
                self._taken = taken
                self.send(Beat(taken))
            for envelope in envelopes:
                self._dispatch(envelope)

    def _dispatch(self, envelope: Envelope) -> None:
        job = envelope.job
        if isinstance(job, Cancel):
            task = self._tasks.get(job.job)
            if task is not None:
                self.loop.call_soon_threadsafe(task.cancel)
            stop = self._stops.get(job.job)
            if stop is not None:
                # A thread cannot be interrupted: the run stops at its next component or streamed chunk. One
                # that gets to neither within its grace costs the cell (the server recycles it).
                stop.set()
            return
        if isinstance(job, Run) and self.work.runs_async(envelope.key):
            asyncio.run_coroutine_threadsafe(self._awaited(envelope, job), self.loop)
            return
        self.threads.submit(envelope.key or "", lambda: self._threaded(envelope))

    # -- jobs ----------------------------------------------------------------------------------------------------

    def _threaded(self, envelope: Envelope) -> None:
        clock = time.pthread_getcpuclockid(threading.get_ident())
        active = self._active[envelope.id] = _Active(clock, time.clock_gettime(clock))
        self._stops[envelope.id] = threading.Event()
        try:
            reply = self._answer(envelope)
        finally:
            del self._active[envelope.id]
            self._stops.pop(envelope.id, None)
        if not active.answered:
            self.send(reply)

    def _answer(self, envelope: Envelope) -> Done | Failed:
        job = envelope.job
        measured = Measurements()
        spans = SpanRecorder() if isinstance(job, Run) and job.spans else None
        try:
            value = copy_context().run(self._do, envelope, measured, spans)
        except BaseException as error:
            stop = self._stops.get(envelope.id)
            if stop is not None and stop.is_set():  # whatever Haystack wrapped the `Stopped` in
                problem = Fault.of(RunTimeout("The run was stopped: its caller left or its time ran out."))
            else:
                problem = self._problem(error, envelope)
            return Failed(envelope.id, problem, tuple(measured.timings), _records(spans))
        return Done(envelope.id, value, tuple(measured.timings), _records(spans))

    def _do(self, envelope: Envelope, measured: Measurements, spans: SpanRecorder | None) -> bytes:
        job, key = envelope.job, envelope.key
        scope = getattr(job, "scope", None)
        stop = self._stops.get(envelope.id)
        if scope is not None:
            enter_run_scope(JobScope(scope[0], scope[1], measured, spans, stop))
        if isinstance(job, Run):
            chunks = None
            if job.stream:
                job_id = envelope.id

                def chunks(text: bytes) -> None:
                    if stop is not None and stop.is_set():
                        raise Stopped("the stream's caller left")  # out of the component: an upstream call closes
                    self.send(Chunk(job_id, text))

            return self.work.run(key, job, chunks)
        if isinstance(job, Prepare):
            assert key is not None
            return self.work.prepare(key, job.yaml)
        if isinstance(job, Forget):
            self.work.forget(job.keys)
            return b"null"
        if isinstance(job, Query):
            return self.work.query(key, job)
        if isinstance(job, Index):
            return self.work.index(key, job)
        if isinstance(job, Documents):
            return self.work.documents(key, job)
        if isinstance(job, Examine):
            assert key is not None
            return self.work.examine(key, job)
        if isinstance(job, Export):
            return self.work.export(key)
        raise InternalError(f"A cell was sent a job it does not know ({type(job).__name__}).")

    async def _awaited(self, envelope: Envelope, job: Run) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks[envelope.id] = task
        measured = Measurements()
        spans = SpanRecorder() if job.spans else None
        reply: Done | Failed
        try:
            if job.scope is not None:  # the task runs in a context of its own: the scope is this run's only
                enter_run_scope(JobScope(job.scope[0], job.scope[1], measured, spans))
            chunks = None
            if job.stream:
                job_id = envelope.id

                def chunks(text: bytes) -> None:
                    self.send(Chunk(job_id, text))

            async with asyncio.timeout_at(envelope.deadline):
                value = await self.work.run_async(envelope.key, job, chunks)
            reply = Done(envelope.id, value, tuple(measured.timings), _records(spans))
        except (asyncio.CancelledError, TimeoutError):
            stopped = RunTimeout("The run was stopped: its caller left or its time ran out.")
            reply = Failed(envelope.id, Fault.of(stopped), tuple(measured.timings), _records(spans))
        except BaseException as error:
            reply = Failed(envelope.id, self._problem(error, envelope), tuple(measured.timings), _records(spans))
        finally:
            self._tasks.pop(envelope.id, None)
        self.send(reply)  # one frame: the loop is blocked no longer than the socket takes it

    def _problem(self, error: BaseException, envelope: Envelope) -> Fault:
        building = isinstance(envelope.job, Prepare | Examine)
        if isinstance(error, StackyardError):
            return Fault.of(_named(error, building=building))
        if isinstance(error, RecursionError):  # values nested deeper than Python recurses: the input's doing
            return Fault.of(InvalidRequest("The request nests its values too deeply to be read; flatten it."))
        if isinstance(error, MemoryError):
            # What is left of this process after running out of memory cannot be trusted: no new work comes here.
            self.retire("it ran out of memory")
            limit = self.config.memory_bytes
            return Fault.of(RunFailed(f"The work ran out of memory (a cell's limit: {limit} bytes)."))
        log.error("unexpected error in a cell", exc_info=error)
        return Fault.of(InternalError(f"The cell met an unexpected {type(error).__name__}; logged."))

    def retire(self, reason: str) -> None:
        if not self._retired:
            self._retired = True
            with contextlib.suppress(OSError):
                self.send(Retire(reason))

    def _watch(self) -> None:
        """Every `BEAT_EVERY` seconds: a beat to the server (its silence says this cell is held), and each sync
        job's CPU time against its budget (`STACKYARD_RUN_CPU_SECONDS`), read from the job's own thread clock."""
        budget = self.config.cpu_seconds
        while True:
            time.sleep(BEAT_EVERY)
            try:
                self.send(Beat(self._taken))
            except OSError:
                return
            if budget is not None:
                self._hold_to(budget)

    def _hold_to(self, budget: float) -> None:
        for job_id, active in list(self._active.items()):
            if active.answered:
                continue
            try:
                used = time.clock_gettime(active.clock) - active.cpu_at_start
            except OSError:  # the thread ended meanwhile
                continue
            if used > budget:
                active.answered = True
                refused = RunFailed(
                    f"The work used more CPU time than a request may ({budget:g} s, STACKYARD_RUN_CPU_SECONDS); "
                    "it was stopped and its cell replaced."
                )
                with contextlib.suppress(OSError):
                    self.send(Failed(job_id, Fault.of(refused)))
                self.retire("a job used more than its CPU time")

    def close(self) -> None:
        self.work.builds.close_all()


def _named(error: StackyardError, *, building: bool) -> StackyardError:
    """A failure that a refusal caused is that refusal's doing: say so, whatever the library made of the error
    (an HTTP client turns a refused connection into "Connection error."). Caused means: the refusal is in the
    error's chain of causes. A refusal a library survived (a probe of the platform, a cache it could not write)
    and a caller's own mistake (a 4xx) keep their answer."""
    if not building and error.status < 500:
        return error
    refused = _refusal_in(error)
    if refused is None:
        return error
    component = error.extensions.get("component")
    who = f"Component '{component}'" if isinstance(component, str) else "The pipeline"
    if refused.rule == template_limits.RULE:  # what the run's data made a template do: the request's doing
        return InputRejected(
            f"{who} refused to render: {refused} (rule '{refused.rule}').", rule=refused.rule, component=component
        )
    if building:
        return PolicyViolation(
            f"{who} could not be built: {refused} (rule '{refused.rule}').", rule=refused.rule, component=component
        )
    return RunContained(f"{who} failed: {refused} (rule '{refused.rule}').", rule=refused.rule, component=component)


def _refusal_in(error: BaseException) -> Refused | None:
    """The refusal among `error`'s causes and contexts (what the library raised it from), if there is one."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, Refused):
            return current
        pending += [current.__cause__, current.__context__]
    return None


def _records(spans: SpanRecorder | None) -> tuple[Any, ...]:
    return tuple(spans.records) if spans is not None else ()


def _contain(config: CellConfig) -> Guard | None:
    """Make this cell's scratch folder the temporary folder, then enforce the rules (`cell.containment`)."""
    if config.scratch_root is None:
        return None
    scratch = tempfile.mkdtemp(prefix=f"cell-{os.getpid()}-", dir=config.scratch_root)
    # Home too: libraries keep caches and state under ~ (Haystack its snapshots), which is the server's, not theirs.
    os.environ["TMPDIR"] = os.environ["HOME"] = scratch
    tempfile.tempdir = scratch  # gettempdir() may have been cached by the fork server already
    readable = (*config.readable, *code_folders(config.extra_allowed_modules))
    rules = rules_for(scratch, allowed_hosts=config.allowed_hosts, readable=readable, writable=config.writable)
    return install(rules)


def _limit(config: CellConfig) -> None:
    os.environ.clear()
    os.environ.update(config.environment)
    # Read by torch and the BLAS libraries when they load, which in a cell is after this (`cell.preload`): the
    # cells of a model pipeline split the cores between them instead of each taking all of them.
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(variable, str(config.compute_threads))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if config.memory_bytes is not None:
        resource.setrlimit(resource.RLIMIT_AS, (config.memory_bytes, config.memory_bytes))
    # When memory runs out, the kernel ends the process with the highest score: a cell, never the server.
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as score:
        score.write("1000")


def main(sock: socket.socket, config: CellConfig) -> None:
    """The cell's life: serve jobs until the server closes the socket or is gone, then end at once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the server, which stops its cells itself
    # `kill -USR1 PID` writes where each of this cell's threads is to the server's log: what a stuck run waits on.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    _limit(config)
    # A thread that wants the interpreter gets it within a millisecond of asking, not Python's default five: a
    # run's next step waits that long behind a build or a CPU-bound run of the same cell.
    sys.setswitchinterval(0.001)
    install_tracer()
    template_limits.install()  # before any component makes its template environment
    guard = _contain(config)
    # What the fork server imported (Haystack, its dependencies) lives as long as this process: frozen, it is left
    # out of every garbage collection, which then walks only what builds and runs made, and no longer writes to
    # the pages this cell shares with the fork server and its siblings.
    gc.freeze()
    cell = CellProcess(config, sock)
    try:
        cell.serve()
    except Exception:
        log.exception("a cell ended on an unexpected error")  # os._exit below would end it without a word
    finally:
        with contextlib.suppress(OSError):
            sock.close()
        if guard is not None:
            shutil.rmtree(guard.rules.writable[0], ignore_errors=True)
        # No atexit handlers, lingering threads of component code or builds to close keep a stopped cell alive:
        # the server is gone or has let it go, and whatever its components hold ends with the process.
        os._exit(0)
