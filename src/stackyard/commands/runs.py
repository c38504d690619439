"""Running and checking pipelines: `stackyard run` and `stackyard validate`."""

from __future__ import annotations

import enum
import json
import mimetypes
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import typer

from stackyard.client import RunEvent, RunResult, StreamChunk, UploadFile
from stackyard.commands.options import DEFAULT_SERVER, Output, OutputOption, Server, Token, connect, reporting
from stackyard.commands.render import console, err_console, print_json
from stackyard.commands.results import print_run
from stackyard.definitions.discovery import DiscoveryError, read_definition


class RunOutput(enum.StrEnum):
    json = "json"
    pretty = "pretty"


def parse_data(value: str | None) -> dict[str, Any]:
    """`--data`: a JSON object, or `@file.json` to read it from a file (`@-` reads stdin)."""
    if value is None:
        return {}
    source = "--data"
    if value.startswith("@"):
        source = value[1:]
        try:
            value = typer.get_text_stream("stdin").read() if source == "-" else Path(source).read_text("utf-8")
        except OSError as error:
            raise typer.BadParameter(f"cannot read {source}: {error}", param_hint="--data") from None
    try:
        data = json.loads(value)
    except json.JSONDecodeError as error:
        raise typer.BadParameter(f"{source} is not JSON: {error}", param_hint="--data") from None
    if not isinstance(data, dict):
        raise typer.BadParameter(f"{source} must be a JSON object of inputs", param_hint="--data")
    return data


def upload(path: Path) -> UploadFile:
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return (path.name, path.read_bytes(), media_type)


def run(
    name: Annotated[str, typer.Argument(help="The pipeline to run.")],
    data: Annotated[
        str | None, typer.Option("--data", "-d", help="Inputs as a JSON object, or @file.json (@- for stdin).")
    ] = None,
    files: Annotated[
        list[Path] | None,
        typer.Option("--file", exists=True, dir_okay=False, help="A file to send to the pipeline (repeatable)."),
    ] = None,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
    output: Annotated[
        RunOutput | None,
        typer.Option(
            "--output",
            "-o",
            help="json, or pretty: documents and answers for people. With --stream, json is one event a line.",
            show_default="json; with --stream, the text as it comes",
        ),
    ] = None,
    stream: Annotated[
        bool, typer.Option("--stream", help="Print the reply as the pipeline streams it, chunk by chunk.")
    ] = False,
) -> None:
    """Run a pipeline and print its result."""
    inputs = parse_data(data)
    if stream:
        if files:
            raise typer.BadParameter("a run with files does not stream", param_hint="--stream")
        with reporting(), connect(server, token) as yard:
            print_events(yard.stream_run(name, inputs), as_json=output is RunOutput.json)
        return
    with reporting(), connect(server, token) as yard:
        uploads = [upload(path) for path in files or []]
        if uploads:
            sent = yard.upload_files(name, uploads, inputs)
        else:
            answer = yard.run(name, inputs)
    if uploads:
        if output is RunOutput.pretty:
            for file in sent.files:
                typer.echo(f"{file.file_name}: {file.documents_written} document(s) written ({file.bytes} bytes)")
            for warning in sent.warnings:
                err_console.print(f"[yellow]Warning:[/] {warning}", highlight=False)
        else:
            print_json(sent)
        return
    if output is RunOutput.pretty:
        print_run(f"{answer.pipeline} (revision {answer.revision})", answer.result)
    else:
        print_json(answer)


def print_events(events: Iterable[RunEvent], *, as_json: bool) -> None:
    """A streamed run: each event as a JSON line, or the chunks' text as it comes (the result when none came)."""
    streamed = False
    try:
        for event in events:
            kind = "chunk" if isinstance(event, StreamChunk) else "result"
            if as_json:
                line = {"event": kind, "data": event.model_dump(mode="json")}
                typer.echo(json.dumps(line, ensure_ascii=False, default=str))
            elif isinstance(event, StreamChunk):
                typer.echo(event.content, nl=False)  # echo flushes: each chunk shows as it arrives
                streamed = streamed or bool(event.content)
            elif not streamed and isinstance(event, RunResult):
                # A pipeline that streams nothing sends only its result: show it as `-o pretty` would.
                print_run(f"{event.pipeline} (revision {event.revision})", event.result)
    finally:
        if streamed:
            typer.echo()  # ends the text's line, also before an error that cut it short


def validate(
    filename: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The YAML file to check.")],
    name: Annotated[
        str | None,
        typer.Option(help="Warn about breaking changes against this live pipeline [default: the file's name]."),
    ] = None,
    sample: Annotated[
        str | None, typer.Option(help="Also simulate one run with these inputs (JSON object or @file.json).")
    ] = None,
    server: Server = DEFAULT_SERVER,
    token: Token = None,
    output: OutputOption = Output.table,
) -> None:
    """Check a definition on the server without storing it; exit code 1 when it is not valid."""
    try:
        definition = read_definition(filename)
    except DiscoveryError as error:
        err_console.print(f"[bold red]Error:[/] {error}", highlight=False)
        raise typer.Exit(1) from None
    sample_input = parse_data(sample) if sample is not None else None
    with reporting(), connect(server, token) as yard:
        report = yard.validate(definition.yaml, name=name or definition.name, sample_input=sample_input)
    if output is Output.json:
        print_json(report)
    else:
        for problem in report.problems:
            where = (
                f" line {problem.line}" + (f" column {problem.column}" if problem.column else "")
                if problem.line
                else ""
            )
            component = f" [{problem.component}]" if problem.component else ""
            err_console.print(f"[red]problem[/]{component}{where}: {problem.message}", highlight=False)
        for warning in report.warnings:
            err_console.print(f"[yellow]warning[/] {warning.kind} {warning.name}: {warning.message}", highlight=False)
        if report.simulation is not None:
            console.print(f"simulated run: {report.simulation.total_ms:.1f} ms", highlight=False)
            if report.simulation.error is not None:
                err_console.print(f"[red]simulation failed[/]: {report.simulation.error.message}", highlight=False)
            elif report.simulation.result is not None:
                print_run(f"{definition.name} (simulated)", report.simulation.result)
        console.print(f"{filename}: {'valid' if report.valid else 'not valid'}", highlight=False)
    if not report.valid:
        raise typer.Exit(1)
