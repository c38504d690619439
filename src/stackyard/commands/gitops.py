"""The GitOps round trip: `stackyard export DIR` writes the server's pipelines as files that `stackyard apply -f DIR`
reads back as the same pipelines, and `stackyard diff -f DIR` tells where a folder and the server differ.

A file and a pipeline agree when the file's text is the stored YAML and its `metadata` gives the pipeline's name,
description and labels, as `apply` reads them. The enabled switch is no part of a file: `apply` leaves it as it is.
"""

from __future__ import annotations

import json
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from stackyard.client import Client, Pipeline, PipelineNotFound
from stackyard.commands.apply import advance, item, progress, yaml_diff
from stackyard.commands.options import DEFAULT_SERVER, Output, OutputOption, Server, Token, connect, reporting
from stackyard.commands.render import cell, console, err_console, print_diff, print_json
from stackyard.definitions.discovery import DefinitionFile, DiscoveryError, definition_in, discover
from stackyard.definitions.metadata import MetadataNotWritten, with_metadata

EXIT_DIFFERENT = 1  # as diff(1) and `kubectl diff`: 0 the same, 1 different, 2 trouble
EXIT_TROUBLE = 2


def _shown(path: Path) -> str:
    return escape(str(path))  # a path's brackets are not markup


def _fail(message: str, status: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]Error:[/] {message}", highlight=False, markup=False)
    return typer.Exit(status)


# -- export -----------------------------------------------------------------------------------------------------------


def _agrees(file: DefinitionFile, pipeline: Pipeline) -> bool:
    return (file.name, file.description, file.labels) == (pipeline.name, pipeline.description, pipeline.labels)


def file_text(pipeline: Pipeline, path: Path) -> str:
    """What `path` must hold for `apply` to read it as `pipeline`: the stored YAML as sent, unless its `metadata` does
    not give the name, description and labels; then with them written into it, the rest of the text kept."""
    try:
        if _agrees(definition_in(path, pipeline.yaml), pipeline):
            return pipeline.yaml
    except DiscoveryError:
        pass  # labels `apply` would refuse: they are written anew
    text = with_metadata(pipeline.yaml, name=pipeline.name, description=pipeline.description, labels=pipeline.labels)
    if not _agrees(definition_in(path, text), pipeline):
        raise MetadataNotWritten(f"{path} would not read back as pipeline '{pipeline.name}'")
    return text


def _pipelines(yard: Client) -> list[Pipeline]:
    summaries = yard.list_pipelines()
    found = []
    with progress(len(summaries), "reading") as bar:
        for summary in summaries:
            with suppress(PipelineNotFound):  # deleted since the list was read
                found.append(yard.get_pipeline(summary.name))
            advance(bar)
    return found


@dataclass(frozen=True)
class _Planned:
    pipeline: Pipeline
    path: Path
    text: str
    before: str | None  # what the file holds now, None if there is no file

    @property
    def metadata_added(self) -> bool:
        return self.text != self.pipeline.yaml


def _plan(pipelines: list[Pipeline], folder: Path, existing: dict[str, DefinitionFile]) -> list[_Planned]:
    """Where each pipeline goes: the file that already defines it, else NAME.yml (a name is a safe file name)."""
    claimed = {file.path: name for name, file in existing.items()}
    planned = []
    for pipeline in pipelines:
        path = existing[pipeline.name].path if pipeline.name in existing else folder / f"{pipeline.name}.yml"
        if claimed.get(path, pipeline.name) != pipeline.name:
            raise _fail(
                f"{path} defines pipeline '{claimed[path]}', so pipeline '{pipeline.name}' cannot be written there; "
                f"rename that file or set its metadata.name."
            )
        try:
            text = file_text(pipeline, path)
        except MetadataNotWritten as error:
            raise _fail(f"pipeline '{pipeline.name}': {error}") from None
        before = existing[pipeline.name].yaml if pipeline.name in existing else _read(path)
        planned.append(_Planned(pipeline, path, text, before))
    return planned


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8") if path.exists() else None
    except (OSError, UnicodeDecodeError):
        return ""  # a file that is there but unreadable differs from anything written


