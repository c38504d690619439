"""Reading and changing pipelines one at a time: list, get, delete, history, diff, rollback."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from stackyard.commands.gitops import drift
from stackyard.commands.options import DEFAULT_SERVER, Output, OutputOption, Server, Token, connect, reporting
from stackyard.commands.render import console, err_console, print_diff, print_json, print_table

Name = Annotated[str, typer.Argument(help="The pipeline's name.")]


def list_pipelines(server: Server = DEFAULT_SERVER, token: Token = None, output: OutputOption = Output.table) -> None:
    """List pipelines: revision, state, labels, last change."""
    with reporting(), connect(server, token) as yard:
        pipelines = yard.list_pipelines()
    if output is Output.json:
        print_json(pipelines)
        return
    print_table(
        ["name", "revision", "live", "state", "enabled", "labels", "updated", "description"],
        (
            [p.name, p.revision, p.live_revision, p.state, p.enabled, p.labels, p.updated_at, p.description]
            for p in pipelines
        ),
        empty="No pipelines.",
    )


class Format(enum.StrEnum):
    yaml = "yaml"
    json = "json"


def get(
    name: Name,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
    output: Annotated[Format, typer.Option("--output", "-o", help="yaml: the definition as sent; json: all.")] = (
        Format.yaml
    ),
) -> None:
    """Print a pipeline's YAML (as it was sent), or everything about it as JSON."""
    with reporting(), connect(server, token) as yard:
        if output is Format.yaml:
            typer.echo(yard.get_yaml(name), nl=False)
        else:
            print_json(yard.get_pipeline(name))


def delete(
    name: Name,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
    if_match: Annotated[int | None, typer.Option(help="Delete only if this revision is live.")] = None,
) -> None:
    """Delete a pipeline (its history stays readable)."""
    with reporting(), connect(server, token) as yard:
        yard.delete_pipeline(name, if_match=if_match)
    err_console.print(f"deleted {name}", highlight=False)


def history(
    name: Name,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
    output: OutputOption = Output.table,
    limit: Annotated[int, typer.Option(min=1, max=200, help="How many revisions, newest first.")] = 20,
) -> None:
    """A pipeline's revisions, newest first: who changed it, when and why."""
    with reporting(), connect(server, token) as yard:
        page = yard.revisions(name, limit=limit)
    if output is Output.json:
        print_json(page)
        return
    print_table(
        ["revision", "created", "author", "message", "description", "labels"],
        ([r.number, r.created_at, r.author, r.message, r.description, r.labels] for r in page.revisions),
    )
    if page.total > len(page.revisions):
        err_console.print(f"({len(page.revisions)} of {page.total} revisions; use --limit for more)")


def diff(
    name: Annotated[str | None, typer.Argument(help="The pipeline's name.", show_default=False)] = None,
    from_revision: Annotated[int | None, typer.Argument(help="Older revision [default: the one before TO].")] = None,
    to_revision: Annotated[int | None, typer.Argument(help="Newer revision [default: the live one].")] = None,
    filenames: Annotated[
        list[Path] | None,
        typer.Option(
            "--filename",
            "-f",
            exists=True,
            help="Instead: compare a YAML file, or a folder of *.yml / *.yaml, with the server (repeatable).",
            show_default=False,
        ),
    ] = None,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
    output: OutputOption = Output.table,
) -> None:
    """Unified diff of the YAML of two revisions of NAME (default: what the last change did).

    With -f instead of NAME: how the files differ from the server, as `stackyard apply -f FILES --prune` would
    change it: created (only in the files), changed (with the diff of the YAML, description and labels), missing
    (only on the server). Exit code 0 when they agree, 1 when they differ, 2 on an error.
    """
    if filenames:
        if name is not None:
            raise typer.BadParameter(
                "give NAME to compare revisions, or -f to compare files; not both", param_hint="NAME"
            )
        drift(filenames, server, token, output)
        return
    if name is None:
        raise typer.BadParameter("give the pipeline's NAME, or -f FOLDER to compare files with the server")
    with reporting(), connect(server, token) as yard:
        answer = yard.diff(name, from_revision, to_revision)
    if output is Output.json:
        print_json(answer)
    elif answer.diff:
        print_diff(answer.diff)
    else:
        err_console.print(f"Revisions {answer.from_revision} and {answer.to_revision} have the same YAML.")


def rollback(
    name: Name,
    revision: Annotated[int, typer.Argument(min=1, help="The revision to make live again.")],
    server: Server = DEFAULT_SERVER,
    token: Token = None,
    message: Annotated[str, typer.Option("--message", "-m", help="Why (kept with the revision).")] = "",
    output: OutputOption = Output.table,
) -> None:
    """Make an earlier revision live again, as a new revision."""
    with reporting(), connect(server, token) as yard:
        result = yard.rollback(name, revision, message=message)
    if output is Output.json:
        print_json(result)
    else:
        console.print(f"{name}: revision {revision} is live again as revision {result.revision}", highlight=False)
