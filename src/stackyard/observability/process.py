"""What one process knows about itself for operators: its replica id, its metrics, its optional tracing.

Made in the lifespan (`Observability.start`) and reached by handlers through `AppState`.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

import anyio

from stackyard.observability.metrics import MULTIPROC_ENV, Metrics
from stackyard.observability.run_scopes import RunScopes
from stackyard.serving.registry import Registry
from stackyard.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from stackyard.observability.otel import Otel
    from stackyard.wire.replies import SpanRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Replica:
    """This process as one replica: its id (status pages, response headers, heartbeats), host, pid and start time;
    made once, so every report of the process says the same."""

    id: str
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    _started: float = field(default_factory=time.monotonic)

    def uptime(self) -> float:
        return time.monotonic() - self._started


@dataclass
class Observability:
    replica: Replica
    metrics: Metrics
    otel: Otel | None = None
    run_scopes: RunScopes = field(init=False)

    def __post_init__(self) -> None:
        self.run_scopes = RunScopes(self.metrics, spans=self.otel is not None)

    @classmethod
    def start(cls, settings: Settings, tracer_provider: TracerProvider | None = None) -> Observability:
        """Make the metrics, and start OpenTelemetry when enabled or given a provider."""
        otel = None
        if tracer_provider is not None or settings.otel_tracing:
            from stackyard.observability.otel import Otel, provider_from_environment

            owned = tracer_provider is None
            otel = Otel(tracer_provider or provider_from_environment(), owned=owned)
        return cls(Replica(settings.replica_id), Metrics(os.environ.get(MULTIPROC_ENV) or None), otel)

    @property
    def replay(self) -> Callable[[tuple[SpanRecord, ...]], None] | None:
        """Where the spans a cell recorded during a run go: OpenTelemetry, beneath the request's span, if on."""
        return self.otel.replay if self.otel is not None else None

    def publish_state(self, registry: Registry, generation: int, cells: CellCensus) -> None:
        live = {name: revision.revision for name in registry.names() if (revision := registry.get(name)) is not None}
        self.metrics.publish_state(live, generation)
        self.metrics.publish_cells(cells.states(), cells.jobs)

    async def publish_forever(
        self, registry: Registry, generation: GenerationSource, cells: CellCensus, interval: float
    ) -> None:
        """Keep the per-process gauges current, so a scrape answered by another worker sees this one's state."""
        while True:
            try:
                self.publish_state(registry, generation.applied_generation, cells)
            except Exception:
                log.exception("publishing the state gauges failed")
            await anyio.sleep(interval)

    def close(self) -> None:
        self.metrics.close()
        if self.otel is not None:
            self.otel.close()


class GenerationSource(Protocol):
    """Anything that knows the store generation this process converged to (the `Synchronizer`)."""

    applied_generation: int


class CellCensus(Protocol):
    """Anything that counts cells by state and the jobs in flight in them (the `CellPool`)."""

    def states(self) -> dict[str, int]: ...

    @property
    def jobs(self) -> int: ...
