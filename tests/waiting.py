"""Waiting for an observable condition, with a deadline: never a bare sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Poll `condition` until it holds; fail with `what` when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting until {what}")
        time.sleep(0.02)  # the pace of polling only; no assertion depends on it


async def until(condition: Callable[[], bool], what: str, within: float = 30) -> None:
    """`wait_until` for a test on the event loop, which must keep running for the condition to come true."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting until {what}")
        await asyncio.sleep(0.02)  # the pace of polling only; no assertion depends on it
