"""How big one benchmark run is: the full sizes of the issue, or tiny ones for the CI smoke run."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from bench.processes import WORK


@dataclass(frozen=True)
class Plan:
    """Sizes and switches for one run; every part reads only this."""

    smoke: bool
    rounds: int  # rounds of each load measurement; tables show their median
    seconds: float  # length of one load round
    connections: int  # concurrent connections for throughput runs
    bm25_connections: int  # fewer for BM25: its runs take tens of ms, more connections would only queue
    update_connections: int  # connections that run a pipeline while it is replaced
    documents: int  # BM25 corpus size
    updates: int  # replacements under load, and updates for propagation
    pipeline_counts: tuple[int, ...]
    deploys: int  # deploys timed in the deploy-latency part
    streams: int  # streams at once in the streaming part
    stream_chunks: int  # chunks of each stream there
    stream_rounds: int  # single streams timed on each side
    use_wrk: bool
    hayhooks: Path | None  # the `hayhooks` executable, or None to skip its legs
    work: Path = WORK
    docs: Path = Path("docs")

    def with_tools(self, *, use_wrk: bool, hayhooks: Path | None) -> Plan:
        return replace(self, use_wrk=use_wrk, hayhooks=hayhooks)


FULL = Plan(
    smoke=False,
    rounds=3,
    seconds=6,
    connections=16,
    bm25_connections=4,
    update_connections=32,
    documents=10_000,
    updates=100,
    pipeline_counts=(1, 100, 1000),
    deploys=100,
    streams=500,
    stream_chunks=200,
    stream_rounds=50,
    use_wrk=True,
    hayhooks=None,
)
SMOKE = Plan(
    smoke=True,
    rounds=1,
    seconds=0.3,
    connections=2,
    bm25_connections=2,
    update_connections=2,
    documents=50,
    updates=3,
    pipeline_counts=(1, 3),
    deploys=2,
    streams=4,
    stream_chunks=10,
    stream_rounds=2,
    use_wrk=False,
    hayhooks=None,
)
