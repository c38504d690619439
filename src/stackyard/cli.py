"""The `stackyard` command."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from stackyard.commands import register

app = typer.Typer(
    help="Stackyard: many Haystack pipelines behind one REST API, changed while it runs.", no_args_is_help=True
)


@app.callback()
def _group() -> None:
    """Stackyard: many Haystack pipelines behind one REST API, changed while it runs."""


@app.command()
def serve(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Pipeline YAML files or folders to load at start-up (name = file stem).")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on [default: 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [default: 8000].")] = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--store", help="Store URL: sqlite:///file.db (default sqlite:///stackyard.db) or postgresql://..."
        ),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes; they converge through the store.")] = 1,
) -> None:
    """Start the server."""
    import uvicorn

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
    from stackyard.logs import configure_logging
    from stackyard.metrics import prepare_multiprocess_dir
    from stackyard.settings import Settings

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    prepare_multiprocess_dir(workers)  # before the workers import prometheus_client
    uvicorn.run(
        "stackyard.api.app:create_app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
    )


register(app)  # the client commands, after `serve` so it stays first in --help


token_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="Who or what uses the token (shown in the audit log).")],
    scopes: Annotated[
        str, typer.Option(help="Comma-separated: admin, read, run, or run@PATTERN to run only matching pipelines.")
    ] = "read",
) -> None:
    """Print a new token (shown once) and the line that configures it in STACKYARD_TOKENS or a tokens file."""
    from stackyard.auth import InvalidTokenLine, create_token

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
