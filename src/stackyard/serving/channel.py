"""The server's end of one cell's socket, on the event loop: many jobs in flight, each answered by its id.

A protocol rather than streams: no task, drain or read per job, which the run path would pay on every run. Replies
are decoded into the types of `wire.replies` only (msgspec), never unpickled: a cell runs component code, and
nothing it sends may make the server run any.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import cast

from stackyard.errors import InvalidRunInput
from stackyard.wire.framing import FrameTooLarge, frame, reply_frames
from stackyard.wire.jobs import Envelope, Job
from stackyard.wire.replies import Beat, Chunk, Done, Failed, Retire

log = logging.getLogger(__name__)

# Where a streaming job's chunks go as they arrive: each a `StreamingChunk` as JSON text.
OnChunk = Callable[[bytes], None]
Answer = Done | Failed


class CellLost(Exception):
    """The cell's socket closed (the cell ended) before the job was answered."""


class NotTaken(CellLost):
    """The cell ended or stopped answering before its reader took the job (its beats say which it took): the job
    never reached component code, so it may go to another cell."""


class Channel(asyncio.Protocol):
    """Jobs out, replies in. What the cell says about itself is told by futures its owner awaits, never by
    calling back into it: `retiring` (the reason the cell gave) and `closed` (the socket closed)."""

    def __init__(self, max_frame_bytes: int) -> None:
        self.transport: asyncio.Transport | None = None
        self._frames = reply_frames(max_frame_bytes)
        self._waiting: dict[int, asyncio.Future[Answer]] = {}
        self._chunks: dict[int, OnChunk] = {}
        self._ids = itertools.count(1)
        loop = asyncio.get_running_loop()
        self.retiring: asyncio.Future[str] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.lost = False
        self.taken = 0  # the last job id the cell's reader took, as its last beat said
        self.heard = loop.time()  # when the cell last sent anything

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not asyncio's classes

    def data_received(self, data: bytes) -> None:
        self.heard = asyncio.get_running_loop().time()
        try:
            replies = self._frames.feed(data)
        except (FrameTooLarge, ValueError) as error:  # msgspec's DecodeError is a ValueError
            log.error("a cell sent what cannot be read (%s); it is ended", error)
            self.close()
            return
        for reply in replies:
            if isinstance(reply, Chunk):
                on_chunk = self._chunks.get(reply.id)
                if on_chunk is not None:
                    on_chunk(reply.text)
            elif isinstance(reply, Beat):
                self.taken = max(self.taken, reply.taken)  # the beat thread may send an older count late
            elif isinstance(reply, Retire):
                if not self.retiring.done():
                    self.retiring.set_result(reply.reason)
            else:
                self._chunks.pop(reply.id, None)
                waiter = self._waiting.pop(reply.id, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.give_back_untaken()  # the cell ended before it took them: they may run elsewhere
        waiting, self._waiting = self._waiting, {}
        self._chunks.clear()
        for waiter in waiting.values():
            if not waiter.done():
                waiter.set_exception(CellLost("the cell's socket closed"))
        if not self.closed.done():
            self.closed.set_result(None)

    def give_back_untaken(self) -> None:
        """Fail the jobs the cell's reader never took with `NotTaken`, so their callers try another cell."""
        for job_id in [job_id for job_id in self._waiting if job_id > self.taken]:
            self._chunks.pop(job_id, None)
            waiter = self._waiting.pop(job_id)
            if not waiter.done():
                waiter.set_exception(NotTaken("the cell stopped answering before it took the job"))

    @property
    def in_flight(self) -> int:
        return len(self._waiting)

    def call(
        self, job: Job, key: str | None = None, deadline: float | None = None, on_chunk: OnChunk | None = None
    ) -> tuple[int, asyncio.Future[Answer]]:
        """Send `job`; answers its id and a future of its answer (`CellLost` if the cell ends first)."""
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_seen)
        if self.lost or self.transport is None:
            future.set_exception(CellLost("the cell's socket is closed"))
            return 0, future
        job_id = next(self._ids)
        try:
            data = frame(Envelope(job_id, job, key, deadline))
        except OverflowError:  # JSON allows any integer; msgpack, and so a cell, only 64 bits: nothing was sent
            raise InvalidRunInput(
                "A number in the request is larger than 64 bits can hold; send it as a string."
            ) from None
        self._waiting[job_id] = future
        if on_chunk is not None:
            self._chunks[job_id] = on_chunk
        self.transport.write(data)
        return job_id, future

    def tell(self, job: Job) -> None:
        """Send a job nobody waits an answer for (a cancel)."""
        if not self.lost and self.transport is not None:
            self.transport.write(frame(Envelope(0, job)))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _seen(future: asyncio.Future[Answer]) -> None:
    if not future.cancelled():
        future.exception()  # marks it retrieved; whoever awaits it still gets it
