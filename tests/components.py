"""Components the tests use to observe the server from inside a run: a gate a run waits at, a closing log and a
run counter.

Runs happen in worker processes, so what these components tell the test goes through files in one folder per test
process (`STACKYARD_TEST_SIGNALS`, set by conftest before any worker starts; workers and server processes inherit
it): a flag is a file that exists once set.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from haystack import component
from haystack.dataclasses import ChatMessage

SIGNALS = Path(os.environ.get("STACKYARD_TEST_SIGNALS") or tempfile.mkdtemp(prefix="stackyard-signals-"))


class Signal:
    """A flag every process of a test run sees: set once, never cleared."""

    def __init__(self, name: str) -> None:
        self.path = SIGNALS / name

    def set(self) -> None:
        self.path.touch()

    def is_set(self) -> bool:
        return self.path.exists()

    def wait(self, timeout: float | None = None) -> bool:
        """Whether the flag was set within `timeout` seconds (None: however long it takes)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.path.exists():
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.005)  # the pace of polling only
        return True


class _Gates:
    """key -> (entered, release): the test waits for `entered`, then sets `release` to let the run finish."""

    def __getitem__(self, key: str) -> tuple[Signal, Signal]:
        return Signal(f"gate-{key}.entered"), Signal(f"gate-{key}.release")


class _Lines:
    """The lines appended to one file by any process, read as a list."""

    def __init__(self, name: str) -> None:
        self.path = SIGNALS / name

    def append(self, line: str) -> None:
        with self.path.open("a", encoding="utf-8") as file:  # one short write in append mode: atomic
            file.write(line + "\n")

    def lines(self) -> list[str]:
        return self.path.read_text(encoding="utf-8").splitlines() if self.path.exists() else []

    def __contains__(self, line: object) -> bool:
        return line in self.lines()


class _Runs:
    """key -> how many times a `Counter` with that key has run."""

    def __getitem__(self, key: str) -> int:
        return len(_Lines(f"runs-{key}").lines())

    def count(self, key: str) -> None:
        _Lines(f"runs-{key}").append("run")


GATES = _Gates()
CLOSED = _Lines("closed")
RUNS = _Runs()


@component
class Gate:
    """Answers `reply`, but only after the test opens the gate named `key`."""

    def __init__(self, key: str, reply: str) -> None:
        self.key = key
        self.reply = reply

    @component.output_types(text=str)
    def run(self, text: str) -> dict[str, str]:
        entered, release = GATES[self.key]
        entered.path.write_text(str(os.getpid()))  # set, naming the worker that runs it
        if not release.wait(timeout=30):
            raise TimeoutError("the test never opened the gate")
        return {"text": f"{self.reply}: {text}"}

    def close(self) -> None:
        CLOSED.append(f"{self.key}/{self.reply}")


@component
class StreamingGate:
    """Streams `before` words, waits at the gate named `key`, then streams `after` and answers them all: a stream
    the test can hold in the middle."""

    def __init__(self, key: str, before: str, after: str) -> None:
        self.key = key
        self.before = before
        self.after = after

    @component.output_types(replies=list[ChatMessage])
    def run(self, question: str, streaming_callback: Any = None) -> dict[str, list[ChatMessage]]:
        from haystack.dataclasses import ComponentInfo, StreamingChunk

        info = ComponentInfo.from_component(self)

        def say(words: str) -> None:
            for word in words.split():
                if streaming_callback is not None:
                    streaming_callback(StreamingChunk(content=word + " ", component_info=info))

        say(self.before)
        entered, release = GATES[self.key]
        entered.path.write_text(str(os.getpid()))  # set, naming the worker that runs it
        if not release.wait(timeout=30):
            raise TimeoutError("the test never opened the gate")
        say(self.after)
        return {"replies": [ChatMessage.from_assistant(f"{self.before} {self.after}")]}


@component
class Explode:
    """Raises on every run: a component failure the server must count as `failed`."""

    @component.output_types(text=str)
    def run(self, text: str) -> dict[str, str]:
        raise RuntimeError("the component broke")


