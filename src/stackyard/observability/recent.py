"""The last runs of each component, kept in memory: what the console's graph shows beside each component.

The metrics add up everything since start-up, which after a change or a slow spell says little about now; someone
looking at a graph wants the runs that just happened. So each pipeline's components keep their last `SIZE` run
times here, with whether each failed. With several server processes (`stackyard serve --workers N`) each keeps the
runs it answered: `/stats` shows those of the process that answers it.
"""

from __future__ import annotations

import collections
import statistics
from dataclasses import dataclass

SIZE = 100


@dataclass(frozen=True)
class Window:
    """A component's last runs (at most `SIZE`): how many, how many failed, their mean and 95th percentile."""

    runs: int
    failures: int
    mean_seconds: float
    p95_seconds: float


class RecentRuns:
    """The last `size` runs of each pipeline's components."""

    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self._runs: dict[tuple[str, str], collections.deque[tuple[float, bool]]] = {}
        self._failing: set[tuple[str, str]] = set()  # failed, its time still to come (`ran` follows `failed`)

    def failed(self, pipeline: str, component: str) -> None:
        self._failing.add((pipeline, component))

    def ran(self, pipeline: str, component: str, seconds: float) -> None:
        key = (pipeline, component)
        failed = key in self._failing
        self._failing.discard(key)
        runs = self._runs.get(key)
        if runs is None:
            runs = self._runs[key] = collections.deque(maxlen=self.size)
        runs.append((seconds, failed))

    def window(self, pipeline: str, component: str) -> Window | None:
        """The component's last runs; None if it has not run since this process started."""
        runs = list(self._runs.get((pipeline, component), ()))
        if not runs:
            return None
        seconds = [elapsed for elapsed, _failed in runs]
        # The inclusive method reads the samples as the whole population: the 95th percentile lies within them.
        p95 = statistics.quantiles(seconds, n=20, method="inclusive")[-1] if len(seconds) > 1 else seconds[0]
        return Window(len(runs), sum(failed for _elapsed, failed in runs), statistics.fmean(seconds), p95)
