"""Management operations: the update path from a submitted definition to a live revision.

Order matters and is the whole point: parse, build and warm up in the cells that will serve it (`serving.cell_pool`,
under the build timeout); only then store (one transaction); only then swap (one reference). A failure at any step
before the store leaves everything as it was. Every action, accepted or refused, is written to the audit log; a
change and its audit entry are committed in the same transaction, so the log never misses a change that happened.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace

import anyio

from stackyard.definitions.names import check_name
from stackyard.errors import (
    InvalidDefinition,
    PipelineNotFound,
    RequestNotValid,
    RevisionNotFound,
    StackyardError,
)
from stackyard.observability.metrics import ChangeAction, ChangeOutcome, Metrics
from stackyard.serving.cell_pool import CellPool
from stackyard.serving.registry import LiveRevision, Registry
from stackyard.settings import Settings
from stackyard.store import (
    AuditEntry,
    Change,
    DefinitionStore,
    Expectation,
    Outcome,
    PipelineRecord,
    WriteResult,
)
from stackyard.wire.build_info import BuildInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApplyReport:
    """What a declarative apply did (or, in a dry run, would do), by outcome."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    generation: int | None = None


@dataclass(frozen=True)
class Applied:
    """One change as this process made it: the store's result, and the build now serving it (None after a delete)."""

    result: WriteResult
    info: BuildInfo | None


