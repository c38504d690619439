"""Management operations: the update path from a submitted definition to a live revision.

Order matters and is the whole point: parse, build and warm up off the event loop; only then store (one
transaction); only then swap (one reference). A failure at any step before the store leaves everything as it was.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import anyio

from stackyard.build import Build, build_pipeline
from stackyard.definition import parse_definition
from stackyard.errors import BuildTimeout
from stackyard.metrics import Metrics
from stackyard.registry import LiveRevision, Registry
from stackyard.settings import Settings
from stackyard.store import Change, DefinitionStore, Expectation, Outcome, WriteResult

log = logging.getLogger(__name__)


@dataclass
class Manager:
    """Applies changes to the store and this process's registry, one change per pipeline at a time."""

    store: DefinitionStore
    registry: Registry
    settings: Settings
    metrics: Metrics | None = None

    def build(self, yaml_text: str) -> Build:
        """Parse and build a definition. Blocking; raises `InvalidDefinition` and friends."""
        with self.metrics.build() if self.metrics is not None else contextlib.nullcontext():
            definition = parse_definition(yaml_text, max_bytes=self.settings.max_yaml_bytes)
            return build_pipeline(definition, allowed_modules=self.settings.extra_allowed_modules)

    async def build_async(self, yaml_text: str) -> Build:
        with anyio.fail_after(self.settings.build_timeout):
            try:
                return await anyio.to_thread.run_sync(self.build, yaml_text)
            except TimeoutError:
                raise BuildTimeout(
                    f"Building took longer than {self.settings.build_timeout:g} s; the definition was not applied."
                ) from None

    async def put(self, change: Change, expect: Expectation | None = None) -> WriteResult:
        """Create or replace `change.name`; identical content is a no-op that builds nothing."""
        async with self.registry.lock(change.name):
            current = await anyio.to_thread.run_sync(self.store.get, change.name)
            if expect is not None:
                expect.check(current, change.name)
            if current is not None and change.same_content(current) and self._is_live(current.name, current.revision):
                generation = await anyio.to_thread.run_sync(self.store.generation)
                return WriteResult(current, Outcome.UNCHANGED, generation)
            build = await self.build_async(change.yaml)
            try:
                result = await anyio.to_thread.run_sync(self.store.put, change, expect)
            except BaseException:
                await anyio.to_thread.run_sync(build.close)
                raise
            self.registry.install(LiveRevision(change.name, result.record.revision, build))
            log.info(
                "pipeline %s",
                result.outcome.value,
                extra={"pipeline": change.name, "revision": result.record.revision},
            )
            return result

    async def delete(self, name: str, expect: Expectation | None = None) -> WriteResult:
        async with self.registry.lock(name):
            result = await anyio.to_thread.run_sync(self.store.delete, name, expect)
            self.registry.remove(name)
            log.info("pipeline deleted", extra={"pipeline": name, "revision": result.record.revision})
            return result

    def _is_live(self, name: str, revision: int) -> bool:
        live = self.registry.get(name)
        return live is not None and live.revision == revision
