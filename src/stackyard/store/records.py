"""What the definition store holds and returns: plain, immutable records."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from stackyard.definitions.metadata import MetadataNotWritten, with_metadata


class Outcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DELETED = "deleted"


@dataclass(frozen=True)
class Change:
    """A definition someone wants live under `name`."""

    name: str
    yaml: str
    description: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    author: str = "anonymous"
    message: str = ""
    # The serving switch, set in the same transaction: None keeps it as it is (a new pipeline starts enabled).
    enabled: bool | None = None

    def same_content(self, record: PipelineRecord) -> bool:
        """True when this change needs no new revision: same description and labels, and the same YAML text, or
        the stored text with the stored name, description and labels written into its `metadata` (as
        `stackyard export` writes a pipeline whose YAML does not carry them), so applying an export changes
        nothing."""
        if (self.description, self.labels) != (record.description, record.labels):
            return False
        if self.yaml == record.yaml:
            return True
        try:
            exported = with_metadata(
                record.yaml, name=record.name, description=record.description, labels=record.labels
            )
        except MetadataNotWritten:
            return False
        return self.yaml == exported

    def changes_nothing(self, record: PipelineRecord) -> bool:
        """True when storing this change would add nothing: same content, and the switch left as it is."""
        return self.same_content(record) and self.enabled in (None, record.enabled)


@dataclass(frozen=True)
class PipelineRecord:
    """A pipeline as stored: its live revision's content plus the pipeline-level state."""

    name: str
    revision: int
    yaml: str
    description: str
    labels: dict[str, str]
    enabled: bool
    deleted: bool
    created_at: datetime
    updated_at: datetime
    generation: int


@dataclass(frozen=True)
class RevisionRecord:
    """One immutable revision of a pipeline."""

    name: str
    number: int
    yaml: str
    description: str
    labels: dict[str, str]
    author: str
    message: str
    created_at: datetime


@dataclass(frozen=True)
class AuditEntry:
    """One management action, accepted or refused."""

    actor: str
    action: str  # create, update, delete, rollback, enable, disable, apply, ...
    pipeline: str | None
    outcome: str  # ok, unchanged, refused
    from_revision: int | None = None
    to_revision: int | None = None
    detail: str = ""
    at: datetime | None = None  # set by the store when recorded
    id: int | None = None  # set by the store when recorded

    def completed(self, result: WriteResult) -> AuditEntry:
        """This entry as the store writes it for `result`: the revision before and after, and the outcome. In an
        apply (action `apply`), each member's entry takes the action that happened to it."""
        action = _APPLIED_AS.get(result.outcome, self.action) if self.action == "apply" else self.action
        after = None if result.outcome is Outcome.DELETED else result.record.revision
        outcome = "unchanged" if result.outcome is Outcome.UNCHANGED else "ok"
        return replace(
            self,
            action=action,
            pipeline=result.record.name,
            outcome=outcome,
            from_revision=result.previous,
            to_revision=after,
        )


_APPLIED_AS = {Outcome.CREATED: "create", Outcome.UPDATED: "update", Outcome.DELETED: "delete"}


@dataclass(frozen=True)
class AuditQuery:
    pipeline: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True)
class WriteResult:
    """What one write did: the pipeline as it now stands, the outcome, the generation it took (the store's current
    one when nothing changed), and the live revision before it (None: the pipeline did not exist)."""

    record: PipelineRecord
    outcome: Outcome
    generation: int
    previous: int | None = None


@dataclass(frozen=True)
class Expectation:
    """A precondition on the live revision (RFC 9110 If-Match / If-None-Match), checked inside the write.

    A pipeline's entity tag is its live revision. `If-Match` compares strongly (a weak tag never matches),
    `If-None-Match` weakly (RFC 9110, 13.1.1 and 13.1.2); `*` stands for "any revision".
    """

    revisions: frozenset[int] | None = None  # If-Match: the live revision must be one of these
    exists: bool = False  # If-Match: *: the pipeline must exist
    not_revisions: frozenset[int] = frozenset()  # If-None-Match: the live revision must be none of these
    absent: bool = False  # If-None-Match: *: the pipeline must not exist

    @classmethod
    def at(cls, revision: int) -> Expectation:
        """The live revision must be `revision` (`If-Match: "3"`)."""
        return cls(revisions=frozenset({revision}))

    def check(self, current: PipelineRecord | None, name: str) -> None:
        from stackyard.errors import RevisionConflict

        live = current.revision if current is not None and not current.deleted else None
        if self.absent and live is not None:
            raise RevisionConflict(
                f"Pipeline '{name}' exists already (revision {live}); drop 'If-None-Match: *' to replace it.",
                current_revision=live,
            )
        if live is not None and live in self.not_revisions:
            raise RevisionConflict(
                f"Pipeline '{name}' is at revision {live}, which If-None-Match excludes.", current_revision=live
            )
        if (self.exists or self.revisions is not None) and live is None:
            raise RevisionConflict(f"You expected pipeline '{name}' to exist, but it does not.", current_revision=None)
        if self.revisions is not None and live not in self.revisions:
            expected = ", ".join(str(number) for number in sorted(self.revisions)) or "none"
            raise RevisionConflict(
                f"You expected revision {expected} of '{name}', but the live revision is {live}. Read it again and "
                "retry.",
                current_revision=live,
            )


def as_json_labels(value: Any) -> dict[str, str]:
    """Labels as stored (JSON object) back into a dict of strings."""
    if not isinstance(value, dict):
        return {}
    return {str(key): str(item) for key, item in value.items()}


@dataclass(frozen=True)
class LoadedPipeline:
    """What one replica has of one pipeline: the revision it serves and the newest one that failed to build there."""

    live: int | None
    failed: int | None = None
    error: str | None = None


# A replica silent for this long (seconds) is removed at the next heartbeat of any other: it crashed or was scaled away.
FORGET_REPLICAS_AFTER = 24 * 3600.0


@dataclass(frozen=True)
class ReplicaRecord:
    """One server process as it last reported itself (its heartbeat)."""

    id: str
    host: str
    pid: int
    started_at: datetime
    generation: int  # the store generation this process has applied
    pipelines: dict[str, LoadedPipeline]
    seen_at: datetime | None = None  # set by the store at each heartbeat


def pipelines_to_json(pipelines: dict[str, LoadedPipeline]) -> dict[str, dict[str, Any]]:
    return {name: {"live": item.live, "failed": item.failed, "error": item.error} for name, item in pipelines.items()}


def pipelines_from_json(value: Any) -> dict[str, LoadedPipeline]:
    if not isinstance(value, dict):
        return {}
    return {
        str(name): LoadedPipeline(item.get("live"), item.get("failed"), item.get("error"))
        for name, item in value.items()
        if isinstance(item, dict)
    }


@dataclass(frozen=True)
class Feedback:
    """A user's verdict on an answer or a document that a pipeline revision produced."""

    pipeline: str
    revision: int | None  # the revision that produced the answer; None when unknown
    query: str
    is_correct: bool
    answer: str | None = None
    document_id: str | None = None
    comment: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    actor: str = "anonymous"
    id: int | None = None  # set by the store when recorded
    created_at: datetime | None = None  # set by the store when recorded


@dataclass(frozen=True)
class FeedbackCount:
    """Verdicts on one revision of a pipeline."""

    revision: int | None
    total: int
    correct: int
    incorrect: int
