"""Components the tests use to observe the server from inside a run: a gate a run waits at, and a closing log."""

from __future__ import annotations

import threading
from collections import defaultdict

from haystack import component

# key -> (entered, release): the test waits for `entered`, then sets `release` to let the run finish.
GATES: dict[str, tuple[threading.Event, threading.Event]] = defaultdict(lambda: (threading.Event(), threading.Event()))
CLOSED: list[str] = []


@component
class Gate:
    """Answers `reply`, but only after the test opens the gate named `key`."""

    def __init__(self, key: str, reply: str) -> None:
        self.key = key
        self.reply = reply

    @component.output_types(text=str)
    def run(self, text: str) -> dict[str, str]:
        entered, release = GATES[self.key]
        entered.set()
        if not release.wait(timeout=30):
            raise TimeoutError("the test never opened the gate")
        return {"text": f"{self.reply}: {text}"}

    def close(self) -> None:
        CLOSED.append(f"{self.key}/{self.reply}")


@component
class Explode:
    """Raises on every run: a component failure the server must count as `failed`."""

    @component.output_types(text=str)
    def run(self, text: str) -> dict[str, str]:
        raise RuntimeError("the component broke")


# key -> how many times a `Counter` with that key has run.
RUNS: dict[str, int] = defaultdict(int)


@component
class Counter:
    """Counts its runs under `key`: proof of whether a run executed at all, whatever the answer said."""

    def __init__(self, key: str) -> None:
        self.key = key

    @component.output_types(text=str)
    def run(self, text: str) -> dict[str, str]:
        RUNS[self.key] += 1
        return {"text": text}
