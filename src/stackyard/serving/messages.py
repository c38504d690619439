"""What the server and its worker processes say to each other, and how it travels: on a socket pair, each message
is an 8-byte length and a pickle. The server sends one request at a time to a worker and reads one answer to it.

A worker holds builds by key (the hash of their YAML), so revisions with the same YAML share one; a request that
names a key the worker has not built carries the YAML to build it from.
"""

from __future__ import annotations

import asyncio
import hashlib
import pickle
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from stackyard.definitions.parsing import Definition
from stackyard.errors import StackyardError

_LENGTH = struct.Struct("!Q")


def key_of(yaml_text: str) -> str:
    """The key of the build of `yaml_text` in every worker."""
    return hashlib.sha256(yaml_text.encode()).hexdigest()


@dataclass(frozen=True)
class Prepare:
    """Build `yaml` (parse, policy, build, warm up) and keep it under `key`; answers its `BuildInfo`. With
    `definition`, what a worker parsed `yaml` into already, the parse is skipped."""

    key: str
    yaml: str
    definition: Definition | None = None


@dataclass(frozen=True)
class Work:
    """Call `work(build)` on the build under `key` (built from `yaml` first if this worker has none), as a run of
    `scope` (pipeline, revision) when given; answers what `work` answered. `keep=False` builds a throwaway that
    is closed afterwards (a simulation of a candidate)."""

    key: str
    yaml: str | None  # None when the worker holds the build already
    work: Callable[[Any], Any]
    scope: tuple[str, int] | None = None
    keep: bool = True
    spans: bool = False  # record Haystack's spans (the server traces with OpenTelemetry)
    stream: bool = False  # the work sends `Chunk`s as they come, before its answer (`serving/streams.py`)


@dataclass(frozen=True)
class Forget:
    """Close and drop the builds under `keys` (revisions no longer served)."""

    keys: tuple[str, ...]


Request = Prepare | Work | Forget


# Where a streaming request's chunks go on the server's side, as they arrive: each a `StreamingChunk` as JSON text
# (`send_chunk`), any number of them before the request's `Answer`.
OnChunk = Callable[[bytes], None]
# Set in a frame's length, it marks a chunk: JSON text the server passes on as it is, not a pickle to read. A
# stream's chunks come in bursts (a fast generator's hundreds at once), and the first one should not wait while
# the server unpickles all of them.
_CHUNK = 1 << 63


@dataclass(frozen=True)
class ComponentTiming:
    component: str
    seconds: float
    failed: bool


@dataclass(frozen=True)
class SpanRecord:
    """A Haystack span as the worker saw it, for the server to record under the request's span."""

    id: int
    parent: int | None
    operation: str
    tags: dict[str, Any]
    start_ns: int
    end_ns: int
    failed: bool


@dataclass(frozen=True)
class Answer:
    """The value of a request, or the problem it met; and what the run measured on the way."""

    value: Any = None
    error: StackyardError | None = None
    timings: tuple[ComponentTiming, ...] = ()
    spans: tuple[SpanRecord, ...] = field(default=())


def send(sock: socket.socket, message: object) -> None:
    """Write one message (blocking: the worker's side)."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(_LENGTH.pack(len(data)) + data)


def send_chunk(sock: socket.socket, text: bytes) -> None:
    """Write one chunk of a streaming request's answer (the worker's side), JSON text."""
    sock.sendall(_LENGTH.pack(len(text) | _CHUNK) + text)


def receive(sock: socket.socket) -> Any:
    """Read one message (blocking: the worker's side); EOFError when the server is gone."""
    (length,) = _LENGTH.unpack(_read_exactly(sock, _LENGTH.size))
    return pickle.loads(_read_exactly(sock, length))  # noqa: S301 - from the server that started this worker


def frame(message: object) -> bytes:
    """One message as it goes on the wire."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


class Channel(asyncio.Protocol):
    """The server's end of one worker's socket, on the event loop: `call` writes a request and answers a future
    that the answer resolves as its bytes arrive. A protocol rather than streams: no task, drain or read per
    request, which the run path would pay on every run."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiting: asyncio.Future[Any] | None = None
        self._on_chunk: OnChunk | None = None
        self._lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's classes

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while len(buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(buffer)
            chunk = bool(length & _CHUNK)
            end = _LENGTH.size + (length & ~_CHUNK)
            if len(buffer) < end:
                return
            payload = bytes(buffer[_LENGTH.size : end])
            del buffer[:end]
            if chunk:
                if self._on_chunk is not None:
                    self._on_chunk(payload)
                continue
            message = pickle.loads(payload)  # noqa: S301 - from the worker this server started
            waiter, self._waiting, self._on_chunk = self._waiting, None, None
            if waiter is not None and not waiter.done():
                waiter.set_result(message)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        waiter, self._waiting = self._waiting, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(EOFError("the worker's socket closed"))

    def call(self, request: object, on_chunk: OnChunk | None = None) -> asyncio.Future[Any]:
        """Send `request`; the future holds the answer, or `EOFError` if the worker's socket closes first. The
        `Chunk`s of a streaming request go to `on_chunk` as they arrive, all of them before the answer."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        # A worker that ends while the server shuts down fails calls nobody waits for any more: not worth a warning.
        future.add_done_callback(_seen)
        if self._lost or self.transport is None:
            future.set_exception(EOFError("the worker's socket is closed"))
            return future
        data = frame(request)  # may raise (values nested too deeply to pickle): then nothing was sent
        self._waiting, self._on_chunk = future, on_chunk
        self.transport.write(data)
        return future

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            raise EOFError("the other side closed")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _seen(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # marks it retrieved; whoever awaits it still gets it