@dataclass
class Manager:
    """Applies changes to the store and this process's registry, one change per pipeline at a time."""

    store: DefinitionStore
    registry: Registry
    settings: Settings
    metrics: Metrics | None = None

    # -- building -----------------------------------------------------------------------------------------------

    pool: CellPool | None = None  # set by the lifespan; every build happens in its cells

    async def prepare(self, name: str, yaml_text: str) -> BuildInfo:
        """Parse, check against the policy, build and warm up a definition in every cell that will serve pipeline
        `name`, under the build timeout; the cells keep the build for the runs to come. Raises `StackyardError`s
        (`BuildTimeout` included)."""
        assert self.pool is not None, "the lifespan gives the manager its cell pool"
        with self.metrics.build() if self.metrics is not None else contextlib.nullcontext():
            return await self.pool.prepare(name, yaml_text)

    # -- single pipeline ----------------------------------------------------------------------------------------

    async def put(self, change: Change, expect: Expectation | None = None, action: str | None = None) -> Applied:
        """Create or replace `change.name`; identical content is a no-op that builds nothing."""
        async with self.registry.lock(change.name):
            current = await self._get(change.name)
            entry = AuditEntry(change.author, action or ("update" if current else "create"), change.name, "ok")
            return await self._audited(entry, current, lambda: self._put_locked(change, current, expect, entry))

    async def _put_locked(
        self, change: Change, current: PipelineRecord | None, expect: Expectation | None, entry: AuditEntry
    ) -> Applied:
        if expect is not None:
            # Answered before a build that may take seconds (RFC 9110 evaluates preconditions first); the store
            # checks again inside its transaction, where the answer is final.
            expect.check(current, change.name)
        live = self.registry.get(change.name)
        if (
            current is not None
            and live is not None
            and live.revision == current.revision
            and change.same_content(current)
        ):
            if change.changes_nothing(current):  # nothing to build, nothing to store: only the audit entry
                unchanged = WriteResult(current, Outcome.UNCHANGED, current.generation, current.revision)
                await self._record(entry.completed(unchanged))
                return Applied(unchanged, live.info)
            result = await anyio.to_thread.run_sync(self.store.put, change, expect, entry)  # the switch alone
            self.install(result.record, None)
            return Applied(result, live.info)
        info = await self.prepare(change.name, change.yaml)
        try:
            result = await anyio.to_thread.run_sync(self.store.put, change, expect, entry)
        except BaseException:
            self.registry.let_go(info.key)
            raise
        self.install(result.record, info)
        return Applied(result, info)

    async def delete(self, name: str, expect: Expectation | None = None, actor: str = "anonymous") -> Applied:
        async with self.registry.lock(name):
            current = await self._get(name)
            entry = AuditEntry(actor, "delete", name, "ok")

            async def delete() -> Applied:
                result = await anyio.to_thread.run_sync(self.store.delete, name, expect, entry)
                self.install(result.record, None)
                return Applied(result, None)

            return await self._audited(entry, current, delete)

    async def rollback(
        self, name: str, revision: int, expect: Expectation | None, actor: str, message: str = ""
    ) -> Applied:
        """Make `revision` live again as a new revision, so history stays append-only."""
        old = await anyio.to_thread.run_sync(self.store.revision, name, revision)
        if old is None:
            current = await self._get(name)
            error = RevisionNotFound(
                f"Pipeline '{name}' has no revision {revision}; see GET /pipelines/{name}/revisions."
            )
            await self._record(AuditEntry(actor, "rollback", name, "refused", _rev(current), None, error.detail))
            raise error
        change = Change(
            name=name,
            yaml=old.yaml,
            description=old.description,
            labels=old.labels,
            author=actor,
            message=message or f"rollback to revision {revision}",
        )
        return await self.put(change, expect, action="rollback")

    async def patch(
        self,
        name: str,
        *,
        enabled: bool | None,
        description: str | None,
        labels: dict[str, str] | None,
        expect: Expectation | None,
        actor: str,
        message: str = "",
    ) -> Applied:
        """Change the switch, the description or the labels of `name`: one revision at most, one transaction, one
        audit entry, whatever the combination."""
        async with self.registry.lock(name):
            current = await self._get(name)
            if current is None:
                raise PipelineNotFound(f"There is no pipeline named '{name}'. List them with GET /pipelines.")
            change = Change(
                name=name,
                yaml=current.yaml,
                description=current.description if description is None else description,
                labels=current.labels if labels is None else labels,
                author=actor,
                message=message,
                enabled=enabled,
            )
            switch_only = enabled is not None and change.same_content(current)
            entry = AuditEntry(actor, ("enable" if enabled else "disable") if switch_only else "update", name, "ok")

            async def patch() -> Applied:
                if expect is not None:
                    expect.check(current, name)
                # The content is the one read here, so the write expects the revision it was read from: a change
                # committed meanwhile by another replica is never overwritten.
                return await self._put_locked(change, current, Expectation.at(current.revision), entry)

            return await self._audited(entry, current, patch)

    def install(self, record: PipelineRecord, info: BuildInfo | None) -> None:
        """Make this process serve `record` as stored: gone when it is deleted, else `build` live (when one is
        given) and the switch as stored; then its generation applied, so the sync never undoes it with a record it
        read before. The one place a change reaches the registry, for this process's own changes and the sync's."""
        if record.deleted:
            self.registry.remove(record.name)
        else:
            if info is not None:
                self.registry.install(LiveRevision(record.name, record.revision, info))
            self.registry.set_enabled(record.name, record.enabled)
        self.registry.mark_applied(record.name, record.generation)

    # -- many pipelines -----------------------------------------------------------------------------------------

    async def apply(self, changes: list[Change], *, prune: bool, dry_run: bool, actor: str) -> ApplyReport:
        """Declarative apply: validate every definition first, then store all of it in one transaction."""
        names = [check_name(change.name) for change in changes]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            # A well-formed body the API document cannot express a rule for: 422, as other misfits of the body.
            raise RequestNotValid(
                f"Each pipeline may appear once in an apply; repeated: {', '.join(duplicates)}.",
                errors=[{"location": "body", "message": f"repeated pipeline names: {', '.join(duplicates)}"}],
            )
        stored = {record.name: record for record in await anyio.to_thread.run_sync(self.store.pipelines)}
        deletes = sorted(set(stored) - set(names)) if prune else []
        entry = AuditEntry(actor, "apply", None, "ok", detail="apply")  # each member's is completed by the store
        async with self._locks(sorted(set(names) | set(deletes))):
            builds: dict[str, BuildInfo] = {}
            try:
                report = await self._plan(changes, stored, deletes, builds)
                if dry_run:
                    self._let_go_all(builds)
                    return report
                to_write = [change for change in changes if change.name in builds]
                results = await anyio.to_thread.run_sync(self.store.apply, to_write, deletes, entry)
            except StackyardError as error:
                self._let_go_all(builds)
                self._count("update", ChangeOutcome.REFUSED)
                await self._record(AuditEntry(actor, "apply", None, "refused", detail=error.detail))
                raise
            except BaseException:
                self._let_go_all(builds)
                raise
            for result in results:
                self.install(result.record, builds.pop(result.record.name, None))
            self._let_go_all(builds)  # built, yet not written (nothing left, unless a store defect)
            for result in results:  # their audit entries were committed with them
                self._count(entry.completed(result).action, ChangeOutcome.APPLIED)
            generation = max((result.generation for result in results), default=None)
            return replace(report, generation=generation)

    async def _plan(
        self, changes: list[Change], stored: dict[str, PipelineRecord], deletes: list[str], builds: dict[str, BuildInfo]
    ) -> ApplyReport:
        report = ApplyReport(deleted=list(deletes))
        problems: list[dict[str, object]] = []
        for change in changes:
            current = stored.get(change.name)
            if current is not None and change.same_content(current) and self._is_live(current.name, current.revision):
                report.unchanged.append(change.name)
                continue
            try:
                builds[change.name] = await self.prepare(change.name, change.yaml)
            except StackyardError as error:
                problems.append({"name": change.name, "title": error.title, "detail": error.detail, **error.extensions})
                continue
            (report.updated if current is not None else report.created).append(change.name)
        if problems:
            self._let_go_all(builds)
            names = ", ".join(str(problem["name"]) for problem in problems)
            raise InvalidDefinition(
                f"Nothing was applied: {len(problems)} definition(s) are not valid ({names}).", problems=problems
            )
        return report

    # -- helpers ------------------------------------------------------------------------------------------------

    async def _audited(
        self, entry: AuditEntry, current: PipelineRecord | None, operation: Callable[[], Awaitable[Applied]]
    ) -> Applied:
        """Run `operation` (whose write commits `entry` with it); count the outcome, and record a refusal."""
        try:
            applied = await operation()
        except StackyardError as error:
            self._count(entry.action, ChangeOutcome.REFUSED)
            await self._record(replace(entry, outcome="refused", from_revision=_rev(current), detail=error.detail))
            raise
        unchanged = applied.result.outcome is Outcome.UNCHANGED
        self._count(entry.action, ChangeOutcome.UNCHANGED if unchanged else ChangeOutcome.APPLIED)
        log.info(
            "%s %s",
            entry.action,
            "unchanged" if unchanged else "ok",
            extra={"pipeline": entry.pipeline, "revision": applied.result.record.revision},
        )
        return applied

    def _count(self, action: str, outcome: ChangeOutcome) -> None:
        metric_action = _METRIC_ACTIONS.get(action)
        if self.metrics is not None and metric_action is not None:
            self.metrics.record_change(metric_action, outcome)

    async def _record(self, entry: AuditEntry) -> None:
        try:
            await anyio.to_thread.run_sync(self.store.record_audit, entry)
        except Exception:
            # Only refusals and no-ops come here (writes commit their entry with them): nothing was changed, so a
            # lost line must not turn the answer into an error.
            log.exception("could not record an audit entry", extra={"pipeline": entry.pipeline, "action": entry.action})

    async def _get(self, name: str) -> PipelineRecord | None:
        return await anyio.to_thread.run_sync(self.store.get, name)

    @asynccontextmanager
    async def _locks(self, names: list[str]) -> AsyncIterator[None]:
        # Sorted acquisition: two applies over overlapping sets can never wait on each other in a cycle.
        async with AsyncExitStack() as stack:
            for name in names:
                await stack.enter_async_context(self.registry.lock(name))
            yield

    def _let_go_all(self, builds: dict[str, BuildInfo]) -> None:
        for info in builds.values():
            self.registry.let_go(info.key)
        builds.clear()

    def _is_live(self, name: str, revision: int) -> bool:
        live = self.registry.get(name)
        return live is not None and live.revision == revision


# Audit actions -> the management counter's bounded action label (enable/disable are not counted there).
_METRIC_ACTIONS = {
    "create": ChangeAction.DEPLOY,
    "update": ChangeAction.UPDATE,
    "rollback": ChangeAction.ROLLBACK,
    "delete": ChangeAction.DELETE,
}


def _rev(record: PipelineRecord | None) -> int | None:
    return record.revision if record is not None and not record.deleted else None
