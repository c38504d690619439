"""Part 8, streaming: what Stackyard adds to a stream's first chunk and to each chunk after it, against calling
Haystack's `Pipeline.stream()` on the same pipeline in this process; then many streams at once on one server.

The pipeline is a chat prompt builder and a `MockChatGenerator` whose reply has `stream_chunks` words: it streams a
chunk per word with no wait, so what is timed is the path a chunk takes (worker, socket, server, HTTP), not a
model. One stream at a time, the two sides alternate; the medians over `stream_rounds` streams are compared.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.client
import json
import shutil
import statistics
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from bench import processes
from bench.floor import load_pipeline
from bench.plan import Plan
from bench.report import Section, Table, ms, num

QUESTION = {"question": "Where are haystacks kept?"}
WRAPPERS = Path(__file__).parent / "hayhooks_wrappers"  # Hayhooks' side: a Python wrapper per pipeline
_YAML = {"Content-Type": "application/yaml"}


def chat_pipeline(llm: str) -> str:
    """A chat prompt builder feeding the chat model `llm` (its `type` and `init_parameters`, as YAML)."""
    return f"""\
components:
  prompt:
    type: haystack.components.builders.chat_prompt_builder.ChatPromptBuilder
    init_parameters:
      required_variables: [question]
      template: |
        {{% message role="user" %}}{{{{ question }}}}{{% endmessage %}}
  llm:
{llm}connections:
  - sender: prompt.prompt
    receiver: llm.messages
"""


def chat_yaml(words: int) -> str:
    """Haystack's `MockChatGenerator`, answering `words` words."""
    reply = " ".join(f"word{index}" for index in range(words))
    mock = "haystack.components.generators.chat.mock.MockChatGenerator"
    return chat_pipeline(
        f"    type: {mock}\n    init_parameters: {{responses: [{{role: assistant, content: [{{text: '{reply}'}}]}}]}}\n"
    )


def paced_yaml(words: int) -> str:
    """A chat model that streams at a model's pace (`bench.corpus.PacedChat`)."""
    parameters = f"{{words: {words}, first_ms: {PACED_FIRST_MS}, pace_ms: {PACED_GAP_MS}}}"
    return chat_pipeline(f"    type: bench.corpus.PacedChat\n    init_parameters: {parameters}\n")


def paced_chat_yaml(words: int) -> str:
    """`paced_yaml`, declared a chat model: what Stackyard serves on its OpenAI-compatible route."""
    return (
        paced_yaml(words)
        + """\
inputs:
  question: prompt.question
outputs:
  reply: llm.replies
metadata:
  chat: {input: question, output: reply}
"""
    )


PACED_FIRST_MS = 20.0  # a model's time to its first token, short of a real one's so rounds stay quick
PACED_GAP_MS = 2.0


def _direct(text: str) -> tuple[float, float, int]:
    """First-chunk time and mean gap between chunks (s) of `Pipeline.stream()` called here, and the chunk count."""
    pipeline = load_pipeline(text)

    async def stream() -> tuple[float, float, int]:
        began = time.perf_counter()
        first = last = 0.0
        count = 0
        async for _chunk in pipeline.stream({"prompt": QUESTION}):
            last = time.perf_counter()
            if count == 0:
                first = last
            count += 1
        return first - began, (last - first) / max(count - 1, 1), count

    try:
        return _LOOP.run(stream())
    finally:
        pipeline.close()


# One event loop for every direct stream, as a server calling `Pipeline.stream()` would have: a new loop each time
# (`asyncio.run`) would add its own start-up to Haystack's side and flatter Stackyard's.
_LOOP = asyncio.Runner()


class Reader:
    """Reads streamed answers of one server with the standard library's `http.client`, on one kept-alive
    connection. Not httpx, whose own handling of a streamed answer took about 1.2 ms of each first chunk in a
    side-by-side check here (the same server and stream, read both ways): time that is the client's, the same
    whoever serves, and would hide what the server adds."""

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)

    def lines(self, path: str, body: object, headers: dict[str, str] | None = None) -> Iterator[bytes]:
        """POST `body` as JSON; the answer's lines as they arrive, without their line ends."""
        sent = {"Content-Type": "application/json", **(headers or {})}
        self.connection.request("POST", path, json.dumps(body), sent)
        answer = self.connection.getresponse()
        if answer.status != 200:
            raise RuntimeError(f"POST {path} answered {answer.status}: {answer.read()[:300]!r}")
        while line := answer.readline():
            yield line.rstrip(b"\r\n")  # Server-Sent Events may end lines with CRLF (Hayhooks does)

    def close(self) -> None:
        self.connection.close()


