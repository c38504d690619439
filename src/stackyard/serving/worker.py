"""A worker process: where component code runs, so that the process serving HTTP never runs any.

The server (`serving.pool.WorkerPool`) starts workers from a fork server that has imported Haystack once, and
talks to each over a socket pair (`serving.messages`), one request at a time. A worker builds definitions
(parse, policy, Haystack build, warm-up), keeps its builds by key, runs work on them, and closes them when told.
A run that overstays its timeout is stopped by ending the worker: that is the point of running it here. The worker
also limits itself: its address space (`STACKYARD_WORKER_MEMORY_BYTES`) and each request's CPU time
(`STACKYARD_RUN_CPU_SECONDS`): past the first a request fails with a clear problem and the worker ends; past the
second the kernel ends the worker.
"""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import itertools
import logging
import math
import os
import resource
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextvars import copy_context
from dataclasses import dataclass
from typing import Any

from haystack.tracing.tracer import Span, Tracer
from haystack.tracing.utils import coerce_tag_value

from stackyard.definitions.build import Build, build_pipeline
from stackyard.definitions.checks import describe
from stackyard.definitions.parsing import Definition, parse_definition
from stackyard.definitions.policy import Policy
from stackyard.errors import (
    InputRejected,
    InternalError,
    InvalidRequest,
    PolicyViolation,
    RunContained,
    RunFailed,
    StackyardError,
)
from stackyard.observability.tracer import RunScope, enter_run_scope, install_tracer
from stackyard.serving import template_limits
from stackyard.serving.containment import Guard, Refused, install, rules_for
from stackyard.serving.messages import (
    Answer,
    ComponentTiming,
    Forget,
    Prepare,
    SpanRecord,
    Work,
    receive,
    send,
    send_chunk,
)
from stackyard.serving.streams import CHUNKS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker needs to know of the server's settings."""

    max_yaml_bytes: int
    policy: Policy
    extra_allowed_modules: tuple[str, ...]
    memory_bytes: int | None  # RLIMIT_AS of the worker; None: no limit
    cpu_seconds: float | None  # CPU time one request may use; None: no limit
    # The environment component code sees (`containment.worker_environment`): never the whole of the server's.
    environment: dict[str, str]
    allowed_hosts: tuple[str, ...] = ()  # what component code may connect to
    readable: tuple[str, ...] = ()  # folders component code may read (besides its scratch folder)
    writable: tuple[str, ...] = ()  # folders it may write to besides its scratch folder
    scratch_root: str | None = None  # where each worker makes its scratch folder; None: no containment


def build(yaml_text: str, config: WorkerConfig, parsed: Definition | None = None) -> Build:
    """Parse (unless `parsed` is given), check against the policy, and build a definition; raises
    `StackyardError`s."""
    definition = parsed if parsed is not None else parse_definition(yaml_text, max_bytes=config.max_yaml_bytes)
    config.policy.check(definition)  # before Haystack imports or instantiates anything
    return build_pipeline(
        definition, allowed_modules=list(config.extra_allowed_modules), pre_init=config.policy.build_hook
    )


class _Measurements:
    """Where the tracer reports the component runs of one request (the server records them in its metrics)."""

    def __init__(self) -> None:
        self.timings: list[ComponentTiming] = []
        self._failed: set[str] = set()

    def component_failed(self, pipeline: str, component: str) -> None:
        self._failed.add(component)

    def component_ran(self, pipeline: str, component: str, seconds: float) -> None:
        failed = component in self._failed
        self._failed.discard(component)
        self.timings.append(ComponentTiming(component, seconds, failed))


class _RecordedSpan(Span):
    def __init__(self, span_id: int, parent: int | None) -> None:
        self.id = span_id
        self.parent = parent
        self.tags: dict[str, Any] = {}

    def set_tag(self, key: str, value: Any) -> None:
        self.tags[key] = coerce_tag_value(value)

    def raw_span(self) -> Any:
        return self


