"""The `stackyard` command."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from stackyard import __version__
from stackyard.commands import register
from stackyard.settings import Settings

app = typer.Typer(
    help="Stackyard: many Haystack pipelines behind one REST API, changed while it runs.", no_args_is_help=True
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"stackyard {__version__}")
        raise typer.Exit


@app.callback()
def _group(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Stackyard: many Haystack pipelines behind one REST API, changed while it runs."""


def _default(field: str) -> str:
    """The default a `serve` option falls back to, as its help shows it: the setting's, unless its variable is set."""
    return f"$STACKYARD_{field.upper()} or {Settings.model_fields[field].default}"


@app.command()
def serve(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Pipeline YAML files or folders to load at start-up (name = metadata.name, else the file stem).",
            show_default="$STACKYARD_PIPELINE_PATHS or none",
        ),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.", show_default=_default("host"))] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.", show_default=_default("port"))] = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="Store URL: sqlite:///relative.db, sqlite:////absolute.db or postgresql://...",
            show_default=_default("store_url"),
        ),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes; they converge through the store.")] = 1,
) -> None:
    """Start the server. A bad setting, token line, start-up file or store stops it with one line and status 2."""
    # Options override STACKYARD_* variables; workers read the result from their environment.
    if paths:
        os.environ["STACKYARD_PIPELINE_PATHS"] = ",".join(str(path.resolve()) for path in paths)
    if host is not None:
        os.environ["STACKYARD_HOST"] = host
    if port is not None:
        os.environ["STACKYARD_PORT"] = str(port)
    if store is not None:
        os.environ["STACKYARD_STORE_URL"] = store
    os.environ["STACKYARD_WORKERS"] = str(workers)  # so each worker knows it has siblings
    from stackyard import startup
    from stackyard.observability.logs import configure_logging
    from stackyard.observability.metrics import prepare_multiprocess_dir

    try:
        settings = startup.load_settings()
        startup.check(settings)
    except startup.StartupError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(startup.EXIT_STARTUP_FAILED) from None
    configure_logging(settings.log_level, settings.log_format)
    prepare_multiprocess_dir(workers)  # before the workers import prometheus_client
    status = startup.run(settings, workers)
    if status:
        raise typer.Exit(status)


register(app)  # the client commands, after `serve` so it stays first in --help


token_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="Who or what uses the token (shown in the audit log).")],
    scopes: Annotated[
        str,
        typer.Option(
            help="Comma-separated: admin (everything), read (pipelines), run, or run@PATTERN to run only matching "
            "pipelines, feedback (read what users asked, were answered and judged)."
        ),
    ] = "read",
) -> None:
    """Print a new token (shown once) and the line that configures it in STACKYARD_TOKENS or a tokens file."""
    from stackyard.tokens import InvalidTokenLine, create_token

    try:
        token, line = create_token(name, scopes)
    except InvalidTokenLine as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"token: {token}")
    typer.echo(f"line:  {line}")
    typer.echo("Give the token to its user now; the server keeps only the line.", err=True)


def main() -> None:
    app()