@component
class Counter:
    """Counts its runs under `key`: proof of whether a run executed at all, whatever the answer said."""

    def __init__(self, key: str) -> None:
        self.key = key

    @component.output_types(text=str)
    def run(self, text: str) -> dict[str, str]:
        RUNS.count(self.key)
        return {"text": text}


@component
class SlowToBuild:
    """Spends `seconds` of CPU while it is built: a definition that takes too long to build."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            pass

    @component.output_types(text=str)
    def run(self, text: str) -> dict[str, str]:
        return {"text": text}


@component
class Spin:
    """Keeps a CPU busy for `seconds` on every run (forever when None): runaway or CPU-bound work."""

    def __init__(self, seconds: float | None = None) -> None:
        self.seconds = seconds

    @component.output_types(text=str)
    def run(self, text: str) -> dict[str, str]:
        deadline = None if self.seconds is None else time.monotonic() + self.seconds
        total = 0
        while deadline is None or time.monotonic() < deadline:
            total += 1
        return {"text": f"{text} {total > 0}"}


@component
class Allocate:
    """Asks for `size` bytes on every run: work that passes the worker's memory limit."""

    def __init__(self, size: int) -> None:
        self.size = size

    @component.output_types(text=str)
    def run(self, text: str) -> dict[str, str]:
        block = bytearray(self.size)
        return {"text": f"{text} {len(block)}"}


@component
class Occupy:
    """Holds its worker until the test sets the signal `key`, leaving a file named after the worker's process id
    while it runs: the test counts the workers this pipeline occupies (a worker that is ended leaves its file, so
    the test checks which of them are still alive)."""

    def __init__(self, key: str) -> None:
        self.key = key

    @component.output_types(text=str)
    def run(self, text: str) -> dict[str, str]:
        mine = SIGNALS / f"occupy-{self.key}-{os.getpid()}"
        mine.touch()
        try:
            Signal(self.key).wait(60)
        finally:
            mine.unlink()
        return {"text": text}


def occupying(key: str) -> list[int]:
    """The process ids of the workers running an `Occupy` of `key` now."""
    pids = [int(path.name.rsplit("-", 1)[1]) for path in SIGNALS.glob(f"occupy-{key}-*")]
    return [pid for pid in pids if alive(pid)]


def alive(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie, ended but not yet reaped by its parent, does not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


@component
class Attempt:
    """Tries one thing component code might do, named by `action` with `target`, and answers what happened:
    `done: ...` or `refused: <error type>: <message>`. The worker's rules must hold for any code that runs there."""

    @component.output_types(outcome=str)
    def run(self, action: str, target: str) -> dict[str, str]:
        try:
            return {"outcome": f"done: {_attempt(action, target)}"}
        except OSError as error:
            return {"outcome": f"refused: {type(error).__name__}: {error}"}


def _attempt(action: str, target: str) -> str:
    if action == "env":
        return ",".join(sorted(os.environ))
    if action == "read":
        return Path(target).read_text(errors="replace")[:200]
    if action == "write":
        Path(target).write_text("written")
        return target
    if action == "connect":
        host, port = target.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5):
            return target
    if action == "program":
        return subprocess.run([target], capture_output=True, check=False).stdout.decode()
    if action == "temp":
        with tempfile.NamedTemporaryFile(delete=False) as file:
            file.write(b"scratch")
        return file.name
    raise ValueError(f"no such action: {action}")


@component
class FormattingChat:
    """A chat generator (it takes `tools`, as an Agent asks of one) with a parameter typed as a callable under a name
    no list of callable parameters holds: the policy finds it by its type, wherever Haystack builds it."""

    def __init__(self, formatter: Callable[[str], str] | None = None) -> None:
        self.formatter = formatter

    @component.output_types(replies=list[ChatMessage])
    def run(self, messages: list[ChatMessage], tools: list[Any] | None = None) -> dict[str, list[ChatMessage]]:
        return {"replies": [ChatMessage.from_assistant(messages[-1].text or "")]}


