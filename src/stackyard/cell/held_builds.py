"""The builds one cell holds, by key, and the warmed components they share.

A new revision that keeps a component's type and init parameters (a prompt changed, the model not) takes that
component's warmed state from the build that has it: the model is not loaded again and its memory is not doubled.
The new pipeline still has its own instance, with its own sockets and connections; only the state its warm-up
would have made (a loaded model, a client) is shared. A shared component is closed only with the last build
that holds it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from typing import Any

from haystack import Pipeline

from stackyard.cell.build import Build
from stackyard.wire.definition import Definition

log = logging.getLogger(__name__)


def fingerprint(spec: Any) -> str:
    """What makes two components the same: their type and init parameters, as the definition wrote them."""
    return json.dumps(spec, sort_keys=True, default=str)


def _warms(instance: Any) -> bool:
    return callable(getattr(instance, "warm_up", None))


class HeldBuilds:
    """Builds by key; touched from the cell's job threads, so every change holds the lock."""

    def __init__(self) -> None:
        self._builds: dict[str, Build] = {}
        self._lock = threading.Lock()
        self._holders: Counter[str] = Counter()  # fingerprint -> builds holding a component with it
        self._weights: dict[str, int] = {}  # key -> bytes the build grew its cell by when its models were loaded

    def get(self, key: str) -> Build | None:
        return self._builds.get(key)

    def keys(self) -> list[str]:
        return list(self._builds)

    def reuse(self, definition: Definition, pipeline: Pipeline) -> None:
        """Give `pipeline`'s components the warmed state of equal ones in held builds (before its warm-up)."""
        donors: dict[str, Any] = {}
        with self._lock:
            for build in self._builds.values():
                components = build.definition.pipeline.get("components", {})
                for name, spec in components.items():
                    instance = build.pipeline.graph.nodes.get(name, {}).get("instance")
                    if instance is not None and _warms(instance):
                        donors.setdefault(fingerprint(spec), instance)
        for name, spec in definition.pipeline.get("components", {}).items():
            donor = donors.get(fingerprint(spec))
            fresh = pipeline.graph.nodes.get(name, {}).get("instance")
            if donor is None or fresh is None or type(donor) is not type(fresh):
                continue
            # Everything but Haystack's own bookkeeping (sockets, the pipeline it belongs to): the warm-up that
            # follows finds the state made already and does nothing.
            for attribute, value in vars(donor).items():
                if not attribute.startswith("__haystack_"):
                    setattr(fresh, attribute, value)
            log.info("component %r reuses the warmed state of an equal one", name)

    def weight(self, key: str) -> int:
        """What the build under `key` weighs: the bytes its loading grew the cell by, or those of the held build
        whose warmed components it took over (a prompt changed: the model it holds is the same)."""
        return self._weights.get(key, 0)

    def inherited(self, definition: Definition) -> int:
        """The weight of the heaviest held build that has a warmed component equal to one of `definition`'s."""
        wanted = {fingerprint(spec) for spec in definition.pipeline.get("components", {}).values()}
        heaviest = 0
        with self._lock:
            for key, build in self._builds.items():
                components = build.definition.pipeline.get("components", {})
                for name, spec in components.items():
                    instance = build.pipeline.graph.nodes.get(name, {}).get("instance")
                    if instance is not None and _warms(instance) and fingerprint(spec) in wanted:
                        heaviest = max(heaviest, self._weights.get(key, 0))
        return heaviest

    def add(self, key: str, build: Build, weight: int = 0) -> Build:
        """Keep `build` under `key`; if a build under `key` came first (two prepares at once), keep that one."""
        with self._lock:
            held = self._builds.get(key)
            if held is not None:
                duplicate, build = build, held
            else:
                self._builds[key] = build
                self._weights[key] = weight
                self._holders.update(self._fingerprints(build))
                return build
        self._close(duplicate, shared=set())
        return build

    def forget(self, keys: tuple[str, ...]) -> None:
        for key in keys:
            with self._lock:
                build = self._builds.pop(key, None)
                self._weights.pop(key, None)
                if build is None:
                    continue
                prints = self._fingerprints(build)
                self._holders.subtract(prints)
                shared = {each for each in prints if self._holders[each] > 0}
                self._holders += Counter()  # drops the counts that reached zero
            self._close(build, shared)

    def close_all(self) -> None:
        self.forget(tuple(self._builds))

    @staticmethod
    def _fingerprints(build: Build) -> list[str]:
        return [fingerprint(spec) for spec in build.definition.pipeline.get("components", {}).values()]

    @staticmethod
    def _close(build: Build, shared: set[str]) -> None:
        """Close what the build's components hold, but for those whose state another build shares."""
        for name, spec in build.definition.pipeline.get("components", {}).items():
            if fingerprint(spec) in shared:
                continue
            instance = build.pipeline.graph.nodes.get(name, {}).get("instance")
            close = getattr(instance, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:
                    log.exception("closing component %r of a retired build failed", name)


def close_build(build: Build) -> None:
    """Close a build no other holds (a throwaway one)."""
    HeldBuilds._close(build, shared=set())