def export(
    folder: Annotated[
        Path, typer.Argument(file_okay=False, help="The folder to write NAME.yml files into; made if missing.")
    ],
    force: Annotated[bool, typer.Option(help="Overwrite files that differ from the server's pipelines.")] = False,
    prune: Annotated[
        bool, typer.Option(help="Delete the folder's files that define pipelines the server does not have.")
    ] = False,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
    output: OutputOption = Output.table,
) -> None:
    """Write every pipeline as a YAML file that `stackyard apply -f FOLDER` reads back unchanged.

    Each file holds the stored YAML as it was sent; the name, description and labels go into its `metadata` when it
    does not already give them (the server takes that text for the stored one: applying it changes nothing). A
    pipeline already defined by a file in the folder is written to that file. Files that differ are not overwritten
    without --force: then nothing is written and the exit code is 1. The enabled switch is not written: apply leaves
    it as it is.
    """
    try:
        existing = {file.name: file for file in discover([folder])} if folder.is_dir() else {}
    except DiscoveryError as error:
        raise _fail(f"{error}; export writes only into a folder that `stackyard apply -f` can read.") from None
    with reporting(), connect(server, token) as yard:
        pipelines = _pipelines(yard)
    planned = _plan(pipelines, folder, existing)
    differing = [plan for plan in planned if plan.before is not None and plan.before != plan.text]
    if differing and not force:
        for plan in differing:
            err_console.print(f"  {plan.path} differs from pipeline '{plan.pipeline.name}'", markup=False)
        raise _fail(
            f"{len(differing)} file(s) would be overwritten; nothing was written. "
            f"See how with `stackyard diff -f {folder}`; --force overwrites them."
        )
    stray = [file for name, file in sorted(existing.items()) if name not in {p.name for p in pipelines}]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for plan in planned:
            if plan.before != plan.text:
                plan.path.write_text(plan.text, encoding="utf-8", newline="")  # the text as it is, line ends too
        for file in stray if prune else []:
            file.path.unlink()
    except OSError as error:
        raise _fail(f"cannot write into {folder}: {error}") from None
    _report_export(planned, stray, pruned=prune, as_json=output is Output.json)


def _report_export(planned: list[_Planned], stray: list[DefinitionFile], *, pruned: bool, as_json: bool) -> None:
    written = [plan for plan in planned if plan.before != plan.text]
    disabled = [plan.pipeline.name for plan in planned if not plan.pipeline.enabled]
    with_metadata_added = [plan.pipeline.name for plan in planned if plan.metadata_added]
    if as_json:
        print_json(
            {
                "written": [plan.pipeline.name for plan in written],
                "unchanged": [plan.pipeline.name for plan in planned if plan.before == plan.text],
                "metadata_added": with_metadata_added,
                "disabled": disabled,
                "stray": [str(file.path) for file in stray],  # files of pipelines the server does not have
                "deleted": [str(file.path) for file in stray] if pruned else [],
                "files": {plan.pipeline.name: str(plan.path) for plan in planned},
            }
        )
        return
    width = max(
        (len(name) for name in [*(plan.pipeline.name for plan in planned), *(f.name for f in stray)]), default=0
    )
    for plan in planned:
        verb, style = ("wrote", "green") if plan in written else ("unchanged", "dim")
        note = ", metadata added" if plan.metadata_added else ""
        console.print(f"[{style}]{verb:<9}[/]  {plan.pipeline.name:<{width}}  [dim]({_shown(plan.path)}{note})[/]")
    for file in stray:
        verb = "[red]deleted  [/]" if pruned else "[yellow]stray    [/]"
        console.print(f"{verb}  {file.name:<{width}}  [dim]({_shown(file.path)}: no such pipeline on the server)[/]")
    err_console.print(f"{len(written)} written, {len(planned) - len(written)} unchanged", highlight=False)
    if with_metadata_added:
        err_console.print(
            f"The YAML of {', '.join(with_metadata_added)} gained metadata for its name, description or labels: "
            "applying the files changes nothing, as the server reads them as the stored text.",
            highlight=False,
        )
    if disabled:
        err_console.print(
            f"Disabled on the server: {', '.join(disabled)}. Files do not carry the switch: apply leaves it as it "
            "is, and a pipeline it creates is enabled.",
            highlight=False,
        )
    if stray and not pruned:
        err_console.print("--prune deletes the files of pipelines the server does not have.")


