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
    from stackyard.logs import configure_logging
    from stackyard.settings import Settings

    settings = Settings()
    configure_logging(settings.log_level)
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


def main() -> None:
    app()
