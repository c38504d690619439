"""What the SQL stores share: the audit query filter and the refusal of a schema written by a newer Stackyard."""

from __future__ import annotations

from datetime import UTC

from stackyard.store.records import AuditQuery

# A replica silent for this long (seconds) is removed at the next heartbeat of any other: it crashed or was scaled away.
FORGET_REPLICAS_AFTER = 24 * 3600.0


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer Stackyard; this one must not write to it."""


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