# -- diff -f ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Changed:
    """How a file differs from the pipeline it names."""

    file: DefinitionFile
    live: Pipeline

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.file.name,
            "file": str(self.file.path),
            "revision": self.live.revision,
            "yaml_diff": yaml_diff(self.live, self.file),
            "description": None
            if self.live.description == self.file.description
            else {"server": self.live.description, "folder": self.file.description},
            "labels": None
            if self.live.labels == self.file.labels
            else {"server": self.live.labels, "folder": self.file.labels},
        }


def drift(filenames: list[Path], server: str, token: str | None, output: Output) -> None:
    """`stackyard diff -f`: the server's dry-run apply with prune, each update shown as diffs; exit 0, 1 or 2."""
    try:
        files = discover(filenames)
    except DiscoveryError as error:
        raise _fail(str(error), EXIT_TROUBLE) from None
    if not files:
        raise _fail("no *.yml or *.yaml files found there.", EXIT_TROUBLE)
    by_name = {file.name: file for file in files}
    with reporting(status=EXIT_TROUBLE), connect(server, token) as yard:
        result = yard.apply([item(file) for file in files], prune=True, dry_run=True)
        changed = []
        with progress(len(result.updated), "diffing") as bar:
            for name in result.updated:
                changed.append(Changed(by_name[name], yard.get_pipeline(name)))
                advance(bar)
    if output is Output.json:
        print_json(
            {
                "in_sync": not result.changed,
                "created": [{"name": name, "file": str(by_name[name].path)} for name in result.created],
                "changed": [change.as_json() for change in changed],
                "missing": result.deleted,
                "unchanged": result.unchanged,
            }
        )
    else:
        _report_drift(result.created, changed, result.deleted, len(result.unchanged), by_name)
    if result.changed:
        raise typer.Exit(EXIT_DIFFERENT)


def _report_drift(
    created: list[str], changed: list[Changed], missing: list[str], unchanged: int, files: dict[str, DefinitionFile]
) -> None:
    width = max((len(name) for name in [*created, *missing, *(change.file.name for change in changed)]), default=0)
    for name in created:
        console.print(f"[green]created[/]  {name:<{width}}  [dim]({_shown(files[name].path)}: not on the server)[/]")
    for change in changed:
        console.print(f"[yellow]changed[/]  {change.file.name:<{width}}  [dim]({_shown(change.file.path)})[/]")
        details = change.as_json()
        if details["yaml_diff"]:
            print_diff(details["yaml_diff"])
        if details["description"]:
            server, folder = (json.dumps(text, ensure_ascii=False) for text in details["description"].values())
            console.print(f"    description: {server} -> {folder}", style="yellow", highlight=False, markup=False)
        if details["labels"]:
            server, folder = (cell(labels) for labels in details["labels"].values())
            console.print(f"    labels: {server} -> {folder}", style="yellow", highlight=False, markup=False)
        if not (details["yaml_diff"] or details["description"] or details["labels"]):
            console.print("    (the same; the server does not serve this revision, so apply would build it again)")
    for name in missing:
        console.print(f"[red]missing[/]  {name:<{width}}  [dim](on the server, in no file)[/]")
    counts = [(len(created), "created"), (len(changed), "changed"), (len(missing), "missing"), (unchanged, "unchanged")]
    summary = ", ".join(f"{count} {what}" for count, what in counts if count)
    if created or changed or missing:
        err_console.print(f"{summary}: the files and the server differ", highlight=False)
    else:
        err_console.print(f"in sync: {summary or 'no pipelines'}", highlight=False)
