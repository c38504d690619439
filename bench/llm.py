"""Part 9, LLM apps: many users waiting on a model at once. A chat pipeline (a chat prompt builder feeding
Haystack's real `OpenAIChatGenerator`) whose model is a fake OpenAI-compatible server on 127.0.0.1 that answers
each chat completion after a fixed model time, with no CPU spent on it; `users` users then each send one run at the
same moment, plain and streamed, to Stackyard and to the floor.

Why: an LLM app's runs spend nearly all their time waiting on the model, so what decides how many users a server
serves at once is how many runs it can keep waiting together, not the CPU of a run. A server that holds a thread
per waiting run answers in batches of its threads (the floor: Starlette's threadpool of 40), one that awaits the
model answers everyone after about the model's time. Measured for each side and user count: when the last user
was answered, the p50 and p99 of the users' times, and the runs that failed (with why).

The fake model (`create_fake`) is an asyncio Starlette app under uvicorn in a process of its own, pinned with the
load generator to core 1: a plain completion answers after the model's time, a streamed one sends its reply's
words spread over the model's time (the last one at the model's time) as OpenAI's chunks, then `data: [DONE]`.
The floor is `bench/floor.py`: `Pipeline.run` in Starlette's threadpool, or `Pipeline.stream()` on the event loop
when the request accepts Server-Sent Events.

    BENCH_MODEL_SECONDS=2 python -m uvicorn bench.llm:create_fake --factory --port 9100
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import sys
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bench import processes
from bench.load import median, percentile
from bench.plan import Plan
from bench.report import Section, Table, ms
from bench.streams import chat_pipeline

MODEL = "fake-gpt"
WORDS = 10  # words in the model's reply: chunks of a streamed completion
REPLY = "".join(f"word{index} " for index in range(WORDS)).rstrip()
QUESTION = {"question": "Where are haystacks kept?"}
KEY_ENV = {"OPENAI_API_KEY": "fake"}  # the key the generator sends; the fake model does not check it
SIDES = ("Stackyard", "floor")
MODES = ("plain", "streamed")
_YAML = {"Content-Type": "application/yaml"}


@dataclass(frozen=True)
class Sizes:
    """The model's time and the user counts: the issue's, or tiny ones for the smoke run."""

    model_seconds: float
    users: tuple[int, ...]
    rounds: int  # waves of each side, user count and mode; tables show their median

    @classmethod
    def of(cls, plan: Plan) -> Sizes:
        if plan.smoke:
            return cls(model_seconds=0.2, users=(4, 8), rounds=1)
        return cls(model_seconds=2.0, users=(64, 256), rounds=plan.rounds)


def chat_yaml(base_url: str) -> str:
    """A chat prompt builder feeding `OpenAIChatGenerator` at `base_url`, its key read from OPENAI_API_KEY."""
    llm = {
        "api_base_url": base_url,
        "api_key": {"type": "env_var", "env_vars": ["OPENAI_API_KEY"], "strict": True},
        "model": MODEL,
        "max_retries": 0,  # a failed completion is counted as failed, not hidden by a retry
        "timeout": 60,
    }
    generator = "haystack.components.generators.chat.openai.OpenAIChatGenerator"
    return chat_pipeline(f"    type: {generator}\n    init_parameters: {json.dumps(llm)}\n")


# -- the fake model ---------------------------------------------------------------------------------------------


def create_fake() -> Starlette:
    """An OpenAI-compatible chat model that answers after `BENCH_MODEL_SECONDS`, waiting on asyncio alone."""
    seconds = float(os.environ["BENCH_MODEL_SECONDS"])
    gap = seconds / WORDS
    words = [f"word{index} " if index < WORDS - 1 else f"word{index}" for index in range(WORDS)]

    async def completions(request: Request) -> Response:
        body = await request.json()
        if body.get("stream"):
            return StreamingResponse(_chunks(words, gap), media_type="text/event-stream")
        await asyncio.sleep(seconds)
        message = {"role": "assistant", "content": REPLY}
        return JSONResponse(
            {
                **_envelope("chat.completion"),
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 12, "completion_tokens": WORDS, "total_tokens": 12 + WORDS},
            }
        )

    async def ready(request: Request) -> Response:
        return JSONResponse({"status": "ready"})

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"]), Route("/readyz", ready)])


async def _chunks(words: list[str], gap: float) -> AsyncIterator[str]:
    """OpenAI's stream of a completion: the role with the first word, a word every `gap` s, the finish, [DONE]."""
    for index, word in enumerate(words):
        await asyncio.sleep(gap)
        yield _chunk({"role": "assistant", "content": word} if index == 0 else {"content": word})
    yield _chunk({}, finish_reason="stop")
    yield "data: [DONE]\n\n"


