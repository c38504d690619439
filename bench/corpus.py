"""Components the benchmark pipelines use besides Haystack's own: a synthetic corpus, a process probe, CPU work
and a chat model that streams at a model's pace.

Every server under test (Stackyard, the floor, Hayhooks) must search the same 10,000 documents. An
`InMemoryDocumentStore` index is process-global, so a component that fills it when it is built puts the corpus in
each worker process, however the server builds pipelines.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from typing import Any

from haystack import Document, component
from haystack.dataclasses import ChatMessage, ComponentInfo, StreamingChunk
from haystack.document_stores.in_memory import InMemoryDocumentStore

WORDS = (  # noqa: SIM905 - a sentence reads better than 54 quoted words
    "hay stack yard pipeline barn field harvest straw bale farmer tractor meadow grain wheat oat barley rye clover "
    "silo fence gate river hill valley morning evening rain sun wind storm season summer autumn winter spring "
    "market village road cart horse cow sheep goat dog cat mouse owl hawk crow sparrow oak pine birch willow"
).split()


def synthetic_documents(count: int, seed: int = 9) -> list[Document]:
    """`count` short documents of 30 words drawn from a fixed vocabulary, the same for every seed value."""
    rng = random.Random(seed)
    return [Document(id=f"doc-{i}", content=" ".join(rng.choices(WORDS, k=30))) for i in range(count)]


def fill_index(index: str, count: int) -> int:
    """Write `count` synthetic documents into the in-memory index `index` once per process; return its size."""
    store = InMemoryDocumentStore(index=index)
    if store.count_documents() < count:
        store.write_documents(synthetic_documents(count), policy="overwrite")  # type: ignore[arg-type]
    return store.count_documents()


@component
class SyntheticCorpus:
    """Fills the in-memory index `index` with `count` documents when the pipeline is built."""

    def __init__(self, index: str = "bench", count: int = 10_000) -> None:
        self.index = index
        self.count = count
        self.size = fill_index(index, count)
        # Held like a writer holds its store, so the server knows this pipeline's documents live in memory and
        # builds it where the BM25 pipeline that searches the same index runs (Stackyard's memory worker).
        self.document_store = InMemoryDocumentStore(index=index)

    @component.output_types(count=int)
    def run(self, refresh: bool = False) -> dict[str, int]:
        if refresh:
            self.size = fill_index(self.index, self.count)
        return {"count": self.size}


@component
class ProcessId:
    """Answers the id of the process that ran it: tells which worker of a multi-worker server answered."""

    @component.output_types(pid=int)
    def run(self, tag: str = "") -> dict[str, int]:
        return {"pid": os.getpid()}


@component
class Burn:
    """Keeps a CPU busy for `milliseconds` on every run: a CPU-bound pipeline (an embedder, a reranker) without a
    model to download."""

    def __init__(self, milliseconds: float = 20.0) -> None:
        self.milliseconds = milliseconds

    @component.output_types(spins=int)
    def run(self, text: str = "") -> dict[str, int]:
        deadline = time.perf_counter() + self.milliseconds / 1000
        spins = 0
        while time.perf_counter() < deadline:
            spins += 1
        return {"spins": spins}


@component
class PacedChat:
    """A chat model without a model: streams `words` words, the first after `first_ms` and each next one `pace_ms`
    later, as a model's tokens arrive. A chunk then reaches its reader alone, not at the head of a burst the server
    must also pass on, so the time to it is the path it takes. Streams from `run` (as Stackyard runs it) and from
    `run_async` (as `Pipeline.stream()` does)."""

    def __init__(self, words: int = 50, first_ms: float = 20.0, pace_ms: float = 2.0) -> None:
        self.words = words
        self.first_ms = first_ms
        self.pace_ms = pace_ms

    def _chunks(self) -> list[tuple[float, StreamingChunk]]:
        """Each chunk with the `perf_counter` time it is due: on a schedule fixed at the start, so a sleep that
        overshoots delays one chunk, not every one after it, whichever way the caller sleeps."""
        info = ComponentInfo.from_component(self)
        start = time.perf_counter() + self.first_ms / 1000
        return [
            (
                start + index * self.pace_ms / 1000,
                StreamingChunk(content=f"word{index} ", component_info=info, index=0, start=index == 0),
            )
            for index in range(self.words)
        ]

    def _reply(self) -> dict[str, list[ChatMessage]]:
        return {"replies": [ChatMessage.from_assistant("".join(f"word{index} " for index in range(self.words)))]}

    @component.output_types(replies=list[ChatMessage])
    def run(self, messages: list[ChatMessage], streaming_callback: Any = None) -> dict[str, list[ChatMessage]]:
        for due, chunk in self._chunks():
            time.sleep(max(due - time.perf_counter(), 0))
            if streaming_callback is not None:
                streaming_callback(chunk)
        return self._reply()

    @component.output_types(replies=list[ChatMessage])
    async def run_async(
        self, messages: list[ChatMessage], streaming_callback: Any = None
    ) -> dict[str, list[ChatMessage]]:
        for due, chunk in self._chunks():
            await asyncio.sleep(max(due - time.perf_counter(), 0))
            if streaming_callback is not None:
                await streaming_callback(chunk)
        return self._reply()
