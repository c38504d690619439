"""The live pipelines of one process, and the atomic swap between revisions.

The registry is touched only from the event loop thread, so a swap is one dict assignment and needs no lock: a run
that looked up the old revision keeps its reference, finishes on it, and the old build is let go after the last
such run releases it. Builds live in cells (`serving.cell_pool`); the registry holds what the server knows of
them (`BuildInfo`) and tells the pool to forget a build once no revision it holds needs it any more.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from stackyard.wire.build_info import BuildInfo

log = logging.getLogger(__name__)


class ServingState(StrEnum):
    SERVING = "serving"  # the stored revision is live here
    DEGRADED = "degraded"  # an older revision is live here; the stored one failed to build on this process
    FAILED = "failed"  # nothing is live here: the stored revision failed to build and there was no older one
    PENDING = "pending"  # stored, not yet built by this process


def state_of(live: int | None, failed: int | None, stored: int) -> ServingState:
    """Where a process stands with a pipeline: the revision it serves and the newest it failed to build, against
    the stored one. One rule for this process (`Registry.state`) and for other replicas' reports."""
    if live is not None and live >= stored:
        return ServingState.SERVING
    if failed is not None and failed >= stored:
        return ServingState.DEGRADED if live is not None else ServingState.FAILED
    return ServingState.PENDING


@dataclass
class LiveRevision:
    """One built revision of a pipeline, with the count of runs still using it."""

    name: str
    revision: int
    info: BuildInfo
    inflight: int = 0
    retired: bool = False


@dataclass(frozen=True)
class BuildFailure:
    revision: int
    error: str


@dataclass(eq=False)  # one registry is one process's: equal only to itself, and a key for what is derived from it
class Registry:
    """Name -> live revision, plus the failures this process met while converging."""

    _live: dict[str, LiveRevision] = field(default_factory=dict)
    _failures: dict[str, BuildFailure] = field(default_factory=dict)
    _disabled: set[str] = field(default_factory=set)
    # name -> the store generation of the newest change to it that this process has applied (deletes included, so a
    # sync that read a pipeline before its delete committed cannot bring it back).
    _applied: dict[str, int] = field(default_factory=dict)
    # Weak values: a lock lives while someone holds or waits for it, so names that were only ever refused (or are
    # gone) leave nothing behind.
    _locks: weakref.WeakValueDictionary[str, asyncio.Lock] = field(default_factory=weakref.WeakValueDictionary)
    # Forget a build in the cells (`CellPool.forget`); builds are shared by key (the hash of the YAML), so a
    # key is forgotten when the last revision holding it is let go.
    forget: Callable[[str], None] = lambda key: None
    _held: Counter[str] = field(default_factory=Counter)
    # Bumped whenever what is live or enabled changes: what a reader derives from `enabled()` (the chat models) can
    # be kept until it moves, rather than derived again on every request.
    version: int = 0

    def lock(self, name: str) -> asyncio.Lock:
        """The lock that orders changes to `name` within this process (management calls and sync alike)."""
        lock = self._locks.get(name)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[name] = lock
        return lock

    def get(self, name: str) -> LiveRevision | None:
        return self._live.get(name)

    def names(self) -> list[str]:
        return sorted(self._live)

    def enabled(self) -> list[LiveRevision]:
        """The live revisions of the enabled pipelines, by pipeline name."""
        return [self._live[name] for name in sorted(self._live) if name not in self._disabled]

    def set_enabled(self, name: str, enabled: bool) -> None:
        """A disabled pipeline stays built (re-enabling is instant) but its runs are refused."""
        if enabled:
            self._disabled.discard(name)
        else:
            self._disabled.add(name)
        self.version += 1

    def is_enabled(self, name: str) -> bool:
        return name not in self._disabled

    def applied(self, name: str) -> int:
        """The store generation of the newest change to `name` applied here (0: none)."""
        return self._applied.get(name, 0)

    def mark_applied(self, name: str, generation: int) -> None:
        """Record that the change to `name` committed at `generation` is applied here; older ones never will be."""
        if generation > self._applied.get(name, 0):
            self._applied[name] = generation

    def failure(self, name: str) -> BuildFailure | None:
        return self._failures.get(name)

    def failed_names(self) -> list[str]:
        """Pipelines with a revision that failed to build on this process."""
        return sorted(self._failures)

    def acquire(self, name: str) -> LiveRevision | None:
        """Take the live revision of `name` for one run; pair with `release`."""
        live = self._live.get(name)
        if live is not None:
            live.inflight += 1
        return live

    def release(self, live: LiveRevision) -> None:
        live.inflight -= 1
        if live.retired and live.inflight == 0:
            self._close(live)

    def install(self, live: LiveRevision) -> bool:
        """Make `live` the served revision unless a newer one is live already; retire the one it replaces."""
        current = self._live.get(live.name)
        if current is not None and current.revision >= live.revision:
            self.let_go(live.info.key)
            return False
        self._held[live.info.key] += 1
        self._live[live.name] = live
        self.version += 1
        failure = self._failures.get(live.name)
        if failure is not None and failure.revision <= live.revision:
            del self._failures[live.name]
        if current is not None:
            self._retire(current)
        log.info("pipeline revision live", extra={"pipeline": live.name, "revision": live.revision})
        return True

    def record_failure(self, name: str, revision: int, error: str) -> None:
        """Remember that `revision` of `name` could not be built here; whatever is live keeps serving."""
        self._failures[name] = BuildFailure(revision, error)

    def remove(self, name: str) -> None:
        """Stop serving `name`; runs already on it finish first."""
        self._failures.pop(name, None)
        self._disabled.discard(name)
        current = self._live.pop(name, None)
        self.version += 1
        if current is not None:
            self._retire(current)

    def state(self, name: str, stored_revision: int) -> ServingState:
        live = self._live.get(name)
        failure = self._failures.get(name)
        return state_of(
            live.revision if live is not None else None,
            failure.revision if failure is not None else None,
            stored_revision,
        )

    def holds(self, key: str) -> bool:
        """Whether a revision here (live, or retired with runs still on it) needs the build under `key`."""
        return self._held[key] > 0

    def let_go(self, key: str) -> None:
        """A build under `key` that no revision installed here will use (refused, superseded, a dry run): forget
        it in the workers unless a revision here holds the same build."""
        if not self.holds(key):
            self._held.pop(key, None)
            self.forget(key)

    def close(self) -> None:
        """Retire everything (server shutdown; the workers are stopped after)."""
        for name in list(self._live):
            self.remove(name)

    def _retire(self, live: LiveRevision) -> None:
        live.retired = True
        if live.inflight == 0:
            self._close(live)

    def _close(self, live: LiveRevision) -> None:
        self._held[live.info.key] -= 1
        self.let_go(live.info.key)