def _envelope(kind: str) -> dict[str, Any]:
    return {"id": "chatcmpl-bench", "object": kind, "created": int(time.time()), "model": MODEL}


def _chunk(delta: dict[str, str], finish_reason: str | None = None) -> str:
    choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
    return f"data: {json.dumps({**_envelope('chat.completion.chunk'), 'choices': [choice]})}\n\n"


def fake_model(cwd: Path, seconds: float) -> processes.Server:
    """The fake model, on the load generator's core: it waits, it does not compute."""
    port = processes.free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.llm:create_fake", "--factory", "--port", str(port)]
    command += ["--no-access-log", "--log-level", "warning"]
    env = {"BENCH_MODEL_SECONDS": str(seconds)}
    return processes.start(
        "fake-model", command, port=port, ready_path="/readyz", cwd=cwd, env=env, cpus=processes.LOAD_CPU
    )


# -- the users ----------------------------------------------------------------------------------------------------


@dataclass
class Wave:
    """`users` users who sent one run each at the same moment: when each answered one was answered (s, from the
    moment they sent), and why each failed one failed."""

    users: int
    answered: list[float] = field(default_factory=list)
    failures: collections.Counter[str] = field(default_factory=collections.Counter)

    @property
    def last(self) -> float:
        return max(self.answered, default=0.0)

    @property
    def failed(self) -> int:
        return self.users - len(self.answered)


async def _wave(url: str, users: int, *, streamed: bool) -> Wave:
    """One run per user, all sent at once, each on a connection of its own opened before (so the wave times the
    runs, not TCP handshakes); each answer read to its end and checked."""
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    connections = await asyncio.gather(*(asyncio.open_connection(host, port) for _ in range(users)))
    body = json.dumps({"data": QUESTION}).encode()
    head = f"POST /pipelines/chat/run HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(body)}\r\n" + ("Accept: text/event-stream\r\n" if streamed else "") + "\r\n"
    request = head.encode() + body
    wave = Wave(users)
    began = time.perf_counter()

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT):
                writer.write(request)
                status, content = await _answer(reader)
            failure = _check(status, content, streamed=streamed)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as error:
            failure = type(error).__name__
        if failure is None:
            wave.answered.append(time.perf_counter() - began)
        else:
            wave.failures[failure] += 1

    try:
        await asyncio.gather(*(one(reader, writer) for reader, writer in connections))
    finally:
        for _, writer in connections:
            writer.close()
    return wave


ANSWER_TIMEOUT = 120.0  # s a user waits for its whole answer; the servers' run timeouts are 60 s


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """An HTTP/1.1 answer read to its end: its status and body (by Content-Length, chunked, or to the close). The
    standard library's asyncio streams, not httpx: an httpx client held 256 connections at several seconds of CPU
    per wave here, on the core it shares with the fake model, which delayed every user's request."""
    status = int((await reader.readline()).split()[1])
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    if headers.get("transfer-encoding") != "chunked":
        return status, await reader.read()
    chunks = []
    while size := int((await reader.readline()).split(b";")[0], 16):
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)  # the chunk's CRLF
    while await reader.readline() not in (b"\r\n", b""):  # trailers, then the blank line that ends them
        pass
    return status, b"".join(chunks)


