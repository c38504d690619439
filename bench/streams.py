"""Part 8, streaming: what Stackyard adds to a stream's first chunk and to each chunk after it, against calling
Haystack's `Pipeline.stream()` on the same pipeline in this process; then many streams at once on one server.

The pipeline is a chat prompt builder and a `MockChatGenerator` whose reply has `stream_chunks` words: it streams a
chunk per word with no wait, so what is timed is the path a chunk takes (worker, socket, server, HTTP), not a
model. One stream at a time, the two sides alternate; the medians over `stream_rounds` streams are compared.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time

import httpx

from bench import processes
from bench.floor import load_pipeline
from bench.plan import Plan
from bench.report import Section, Table, ms, num

QUESTION = {"question": "Where are haystacks kept?"}


def chat_yaml(words: int) -> str:
    reply = " ".join(f"word{index}" for index in range(words))
    return f"""\
components:
  prompt:
    type: haystack.components.builders.chat_prompt_builder.ChatPromptBuilder
    init_parameters:
      required_variables: [question]
      template: |
        {{% message role="user" %}}{{{{ question }}}}{{% endmessage %}}
  llm:
    type: haystack.components.generators.chat.mock.MockChatGenerator
    init_parameters:
      responses:
        - role: assistant
          content:
            - text: "{reply}"
connections:
  - sender: prompt.prompt
    receiver: llm.messages
"""


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
        return asyncio.run(stream())
    finally:
        pipeline.close()


def _through(client: httpx.Client) -> tuple[float, float, int]:
    """The same, through Stackyard's streaming run (Server-Sent Events over HTTP)."""
    began = time.perf_counter()
    first = last = 0.0
    count = 0
    body = {"data": QUESTION}
    with client.stream("POST", "/pipelines/streamer/run", json=body, headers={"Accept": "text/event-stream"}) as answer:
        answer.raise_for_status()
        for line in answer.iter_lines():
            if line == "event: chunk":
                last = time.perf_counter()
                if count == 0:
                    first = last
                count += 1
    return first - began, (last - first) / max(count - 1, 1), count


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


def run(plan: Plan) -> Section:
    folder = plan.work / "streams"
    folder.mkdir(parents=True, exist_ok=True)
    text = chat_yaml(plan.stream_chunks)
    _direct(text)  # imports and first-run costs, on neither side of the comparison
    direct: list[tuple[float, float, int]] = []
    through: list[tuple[float, float, int]] = []
    free: list[tuple[float, float, int]] = []
    env = {"STACKYARD_MAX_CONCURRENT_RUNS": str(plan.streams), "STACKYARD_MAX_QUEUED_RUNS": str(plan.streams)}
    # The server twice: held to one core (as the other parts run it), where the worker making chunks and the
    # server passing them on take turns on that core; and free on the machine's cores, as it runs when started.
    with (
        processes.stackyard(folder, [], env=env) as server,
        processes.stackyard(folder, [], env=env, cpus=None) as unpinned,
        httpx.Client(base_url=server.url, timeout=60) as client,
        httpx.Client(base_url=unpinned.url, timeout=60) as free_client,
    ):
        for http in (client, free_client):
            answer = http.put("/pipelines/streamer", content=text, headers={"Content-Type": "application/yaml"})
            answer.raise_for_status()
            _through(http)
        for _ in range(plan.stream_rounds):
            direct.append(_direct(text))
            through.append(_through(client))
            free.append(_through(free_client))
        unpinned.stop()
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
    first_direct = statistics.median(item[0] for item in direct) * 1000
    first_through = statistics.median(item[0] for item in through) * 1000
    gap_direct = statistics.median(item[1] for item in direct) * 1e6
    gap_through = statistics.median(item[1] for item in through) * 1e6
    first_free = statistics.median(item[0] for item in free) * 1000
    gap_free = statistics.median(item[1] for item in free) * 1e6
    counts = {item[2] for item in direct + through + free}
    rows = [
        ["`Pipeline.stream()` in this process", ms(first_direct), num(gap_direct)],
        ["Stackyard on one core, as Server-Sent Events", ms(first_through), num(gap_through)],
        ["added by Stackyard on one core", ms(first_through - first_direct), num(gap_through - gap_direct)],
        ["Stackyard on the machine's cores", ms(first_free), num(gap_free)],
        ["added by Stackyard on the machine's cores", ms(first_free - first_direct), num(gap_free - gap_direct)],
    ]
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
    return Section(
        part="8-streams",
        title="8. Streaming",
        text=(
            f"A chat prompt builder and a `MockChatGenerator` that streams a {plan.stream_chunks}-word reply, a chunk "
            "per word with no wait, so what is timed is the path a chunk takes, not a model. First, one stream at a "
            f"time, {plan.stream_rounds} times each, alternating: the time from the call (Stackyard: from sending the "
            "request) to the first chunk, and the mean gap between chunks after it, for Haystack's `Pipeline.stream()` "
            "called in the benchmark process and for the same pipeline streamed by Stackyard (medians), held to one "
            "core (server and workers on core 0, as the other parts run it) and free on the machine's cores. On one "
            "core, the worker making chunks and the server passing them on take turns, so a burst of chunks reaches "
            "the client only as the worker yields the core. Then many "
            "streams at once on one `stackyard serve` (pinned to one core, workers included), each read to its end: "
            "failed streams (not 200, a chunk missing, or no result), and the proportional set size of the server's "
            "processes, at its peak during the streams and after them. Goals: at most 2 ms added to the first chunk "
            "and 0.2 ms to each chunk after it; 0 failed streams. Hayhooks streams only from a Python pipeline "
            "wrapper, not from a YAML pipeline like this one, so it has no leg here."
        ),
        tables=[
            Table(["one stream at a time", "first chunk, ms", "between chunks, µs"], rows),
            Table(["load", "failed", "seconds", "chunks/s", "peak PSS MiB", "PSS after MiB"], many),
        ],
        notes=[f"Chunks per stream seen: {sorted(counts)} (the reply's {plan.stream_chunks} words)."],
        headline={
            "Streaming: first chunk added by Stackyard on one core (ms)": f"{first_through - first_direct:.2f}",
            "Streaming: first chunk added by Stackyard on the machine's cores (ms)": f"{first_free - first_direct:.2f}",
            "Streaming: added per chunk on one core (µs)": f"{gap_through - gap_direct:.0f}",
            f"Streaming: failed of {plan.streams} concurrent streams": str(failed),
            f"Streaming: peak PSS during {plan.streams} streams (MiB)": f"{max(peak):.0f}",
        },
    )
