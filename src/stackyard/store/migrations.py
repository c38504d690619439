"""SQL pieces the stores share: the audit and feedback queries and the refusal of a schema from a newer Stackyard."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from stackyard.store.records import AuditQuery, Feedback

# A replica silent for this long (seconds) is removed at the next heartbeat of any other: it crashed or was scaled away.
FORGET_REPLICAS_AFTER = 24 * 3600.0


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer Stackyard; this one must not write to it."""


def refuse_newer_schema(version: int, known: int, where: str) -> None:
    """Raise `SchemaTooNew` when `where` (the database, for the message) is at a schema `version` above `known`."""
    if version > known:
        raise SchemaTooNew(
            f"{where} has schema version {version}, but this Stackyard knows only up to {known}. "
            "Upgrade Stackyard; it will not write to a newer database."
        )


def audit_filter(query: AuditQuery, mark: str) -> tuple[str, list[object]]:
    """The WHERE clause and parameters of an audit query, with `mark` as the placeholder (`?` or `%s`)."""
    clauses: list[str] = []
    params: list[object] = []
    for column, value in (("pipeline", query.pipeline), ("actor", query.actor)):
        if value is not None:
            clauses.append(f"{column} = {mark}")
            params.append(value)
    if query.since is not None:
        clauses.append(f"at >= {mark}")
        params.append(query.since.astimezone(UTC).isoformat())
    if query.until is not None:
        clauses.append(f"at <= {mark}")
        params.append(query.until.astimezone(UTC).isoformat())
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


FEEDBACK_COLUMNS = "id, pipeline, revision, query, answer, document_id, is_correct, comment, meta, actor, created_at"


def feedback_from_row(row: tuple[Any, ...]) -> Feedback:
    """A row selected as `FEEDBACK_COLUMNS` (booleans, JSON and times already decoded) as a record."""
    return Feedback(
        id=row[0],
        pipeline=row[1],
        revision=row[2],
        query=row[3],
        answer=row[4],
        document_id=row[5],
        is_correct=bool(row[6]),
        comment=row[7],
        meta=dict(row[8]) if isinstance(row[8], dict) else {},
        actor=row[9],
        created_at=row[10],
    )


def feedback_summary_sql(mark: str) -> str:
    """Counts per revision of one pipeline's feedback, with `mark` as the placeholder."""
    correct = "CASE WHEN is_correct THEN 1 ELSE 0 END"
    return (
        f"SELECT revision, count(*), SUM({correct}), count(*) - SUM({correct}) FROM feedback"  # noqa: S608 (fixed text)
        f" WHERE pipeline = {mark} GROUP BY revision ORDER BY revision IS NULL, revision"
    )
