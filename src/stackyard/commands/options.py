"""What every client command shares: where the server is, the token, the output format, and error reporting."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from stackyard.client import ApiError, Client, ClientError, RouteNotFound
from stackyard.client.connection import DEFAULT_URL, TOKEN_VARIABLE, URL_VARIABLE
from stackyard.commands.render import err_console

Server = Annotated[
    str,
    typer.Option("--server", "-s", envvar=URL_VARIABLE, help="The Stackyard server's URL.", show_envvar=True),
]
Token = Annotated[
    str | None,
    typer.Option(
        "--token", envvar=TOKEN_VARIABLE, help="Bearer token for the server.", show_envvar=True, show_default=False
    ),
]


class Output(enum.StrEnum):
    table = "table"
    json = "json"


OutputOption = Annotated[Output, typer.Option("--output", "-o", help="table for people, json for scripts.")]
DEFAULT_SERVER = DEFAULT_URL


def connect(server: str, token: str | None) -> Client:
    return Client(server, token=token or None)


@contextmanager
def reporting(status: int = 1) -> Iterator[None]:
    """Turn client errors into the server's problem on stderr and exit code `status` (1), never a traceback."""
    try:
        yield
    except ApiError as error:
        print_problem(error)
        raise typer.Exit(status) from None
    except ClientError as error:
        err_console.print(f"[bold red]Error:[/] {error}", highlight=False)
        raise typer.Exit(status) from None


def print_problem(error: ApiError) -> None:
    err_console.print(f"[bold red]Error:[/] {error.title} [dim]({error.status})[/]", highlight=False)
    if error.detail:
        err_console.print(f"  {error.detail}", highlight=False, markup=False)
    if isinstance(error, RouteNotFound):
        err_console.print("  This server does not offer that route: it may be an older version of Stackyard.")
    for item in error.problems:
        where = f" line {item['line']}" if item.get("line") else ""
        component = f" [{item['component']}]" if item.get("component") else ""
        err_console.print(
            f"  - {item.get('name', '?')}{component}{where}: {item.get('detail') or item.get('title', '')}",
            highlight=False,
            markup=False,
        )
    for item in error.problem.get("errors", []) if isinstance(error.problem.get("errors"), list) else []:
        if isinstance(item, dict):
            err_console.print(f"  - {item.get('location')}: {item.get('message')}", highlight=False, markup=False)