class _SpanRecorder(Tracer):
    """Haystack's spans of one request, written down for the server to replay under the request's own span."""

    def __init__(self) -> None:
        self.records: list[SpanRecord] = []
        self._ids = itertools.count(1)

    @contextlib.contextmanager
    def trace(
        self, operation_name: str, tags: dict[str, Any] | None = None, parent_span: Span | None = None
    ) -> Iterator[Span]:
        parent = parent_span.raw_span() if parent_span is not None else None
        span = _RecordedSpan(next(self._ids), parent.id if isinstance(parent, _RecordedSpan) else None)
        span.set_tags(tags or {})
        started, failed = time.time_ns(), False
        try:
            yield span
        except BaseException:
            failed = True
            raise
        finally:
            record = SpanRecord(span.id, span.parent, operation_name, span.tags, started, time.time_ns(), failed)
            self.records.append(record)

    def current_span(self) -> Span | None:
        return None


class _Worker:
    def __init__(self, config: WorkerConfig, sock: socket.socket | None = None) -> None:
        self.config = config
        self.sock = sock  # where a streaming request's chunks go, ahead of its answer
        self.builds: dict[str, Build] = {}

    def handle(self, request: Prepare | Work | Forget) -> Answer:
        if isinstance(request, Forget):
            for key in request.keys:
                self._close(self.builds.pop(key, None))
            return Answer()
        try:
            with self._cpu_budget():
                if isinstance(request, Prepare):
                    built = self._build(request.key, request.yaml, request.definition)
                    answer = Answer(describe(request.key, built))
                else:
                    answer = self._work(request)
        except StackyardError as error:
            answer = Answer(error=error)
        except RecursionError:  # values nested deeper than Python recurses (a filter hundreds deep): the input's doing
            return Answer(error=InvalidRequest("The request nests its values too deeply to be read; flatten it."))
        return self._named(answer, building=isinstance(request, Prepare))

    def _named(self, answer: Answer, *, building: bool) -> Answer:
        """A failure that a refusal caused is that refusal's doing: say so, whatever the library made of the error
        (an HTTP client turns a refused connection into "Connection error."). Caused means: the refusal is in the
        error's chain of causes. A refusal a library survived (a probe of the platform, a cache it could not
        write) and a caller's own mistake (a 4xx) keep their answer."""
        error = answer.error
        if error is None or (not building and error.status < 500):
            return answer
        refused = _refusal_in(error)
        if refused is None:
            return answer
        contained = _contained(refused, error.extensions.get("component"), building=building)
        return Answer(error=contained, timings=answer.timings, spans=answer.spans)

    def _build(self, key: str, yaml_text: str | None, parsed: Definition | None = None) -> Build:
        built = self.builds.get(key)
        if built is None:
            if yaml_text is None:
                raise InternalError("A worker was asked to use a build it does not hold.")
            built = self.builds[key] = build(yaml_text, self.config, parsed)
        return built

    def _work(self, request: Work) -> Answer:
        built = self._build(request.key, request.yaml) if request.keep else build(request.yaml or "", self.config)
        measured = _Measurements()
        spans = _SpanRecorder() if request.spans else None
        try:
            # A context of its own: the scope is set for this request only.
            value = copy_context().run(self._run, request, built, measured, spans, self._chunks(request))
        except StackyardError as error:
            return Answer(error=error, timings=tuple(measured.timings), spans=_records(spans))
        finally:
            if not request.keep:
                self._close(built)
        return Answer(value, timings=tuple(measured.timings), spans=_records(spans))

    def _chunks(self, request: Work) -> Callable[[bytes], None] | None:
        sock = self.sock
        if not request.stream or sock is None:
            return None
        return lambda text: send_chunk(sock, text)

    @staticmethod
    def _run(
        request: Work,
        built: Build,
        measured: _Measurements,
        spans: _SpanRecorder | None,
        chunks: Callable[[bytes], None] | None,
    ) -> Any:
        if request.scope is not None:
            pipeline, revision = request.scope
            enter_run_scope(RunScope(pipeline, revision, measured, spans))
        CHUNKS.set(chunks)
        return request.work(built)

    @contextlib.contextmanager
    def _cpu_budget(self) -> Iterator[None]:
        """Past this request's CPU budget the kernel sends SIGXCPU, which ends the worker (its default action)."""
        budget = self.config.cpu_seconds
        if budget is None:
            yield
            return
        usage = resource.getrusage(resource.RUSAGE_SELF)
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        soft = math.ceil(usage.ru_utime + usage.ru_stime + budget)
        resource.setrlimit(resource.RLIMIT_CPU, (soft if hard == resource.RLIM_INFINITY else min(soft, hard), hard))
        try:
            yield
        finally:
            resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))

    def _close(self, built: Build | None) -> None:
        if built is None:
            return
        try:
            built.close()
        except Exception:
            log.exception("closing a retired build failed")

    def close(self) -> None:
        for built in self.builds.values():
            self._close(built)
        self.builds.clear()


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


