"""Components the benchmark pipelines use besides Haystack's own: a synthetic corpus, a process probe and CPU work.

Every server under test (Stackyard, the floor, Hayhooks) must search the same 10,000 documents. An
`InMemoryDocumentStore` index is process-global, so a component that fills it when it is built puts the corpus in
each worker process, however the server builds pipelines.
"""

from __future__ import annotations

import os
import random
import time

from haystack import Document, component
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
