"""Printing results: rich tables for people, JSON for scripts, and a readable view of run results."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
if not console.is_terminal:
    console.width = 160  # piped output is read by people too; don't fold tables at the 80-column default


def print_json(value: Any) -> None:
    """Plain JSON on stdout (no colour, no wrapping), so `jq` and scripts can read it."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, list):
        value = [item.model_dump(mode="json") if isinstance(item, BaseModel) else item for item in value]
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return ",".join(f"{key}={item}" for key, item in value.items()) or "-"
    if isinstance(value, list | tuple):
        return ",".join(cell(item) for item in value) or "-"
    return str(value)


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], *, empty: str = "Nothing to show.") -> None:
    rows = list(rows)
    if not rows:
        err_console.print(empty)
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in columns:
        table.add_column(column.upper(), overflow="fold")
    for row in rows:
        table.add_row(*(cell(value) for value in row))
    console.print(table)


def print_fields(values: Mapping[str, Any], prefix: str = "") -> None:
    """`key: value` lines; nested objects are flattened to `outer.inner`, lists of objects are skipped."""
    for key, value in values.items():
        if isinstance(value, Mapping):
            print_fields(value, f"{prefix}{key}.")
        elif not (isinstance(value, list) and value and isinstance(value[0], Mapping)):
            console.print(f"[bold]{prefix}{key}:[/] {cell(value)}", highlight=False)


def print_diff(text: str) -> None:
    for line in text.splitlines():
        style = (
            "green" if line.startswith("+") else "red" if line.startswith("-") else "cyan" if line[:2] == "@@" else ""
        )
        console.print(f"    {line}", style=style or None, highlight=False, markup=False)
