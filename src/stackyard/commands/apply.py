"""`stackyard apply`: make the server's pipelines match a set of YAML files, in one transaction."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from stackyard.client import ApplyItem, ApplyResult, Client, Pipeline
from stackyard.commands.options import DEFAULT_SERVER, Output, OutputOption, Server, Token, connect, reporting
from stackyard.commands.render import console, err_console, print_diff, print_json
from stackyard.definitions.discovery import DefinitionFile, DiscoveryError, discover

PROGRESS_FROM = 10  # files; below this the whole apply takes about as long as drawing a bar would


@contextmanager
def progress(total: int, label: str) -> Iterator[Progress | None]:
    if total < PROGRESS_FROM:
        yield None
        return
    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err_console, transient=True
    )
    with bar:
        bar.add_task(label, total=total)
        yield bar


def advance(bar: Progress | None) -> None:
    if bar is not None:
        bar.advance(bar.task_ids[0])


def item(file: DefinitionFile) -> ApplyItem:
    return ApplyItem(
        name=file.name,
        yaml=file.yaml,
        description=file.description,
        labels=file.labels,
        message=f"apply {file.path.name}",
    )


def yaml_diff(live: Pipeline, file: DefinitionFile) -> str:
    """Unified diff of a pipeline's live YAML and a file's."""
    return "".join(
        difflib.unified_diff(
            live.yaml.splitlines(keepends=True),
            file.yaml.splitlines(keepends=True),
            fromfile=f"{live.name}@{live.revision}",
            tofile=str(file.path),
        )
    )


def diffs(yard: Client, result: ApplyResult, files: dict[str, DefinitionFile]) -> dict[str, str]:
    """What each update changes: against the live YAML for a dry run, else the server's diff of the new revision."""
    found = {}
    with progress(len(result.updated), "diffing") as bar:
        for name in result.updated:
            if result.dry_run:
                found[name] = yaml_diff(yard.get_pipeline(name), files[name])
            else:
                found[name] = yard.diff(name).diff
            advance(bar)
    return found


def apply(
    filenames: Annotated[
        list[Path],
        typer.Option("--filename", "-f", exists=True, help="A YAML file, or a folder of *.yml / *.yaml (repeatable)."),
    ],
    prune: Annotated[bool, typer.Option(help="Delete pipelines that none of the files defines.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Report what would change; change nothing.")] = False,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
    output: OutputOption = Output.table,
) -> None:
    """Create, update (and with --prune delete) pipelines so the server matches the files, all or nothing.

    A pipeline is named by `metadata.name` in its YAML, else by its file stem. Applying the same files again
    changes nothing. When any definition is refused nothing is applied, each reason is printed and the exit code is 1.
    """
    try:
        files = discover(filenames)
    except DiscoveryError as error:
        err_console.print(f"[bold red]Error:[/] {error}", highlight=False)
        raise typer.Exit(1) from None
    if not files:
        err_console.print("[bold red]Error:[/] no *.yml or *.yaml files found there.")
        raise typer.Exit(1)
    by_name = {file.name: file for file in files}
    with reporting(), connect(server, token) as yard:
        with err_console.status(f"applying {len(files)} definitions…") if len(files) >= PROGRESS_FROM else _quiet():
            result = yard.apply([item(file) for file in files], prune=prune, dry_run=dry_run)
        changes = diffs(yard, result, by_name)
    if output is Output.json:
        print_json({**result.model_dump(mode="json"), "diffs": changes})
        return
    _report(result, changes, by_name)


@contextmanager
def _quiet() -> Iterator[None]:
    yield


def _report(result: ApplyResult, changes: dict[str, str], files: dict[str, DefinitionFile]) -> None:
    verbs = (
        ["would create", "would update", "unchanged", "would delete"]
        if result.dry_run
        else ["created", "updated", "unchanged", "deleted"]
    )
    styles = ["green", "yellow", "dim", "red"]
    groups: list[list[str]] = [result.created, result.updated, result.unchanged, result.deleted]
    width = max(len(verb) for verb in verbs)
    name_width = max((len(name) for names in groups for name in names), default=0)
    for verb, style, names in zip(verbs, styles, groups, strict=True):
        for name in names:
            source = f"  [dim]({files[name].path})[/]" if name in files else ""
            console.print(f"[{style}]{verb:<{width}}[/]  {name:<{name_width}}{source}", highlight=False)
            if name in changes:
                if changes[name]:
                    print_diff(changes[name])
                else:
                    console.print("    (description or labels only)", style="dim")
    counts: list[Any] = [len(names) for names in groups]
    summary = ", ".join(f"{count} {verb}" for count, verb in zip(counts, verbs, strict=True) if count)
    suffix = "; nothing was changed (dry run)" if result.dry_run else ""
    err_console.print(f"{summary or 'nothing to apply'}{suffix}", highlight=False)