def _check(status: int, content: bytes, *, streamed: bool) -> str | None:
    """None when the answer carries the model's reply (streamed: its chunks make the reply and its last event is
    the result holding it); else why not."""
    text = content.decode(errors="replace")
    if status != 200:
        return f"{status} {_problem_type(text)}"
    if not streamed:
        return None if REPLY in text else "200 without the reply"
    events = list(_events_of(text))
    if not events or events[-1][0] != "result":
        kind, data = events[-1] if events else ("nothing", "")
        return f"stream ended with {kind}: {_problem_type(data)}" if kind == "error" else f"stream ended with {kind}"
    said = "".join(json.loads(data).get("content") or "" for kind, data in events if kind == "chunk")
    return None if said == REPLY and REPLY in events[-1][1] else "stream without the reply"


def _events_of(text: str) -> Iterator[tuple[str, str]]:
    """The (event, data) pairs of a Server-Sent Events body."""
    for block in text.replace("\r\n", "\n").split("\n\n"):
        kind, data = "message", ""
        for line in block.splitlines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = line.removeprefix("data: ")
        if data:
            yield kind, data


def _problem_type(body: str) -> str:
    """A problem's type (its last path segment) and rule, or the start of a body that is no problem."""
    try:
        problem = json.loads(body)
        kind = str(problem.get("type", "")).rsplit("/", 1)[-1]
        return kind + (f" ({problem['rule']})" if problem.get("rule") else "")
    except (ValueError, AttributeError):
        return body[:80]


# -- the part -----------------------------------------------------------------------------------------------------


@dataclass
class Figures:
    """One side, user count and mode, over its rounds: medians of the rounds' figures, failures summed."""

    last: float  # s
    p50: float  # s
    p99: float  # s
    failed: int
    failures: collections.Counter[str]

    @classmethod
    def of(cls, waves: list[Wave]) -> Figures:
        failures: collections.Counter[str] = collections.Counter()
        for wave in waves:
            failures.update(wave.failures)
        return cls(
            last=median([wave.last for wave in waves]),
            p50=median([percentile(wave.answered, 50) for wave in waves]),
            p99=median([percentile(wave.answered, 99) for wave in waves]),
            failed=sum(wave.failed for wave in waves),
            failures=failures,
        )


def _measure(urls: dict[str, str], sizes: Sizes) -> dict[tuple[str, int, str], Figures]:
    """Every side's waves, interleaved round by round so a neighbour's burst on the shared machine hits both."""
    for url in urls.values():
        for mode in MODES:  # first runs (imports, clients, connections to the model), not counted
            asyncio.run(_wave(url, 1, streamed=mode == "streamed"))
    waves: dict[tuple[str, int, str], list[Wave]] = collections.defaultdict(list)
    for users in sizes.users:
        for _ in range(sizes.rounds):
            for mode in MODES:
                for side, url in urls.items():
                    waves[side, users, mode].append(asyncio.run(_wave(url, users, streamed=mode == "streamed")))
    return {key: Figures.of(rounds) for key, rounds in waves.items()}


