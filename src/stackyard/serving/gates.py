"""Per-pipeline run concurrency: at most so many runs of one pipeline at once, and so many more waiting."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from stackyard.errors import TooManyRuns


class _Gate:
    """The slots of one pipeline. A free slot is taken without suspending; a full gate queues on the semaphore."""

    __slots__ = ("slots", "waiting")

    def __init__(self, concurrent: int) -> None:
        self.slots = asyncio.Semaphore(concurrent)
        self.waiting = 0

    def release(self) -> None:
        self.slots.release()


@dataclass
class RunLimits:
    """At most `concurrent` runs of one pipeline at once, and at most `queued` more waiting; beyond that, 429."""

    concurrent: int
    queued: int
    _gates: dict[str, _Gate] = field(default_factory=dict)

    async def enter(self, pipeline: str) -> _Gate:
        """Take a slot of `pipeline`, waiting in its queue if need be; pair with the gate's `release()`."""
        gate = self._gates.get(pipeline)
        if gate is None:
            gate = self._gates[pipeline] = _Gate(self.concurrent)
        if not gate.slots.locked():
            await gate.slots.acquire()  # returns at once: asyncio's semaphore only suspends when it must wait
            return gate
        if gate.waiting >= self.queued:
            raise TooManyRuns(
                f"Pipeline '{pipeline}' runs {self.concurrent} requests and has {gate.waiting} waiting; retry shortly."
            )
        gate.waiting += 1
        try:
            await gate.slots.acquire()
        finally:
            gate.waiting -= 1
        return gate
