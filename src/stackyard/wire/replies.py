"""What a cell says back: the answer to a job, the chunks of a stream, and what the cell itself needs.

Everything here is plain data decoded by msgspec into these types only: a cell runs component code, so the server
reads nothing from it that could make the server run code (no pickle), and a value it does not expect is a
decoding error, not an object.
"""

from __future__ import annotations

from typing import Any

import msgspec

import stackyard.errors
from stackyard.errors import InternalError, StackyardError


class ComponentTiming(msgspec.Struct, frozen=True, array_like=True):
    component: str
    seconds: float
    failed: bool


class SpanRecord(msgspec.Struct, frozen=True):
    """A Haystack span as the cell saw it, for the server to record under the request's span."""

    id: int
    parent: int | None
    operation: str
    tags: dict[str, Any]
    start_ns: int
    end_ns: int
    failed: bool


class Fault(msgspec.Struct, frozen=True):
    """A `StackyardError` on the wire: its class by name, its detail and extensions."""

    kind: str
    detail: str
    extensions: dict[str, Any] = {}

    @classmethod
    def of(cls, error: StackyardError) -> Fault:
        return cls(type(error).__name__, error.detail, _plain(error.extensions))

    def error(self) -> StackyardError:
        """The error again, as the server raises it; a kind it does not know is the cell's defect."""
        kind = getattr(stackyard.errors, self.kind, None)
        if isinstance(kind, type) and issubclass(kind, StackyardError):
            return kind(self.detail, **self.extensions)
        return InternalError(f"A cell answered a problem this server does not know ({self.kind[:60]!r}).")


class Done(msgspec.Struct, tag="done", frozen=True):
    """Job `id` answered: `value` is its answer as JSON text (a run's result goes to its caller as it is)."""

    id: int
    value: bytes
    timings: tuple[ComponentTiming, ...] = ()
    spans: tuple[SpanRecord, ...] = ()


class Failed(msgspec.Struct, tag="failed", frozen=True):
    id: int
    problem: Fault
    timings: tuple[ComponentTiming, ...] = ()
    spans: tuple[SpanRecord, ...] = ()


class Chunk(msgspec.Struct, tag="chunk", frozen=True):
    """One `StreamingChunk` of job `id`, as JSON text the server passes on as it is."""

    id: int
    text: bytes


class Retire(msgspec.Struct, tag="retire", frozen=True):
    """The cell can no longer be trusted with new work (memory ran out, a run it could not stop overstays): the
    server starts its replacement and lets this one end once its other jobs are done."""

    reason: str


class Beat(msgspec.Struct, tag="beat", frozen=True):
    """The cell is alive, sent every `BEAT_EVERY` seconds by a thread of its own, and by its reader as it takes jobs
    (before any of them starts): a cell whose beats stop while it has work is held by a call that does not let
    Python's other threads run (a backtracking regex, a C extension that keeps the GIL). `taken` is the id of the
    last job its reader took: the jobs sent after it never reached component code, so they can go to another
    cell."""

    taken: int


BEAT_EVERY = 0.1  # seconds between two beats of a cell

Reply = Done | Failed | Chunk | Retire | Beat


def _plain(extensions: dict[str, Any]) -> dict[str, Any]:
    # Extensions are the server's to render as JSON: anything else a component put there is said as text.
    return {
        key: value if isinstance(value, str | int | float | bool | list | None) else str(value)
        for key, value in extensions.items()
    }
