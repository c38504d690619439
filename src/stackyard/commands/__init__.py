"""The client commands of `stackyard`: they talk to a running server over HTTP through `stackyard.client`.

Like the client, they import neither FastAPI nor Haystack, so `stackyard list` starts fast; only `serve` needs them.
"""

from __future__ import annotations

import typer

from stackyard.commands import apply, gitops, manage, operations, runs

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the client commands to the `stackyard` command."""
    app.command("apply")(apply.apply)
    app.command("list")(manage.list_pipelines)
    app.command("get")(manage.get)
    app.command("delete")(manage.delete)
    app.command("history")(manage.history)
    app.command("diff")(manage.diff)
    app.command("export")(gitops.export)
    app.command("rollback")(manage.rollback)
    app.command("run")(runs.run)
    app.command("validate")(runs.validate)
    app.command("status")(operations.status)
    app.command("replicas")(operations.replicas)