def _contained(refused: Refused, component: object, *, building: bool) -> StackyardError:
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


def _records(spans: _SpanRecorder | None) -> tuple[SpanRecord, ...]:
    return tuple(spans.records) if spans is not None else ()


def _contain(config: WorkerConfig) -> Guard | None:
    """Make this worker's scratch folder the temporary folder, then enforce the rules (`serving.containment`)."""
    if config.scratch_root is None:
        return None
    scratch = tempfile.mkdtemp(prefix=f"worker-{os.getpid()}-", dir=config.scratch_root)
    # Home too: libraries keep caches and state under ~ (Haystack its snapshots), which is the server's, not theirs.
    os.environ["TMPDIR"] = os.environ["HOME"] = scratch
    tempfile.tempdir = scratch  # gettempdir() may have been cached by the fork server already
    rules = rules_for(scratch, allowed_hosts=config.allowed_hosts, readable=config.readable, writable=config.writable)
    return install(rules)


def main(sock: socket.socket, config: WorkerConfig) -> None:
    """The worker's life: answer the server's requests one by one until it closes the socket or ends this process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the server, which stops its workers itself
    # `kill -USR1 PID` writes where each of this worker's threads is to the server's log: what a stuck run waits on.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    os.environ.clear()
    os.environ.update(config.environment)
    if config.memory_bytes is not None:
        resource.setrlimit(resource.RLIMIT_AS, (config.memory_bytes, config.memory_bytes))
    install_tracer()
    template_limits.install()  # before any component makes its template environment
    guard = _contain(config)
    # What the fork server imported (Haystack, its dependencies) lives as long as this process: frozen, it is left
    # out of every garbage collection, which then walks only what builds and runs made, and no longer writes to
    # the pages this worker shares with the fork server and its siblings.
    gc.freeze()
    worker = _Worker(config, sock)
    try:
        while True:
            try:
                request = receive(sock)
            except EOFError:
                return
            try:
                answer = worker.handle(request)
            except MemoryError:
                # What is left of this process after running out of memory cannot be trusted: answer, then end.
                limit = config.memory_bytes
                send(sock, Answer(error=RunFailed(f"The work ran out of memory (the worker's limit: {limit} bytes).")))
                return
            except Exception as error:  # a defect, not the definition's nor the caller's: logged here, one line there
                log.exception("unexpected error in a worker")
                answer = Answer(error=InternalError(f"The worker met an unexpected {type(error).__name__}; logged."))
            try:
                send(sock, answer)
            except RecursionError:  # a result nested too deeply to pickle: the work's doing, said as such
                send(sock, Answer(error=RunFailed("The work's result nests its values too deeply to be sent back.")))
    except Exception:
        log.exception("a worker ended on an unexpected error")  # os._exit below would end it without a word
        raise
    finally:
        worker.close()
        with contextlib.suppress(OSError):
            sock.close()
        if guard is not None:
            shutil.rmtree(guard.rules.writable[0], ignore_errors=True)
        os._exit(0)  # no atexit handlers or lingering threads of component code keep a stopped worker alive
