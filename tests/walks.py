"""The walk of one request through Stackyard's own code: which files it passes through, hop by hop.

Every call into `src/stackyard` made while the request is answered is recorded with its nearest Stackyard caller
(a coroutine resuming is not a new call). A hop is a call that hands control to another file; a hop of the request's
path goes into a function that itself hands control on, so leaf helpers (a check, a conversion, a dialect hook)
are touched but are not stops on the path. `Walk.files` lists the stops; `Walk.touched`, every file touched.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import anyio.to_thread

SRC = str(Path(__file__).resolve().parent.parent / "src" / "stackyard") + "/"
Call = tuple[str, str]  # file (relative to src/stackyard), function


@dataclass(frozen=True)
class Walk:
    calls: list[tuple[Call | None, Call]]  # (nearest Stackyard caller, callee)

    @property
    def hops(self) -> list[tuple[Call, Call]]:
        handing_on = {caller for caller, callee in self.calls if caller is not None and caller[0] != callee[0]}
        return [
            (caller, callee)
            for caller, callee in self.calls
            if caller is not None and caller[0] != callee[0] and callee in handing_on
        ]

    @property
    def files(self) -> list[str]:
        stops = [callee[0] for caller, callee in self.calls if caller is None]
        stops += [callee[0] for _, callee in self.hops]
        return list(dict.fromkeys(stops))

    @property
    def touched(self) -> list[str]:
        return list(dict.fromkeys(callee[0] for _, callee in self.calls))

    def back_and_forth(self) -> list[tuple[str, str]]:
        """Each B -> A hop after an A -> B hop: control going back to a file it came from (a callback, say)."""
        gone: set[tuple[str, str]] = set()
        back = []
        for caller, callee in self.hops:
            if (callee[0], caller[0]) in gone:
                back.append((caller[0], callee[0]))
            gone.add((caller[0], callee[0]))
        return back

    def describe(self) -> str:
        return "\n".join(f"{a[0]}:{a[1]} -> {b[0]}:{b[1]}" for a, b in self.hops)


@contextmanager
def _recording() -> Iterator[list[tuple[Call | None, Call]]]:
    calls: list[tuple[Call | None, Call]] = []
    seen: set[int] = set()
    alive: list[FrameType] = []  # kept alive, so a frame's id is not reused for another within one walk
    lock = threading.Lock()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event != "call" or not frame.f_code.co_filename.startswith(SRC):
            return
        with lock:
            if id(frame) in seen:  # a coroutine resuming, not a new call
                return
            seen.add(id(frame))
            alive.append(frame)
            back = frame.f_back
            while back is not None and not back.f_code.co_filename.startswith(SRC):
                back = back.f_back
            caller = (back.f_code.co_filename[len(SRC) :], back.f_code.co_name) if back is not None else None
            calls.append((caller, (frame.f_code.co_filename[len(SRC) :], frame.f_code.co_name)))

    original = anyio.to_thread.run_sync

    async def in_thread(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        def profiled(*inner: Any) -> Any:  # anyio's worker threads started before the walk: profile them too
            sys.setprofile(profile)
            try:
                return function(*inner)
            finally:
                sys.setprofile(None)

        return await original(profiled, *args, **kwargs)

    anyio.to_thread.run_sync = in_thread  # type: ignore[assignment]  # for the length of one walk only
    threading.setprofile(profile)
    sys.setprofile(profile)
    try:
        yield calls
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
        anyio.to_thread.run_sync = original


async def walk(request: Callable[[], Awaitable[object]]) -> Walk:
    """The walk of `request` (an awaitable call of an ASGI client on the app's own event loop)."""
    with _recording() as calls:
        await request()
    # A middleware's `__init__` runs once, when the app builds its stack on the first request: not a request's walk.
    return Walk([(a, b) for a, b in calls if not (b[1] == "__init__" and b[0].startswith("api/middleware/"))])