class _Meeting:
    """One run's arrival at the rendezvous `key` (any process), and whether all `count` have arrived; past 30 s
    without them, the run fails."""

    def __init__(self, key: str, count: int) -> None:
        self.arrived = _Lines(f"rendezvous-{key}")
        self.arrived.append(str(os.getpid()))
        self.count = count
        self.deadline = time.monotonic() + 30

    def complete(self) -> bool:
        if time.monotonic() > self.deadline:
            raise TimeoutError("the other runs never came")
        return len(self.arrived.lines()) >= self.count

    async def reached(self) -> None:
        """Wait on the event loop until everyone has arrived."""
        while True:
            if self.complete():
                return
            await asyncio.sleep(0.005)  # the pace of polling only


@component
class Rendezvous:
    """Waits until `count` runs of it (any process) have arrived under `key`, then answers: runs that were not
    under way at the same time never meet, and the first one fails after 30 s."""

    def __init__(self, key: str, count: int) -> None:
        self.key = key
        self.count = count

    @component.output_types(text=str)
    def run(self, text: str) -> dict[str, str]:
        meeting = _Meeting(self.key, self.count)
        while not meeting.complete():
            time.sleep(0.005)  # the pace of polling only
        return {"text": f"{text} {os.getpid()}"}


@component
class AsyncRendezvous:
    """`Rendezvous` with a native `run_async` that waits on the event loop: it holds no thread while it waits."""

    def __init__(self, key: str, count: int) -> None:
        self.key = key
        self.count = count

    @component.output_types(text=str)
    def run(self, text: str) -> dict[str, str]:
        raise RuntimeError("the cell awaits run_async for a component that has one")

    @component.output_types(text=str)
    async def run_async(self, text: str) -> dict[str, str]:
        await _Meeting(self.key, self.count).reached()
        return {"text": f"{text} {os.getpid()}"}


@component
class Crash:
    """Ends its process on every run, as a segfault in a native library would."""

    @component.output_types(text=str)
    def run(self, text: str) -> dict[str, str]:
        os.kill(os.getpid(), signal.SIGKILL)
        return {"text": text}


@component
class Warmed:
    """Counts its warm-ups under `key` (a model load, as far as the server can tell) and answers `text` + `tag`."""

    def __init__(self, key: str, tag: str = "") -> None:
        self.key = key
        self.tag = tag
        self.model: str | None = None

    def warm_up(self) -> None:
        if self.model is None:
            _Lines(f"warm-{self.key}").append(str(os.getpid()))
            self.model = f"model-{self.key}"

    @component.output_types(text=str)
    def run(self, text: str) -> dict[str, str]:
        return {"text": f"{text} {self.model} {self.tag}"}


def warm_ups(key: str) -> list[str]:
    """The process ids of the cells where a `Warmed` of `key` warmed up, one line per warm-up."""
    return _Lines(f"warm-{key}").lines()


@component
class AsyncStreamingRendezvous:
    """A chat model that streams one chunk at once, then waits on the event loop until `count` streams of it are
    under way: streams meet only if none of them holds a thread while it waits."""

    def __init__(self, key: str, count: int) -> None:
        self.key = key
        self.count = count

    @component.output_types(replies=list[ChatMessage])
    def run(self, question: str, streaming_callback: Any = None) -> dict[str, list[ChatMessage]]:
        raise RuntimeError("the cell awaits run_async for a component that has one")

    @component.output_types(replies=list[ChatMessage])
    async def run_async(self, question: str, streaming_callback: Any = None) -> dict[str, list[ChatMessage]]:
        from haystack.dataclasses import StreamingChunk

        if streaming_callback is not None:
            await streaming_callback(StreamingChunk(content=f"{question} "))
        await _Meeting(self.key, self.count).reached()
        return {"replies": [ChatMessage.from_assistant(f"{question} met")]}


@component
class Big:
    """Answers a string of `size` characters: an answer far larger than a server should buffer."""

    def __init__(self, size: int) -> None:
        self.size = size

    @component.output_types(text=str)
    def run(self, text: str) -> dict[str, str]:
        return {"text": text * self.size}


@component
class Hoard:
    """Fills `size` bytes of memory (written, so they are resident) and holds them until the test sets `key`."""

    def __init__(self, size: int, key: str) -> None:
        self.size = size
        self.key = key

    @component.output_types(text=str)
    def run(self, text: str) -> dict[str, str]:
        block = bytearray(b"\x01") * self.size
        Signal(self.key).wait(30)
        return {"text": f"{text} {len(block)}"}