def run(plan: Plan) -> Section:
    sizes = Sizes.of(plan)
    folder = plan.work / "llm"
    folder.mkdir(parents=True, exist_ok=True)
    env = {
        "STACKYARD_ALLOWED_HOSTS": "127.0.0.1",  # the fake model's host: the one host component code may reach
        "STACKYARD_SECRET_ENV_ALLOWLIST": "OPENAI_API_KEY",
        **KEY_ENV,
    }
    with ExitStack() as stack:
        model = stack.enter_context(fake_model(folder, sizes.model_seconds))
        pipeline = folder / "chat.yml"
        pipeline.write_text(chat_yaml(f"{model.url}/v1"))
        stackyard = stack.enter_context(processes.stackyard(folder, [], env=env))
        with httpx.Client(base_url=stackyard.url, timeout=60) as client:
            client.put("/pipelines/chat", content=pipeline.read_text(), headers=_YAML).raise_for_status()
        servers = {
            "Stackyard": stackyard,
            "floor": stack.enter_context(processes.floor(folder, [pipeline], env=KEY_ENV)),
        }
        figures = _measure({side: server.url for side, server in servers.items()}, sizes)
    model_ms = sizes.model_seconds * 1000
    rows = []
    for (side, users, mode), measured in figures.items():
        floor_last = figures["floor", users, mode].last
        rows.append(
            [
                f"{users} users, {mode}",
                side,
                f"{measured.last:.2f}",
                f"{measured.last / floor_last:.2f}" if floor_last else "-",
                ms(measured.p50 * 1000),
                ms(measured.p50 * 1000 - model_ms),
                ms(measured.p99 * 1000),
                str(measured.failed),
            ]
        )
    notes = [
        f"Failed runs of {side}, {users} users, {mode}, by cause: "
        + ", ".join(f"{cause}: {count}" for cause, count in measured.failures.most_common())
        for (side, users, mode), measured in figures.items()
        if measured.failures
    ]
    first = sizes.users[0]
    ours, theirs = figures["Stackyard", first, "plain"], figures["floor", first, "plain"]
    ours_p50 = ours.p50 * 1000 - model_ms
    return Section(
        part="9-llm",
        title="9. Many users waiting on a model",
        text=(
            "A chat prompt builder feeding Haystack's `OpenAIChatGenerator`, pointed (`api_base_url`) at a fake "
            "OpenAI-compatible model on 127.0.0.1 (`bench.llm.create_fake`: asyncio Starlette under uvicorn, on core "
            f"1 with the load generator) that answers each chat completion after {sizes.model_seconds:g} s and "
            f"spends no CPU on it; streamed, its {WORDS}-word reply comes a word at a time over those "
            f"{sizes.model_seconds:g} s. {' and '.join(str(n) for n in sizes.users)} users each send one run at the "
            "same moment (HTTP/1.1 on asyncio streams, a connection each, opened before), plain "
            "(`POST /pipelines/chat/run`) and streamed (`Accept: text/event-stream`, read to the result event), to "
            "Stackyard (`stackyard serve` in its "
            "default configuration, workers included on core 0; the model's host allowed with "
            "`STACKYARD_ALLOWED_HOSTS`, its key an allow-listed secret) and to the floor (`bench/floor.py`, "
            "on core 0: `Pipeline.run` in Starlette's threadpool of 40 threads, `Pipeline.stream()` on the event "
            "loop). `last user` is when the last user was answered, from the moment all sent; p50 and p99 are of "
            f"every user's time; medians over {sizes.rounds} rounds, sides interleaved; `failed` counts runs "
            "not answered with the model's reply (summed over rounds; their causes are listed below). Goals (model "
            "time 2 s): Stackyard's last user within 2.6 s at 64 users and 3 s at 256, and its p50 within 100 ms "
            "of the model's time; the floor's plain runs wait for its 40 threads (about 4.2 s at 64 users). Where "
            "Stackyard's runs wait: a plain run of a pipeline with async components (this generator has "
            "`run_async`) is awaited on its cell's event loop and holds no thread; a streamed run runs in one of "
            "the cell's threads (`STACKYARD_CELL_THREADS`, 64 by default) for the model's whole time."
        ),
        tables=[
            Table(["users", "server", "last user s", "of floor", "p50 ms", "p50 - model ms", "p99 ms", "failed"], rows)
        ],
        notes=notes,
        headline={
            **{
                f"LLM app: last user answered at {users} users, Stackyard (s)": (
                    f"{figures['Stackyard', users, 'plain'].last:.2f}"
                )
                for users in sizes.users
            },
            f"LLM app: last user answered at {first} users, floor (s)": f"{theirs.last:.2f}",
            f"LLM app: p50 minus the model's time at {first} users, Stackyard (ms)": f"{ours_p50:.0f}",
            f"LLM app: failed runs of Stackyard over {' and '.join(str(n) for n in sizes.users)} users": str(
                sum(measured.failed for (side, _, _), measured in figures.items() if side == "Stackyard")
            ),
        },
    )