def _through(reader: Reader, name: str = "streamer") -> tuple[float, float, int]:
    """The same, through Stackyard's streaming run (Server-Sent Events over HTTP)."""
    began = time.perf_counter()
    first = last = 0.0
    count = 0
    for line in reader.lines(f"/pipelines/{name}/run", {"data": QUESTION}, {"Accept": "text/event-stream"}):
        if line == b"event: chunk":
            last = time.perf_counter()
            if count == 0:
                first = last
            count += 1
    return first - began, (last - first) / max(count - 1, 1), count


def _chat(reader: Reader, model: str) -> tuple[float, float, int]:
    """First-chunk time and mean gap (s) of a streamed chat completion on an OpenAI-compatible route, counting the
    chunks that carry content (a server may send the role, or the finish, in a chunk of its own)."""
    body = {"model": model, "messages": [{"role": "user", "content": QUESTION["question"]}], "stream": True}
    began = time.perf_counter()
    first = last = 0.0
    count = 0
    for line in reader.lines("/v1/chat/completions", body):
        if not line.startswith(b"data: {"):
            continue
        choices = json.loads(line.removeprefix(b"data: "))["choices"]
        if choices and choices[0]["delta"].get("content"):
            last = time.perf_counter()
            if count == 0:
                first = last
            count += 1
    return first - began, (last - first) / max(count - 1, 1), count


def _chat_rounds(plan: Plan, folder: Path, words: int, stackyard: httpx.Client) -> tuple[list[Timings], list[str]]:
    """The paced chat model on OpenAI-compatible routes, alternating with the direct call: Stackyard's, and
    Hayhooks' (from its Python wrapper, on the same core) when the plan has Hayhooks."""
    answer = stackyard.put("/pipelines/paced-chat", content=paced_chat_yaml(words), headers=_YAML)
    answer.raise_for_status()
    with contextlib.ExitStack() as stack:
        ours = stack.enter_context(contextlib.closing(Reader(str(stackyard.base_url))))
        chats: list[Callable[[], tuple[float, float, int]]] = [functools.partial(_chat, ours, "paced-chat")]
        labels = ["Stackyard on one core"]
        if plan.hayhooks is not None:
            wrappers = folder / "hayhooks-wrappers"
            shutil.copytree(WRAPPERS, wrappers, dirs_exist_ok=True)
            (wrappers / "paced" / "paced.yml").write_text(paced_yaml(words))
            hayhooks = stack.enter_context(processes.hayhooks(folder, plan.hayhooks, wrappers))
            theirs = stack.enter_context(contextlib.closing(Reader(hayhooks.url)))
            chats.append(functools.partial(_chat, theirs, "paced"))
            labels.append("Hayhooks on one core")
        sides = _rounds(plan, paced_yaml(words), chats)
    return sides, labels


async def _many(url: str, streams: int, chunks: int) -> tuple[int, float]:
    """`streams` streams at once, each read to its end: how many failed (not 200, or not every chunk and the
    result), and the seconds until the last ended."""
    limits = httpx.Limits(max_connections=streams, max_keepalive_connections=streams)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:

        async def one() -> bool:
            body = {"data": QUESTION}
            headers = {"Accept": "text/event-stream"}
            try:
                async with client.stream("POST", "/pipelines/streamer/run", json=body, headers=headers) as answer:
                    if answer.status_code != 200:
                        return False
                    seen = [line async for line in answer.aiter_lines() if line.startswith("event: ")]
            except httpx.HTTPError:
                return False
            return seen.count("event: chunk") == chunks and seen[-1] == "event: result"

        began = time.perf_counter()
        done = await asyncio.gather(*(one() for _ in range(streams)))
        return done.count(False), time.perf_counter() - began


Timings = list[tuple[float, float, int]]


def _rounds(plan: Plan, text: str, servers: list[Callable[[], tuple[float, float, int]]]) -> list[Timings]:
    """`plan.stream_rounds` streams on each side, alternating: `text` called directly first, then each server's
    stream of it (`servers`: one measurement each)."""
    sides: list[Timings] = [[] for _ in range(1 + len(servers))]
    for measure in servers:
        measure()
    _direct(text)  # imports and first-run costs, on neither side of the comparison
    for _ in range(plan.stream_rounds):
        sides[0].append(_direct(text))
        for side, measure in zip(sides[1:], servers, strict=True):
            side.append(measure())
    return sides


def _median(timings: Timings, field: int, scale: float) -> float:
    return statistics.median(item[field] for item in timings) * scale


def run(plan: Plan) -> Section:
    folder = plan.work / "streams"
    folder.mkdir(parents=True, exist_ok=True)
    burst_text = chat_yaml(plan.stream_chunks)
    paced_words = min(plan.stream_chunks, 50)
    paced_text = paced_yaml(paced_words)
    texts = {"streamer": burst_text, "paced": paced_text}
    for name, text in texts.items():
        (folder / f"{name}.yml").write_text(text)
    env = {"STACKYARD_MAX_CONCURRENT_RUNS": str(plan.streams), "STACKYARD_MAX_QUEUED_RUNS": str(plan.streams)}
    # The server twice: held to one core (as the other parts run it), where the worker making chunks and the
    # server passing them on take turns on that core; and free on the machine's cores, as it runs when started.
    # The floor, a bare Starlette endpoint streaming `Pipeline.stream()` on one core too, shows what serving a
    # stream over HTTP costs at the least, whoever serves it.
    with (
        processes.stackyard(folder, [], env=env) as server,
        processes.stackyard(folder, [], env=env, cpus=None) as unpinned,
        processes.floor(folder, [folder / f"{name}.yml" for name in texts]) as floor,
        httpx.Client(base_url=server.url, timeout=60) as client,
        httpx.Client(base_url=unpinned.url, timeout=60) as free_client,
        contextlib.closing(Reader(floor.url)) as floor_reader,
        contextlib.closing(Reader(server.url)) as reader,
        contextlib.closing(Reader(unpinned.url)) as free_reader,
    ):
        for http in (client, free_client):
            for name, text in texts.items():
                http.put(f"/pipelines/{name}", content=text, headers=_YAML).raise_for_status()
        sides = [floor_reader, reader, free_reader]
        burst = _rounds(plan, burst_text, [functools.partial(_through, http, "streamer") for http in sides])
        paced = _rounds(plan, paced_text, [functools.partial(_through, http, "paced") for http in sides])
        floor.stop()
        unpinned.stop()
        chat, chat_labels = _chat_rounds(plan, folder, paced_words, client)
        peak = [server.pss_mib()]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.1):
                peak.append(server.pss_mib())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        failed, seconds = asyncio.run(_many(server.url, plan.streams, plan.stream_chunks))
        stop.set()
        sampler.join()
        idle = server.pss_mib()
    firsts = [[_median(side, 0, 1000) for side in leg] for leg in (burst, paced)]
    gaps = [[_median(side, 1, 1e6) for side in leg] for leg in (burst, paced)]
    labels = ["the floor on one core", "Stackyard on one core", "Stackyard on the machine's cores"]
    rows = []
    for leg, title in enumerate([f"a burst of {plan.stream_chunks} chunks", f"{paced_words} chunks at a model's pace"]):
        first, gap = firsts[leg], gaps[leg]
        rows.append([f"{title}: `Pipeline.stream()` in this process", ms(first[0]), num(gap[0])])
        for index, label in enumerate(labels, start=1):
            rows.append([f"{title}: {label}", ms(first[index]), num(gap[index])])
            rows.append([f"{title}: added by {label}", ms(first[index] - first[0]), num(gap[index] - gap[0])])
        rows.append([f"{title}: Stackyard on one core beyond the floor", ms(first[2] - first[1]), num(gap[2] - gap[1])])
    chat_first = [_median(side, 0, 1000) for side in chat]
    chat_gap = [_median(side, 1, 1e6) for side in chat]
    chat_rows = [["`Pipeline.stream()` in this process", ms(chat_first[0]), num(chat_gap[0])]]
    for index, label in enumerate(chat_labels, start=1):
        chat_rows.append([label, ms(chat_first[index]), num(chat_gap[index])])
        chat_rows.append(
            [f"added by {label}", ms(chat_first[index] - chat_first[0]), num(chat_gap[index] - chat_gap[0])]
        )
    many = [
        [
            f"{plan.streams} streams of {plan.stream_chunks} chunks at once",
            str(failed),
            f"{seconds:.1f}",
            f"{plan.streams * plan.stream_chunks / seconds:,.0f}",
            f"{max(peak):.0f}",
            f"{idle:.0f}",
        ]
    ]
    counts = {item[2] for leg in burst for item in leg}
    return Section(
        part="8-streams",
        title="8. Streaming",
        text=(
            "Two chat pipelines, a chat prompt builder feeding a chat model that needs no model: "
            f"Haystack's `MockChatGenerator`, which streams a {plan.stream_chunks}-word reply as a burst (a chunk per "
            "word with no wait), and `bench.corpus.PacedChat`, which streams "
            f"{paced_words} words at a model's pace (the first after {PACED_FIRST_MS:g} ms, then one every "
            f"{PACED_GAP_MS:g} ms). One stream at a time, {plan.stream_rounds} times each, alternating: the time "
            "from the call (Stackyard: from sending the request) to the first chunk, and the mean gap between chunks "
            "after it, for Haystack's `Pipeline.stream()` called in the benchmark process (on one event loop kept "
            "for every call, as a server would) and for the same pipeline streamed by Stackyard as Server-Sent "
            "Events over HTTP (medians; read with the standard library's `http.client`, as `bench.streams.Reader` "
            "says why), held to one core (server and workers on core 0, as the other parts run it) "
            "and free on the machine's cores. The floor (`bench/floor.py`: a bare Starlette endpoint that streams "
            "`Pipeline.stream()` as Server-Sent Events, on core 0 too) shows what serving a stream over HTTP costs "
            "at the least, whoever serves it. The burst measures what each chunk costs: its first chunk also "
            "waits while the server takes in the burst behind it. The paced stream measures what a reader of a "
            "model's stream waits for: each chunk travels alone, as tokens do. Then many streams at once on one "
            "`stackyard serve` (pinned to one core, workers included), each read to its end: failed streams (not "
            "200, a chunk missing, or no result), and the proportional set size of the server's processes, at its "
            "peak during the streams and after them. Goals: at most 2 ms added to the first chunk and 0.2 ms to "
            "each chunk after it; 0 failed streams. Last, the paced pipeline as a chat model streamed on the "
            "OpenAI-compatible route (`POST /v1/chat/completions`, `stream: true`; chunks with content counted), "
            "by Stackyard and by Hayhooks side by side, both on core 0. Hayhooks streams no YAML-deployed "
            "pipeline, so its side is a Python pipeline wrapper (`bench/hayhooks_wrappers/paced/`) that loads "
            "the same YAML and streams it with Hayhooks' `streaming_generator`, as its documentation shows."
        ),
        tables=[
            Table(["one stream at a time", "first chunk, ms", "between chunks, µs"], rows),
            Table(["OpenAI-compatible chat, paced, one at a time", "first chunk, ms", "between chunks, µs"], chat_rows),
            Table(["load", "failed", "seconds", "chunks/s", "peak PSS MiB", "PSS after MiB"], many),
        ],
        notes=[f"Chunks per burst seen: {sorted(counts)} (the reply's {plan.stream_chunks} words)."],
        headline={
            "Streaming: first chunk added by Stackyard at a model's pace, one core (ms)": (
                f"{firsts[1][2] - firsts[1][0]:.2f}"
            ),
            "Streaming: first chunk added by the floor at a model's pace, one core (ms)": (
                f"{firsts[1][1] - firsts[1][0]:.2f}"
            ),
            "Streaming: first chunk added by Stackyard at a model's pace, machine's cores (ms)": (
                f"{firsts[1][3] - firsts[1][0]:.2f}"
            ),
            "Streaming: first chunk of a burst added by Stackyard on one core (ms)": (
                f"{firsts[0][2] - firsts[0][0]:.2f}"
            ),
            "Streaming: added per chunk of a burst on one core (µs)": f"{gaps[0][2] - gaps[0][0]:.0f}",
            **{
                f"Streaming: first chat chunk added by {label} (ms)": f"{chat_first[index] - chat_first[0]:.2f}"
                for index, label in enumerate(chat_labels, start=1)
            },
            f"Streaming: failed of {plan.streams} concurrent streams": str(failed),
            f"Streaming: peak PSS during {plan.streams} streams (MiB)": f"{max(peak):.0f}",
        },
    )
