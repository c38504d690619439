"""What operators read: `stackyard status` (one server process) and `stackyard replicas` (all of them)."""

from __future__ import annotations

from stackyard.commands.options import DEFAULT_SERVER, Output, OutputOption, Server, Token, connect, reporting
from stackyard.commands.render import console, print_fields, print_json, print_table


def status(server: Server = DEFAULT_SERVER, token: Token = None, output: OutputOption = Output.table) -> None:
    """The answering server process: version, replica, uptime, store, generation, and each pipeline's state."""
    with reporting(), connect(server, token) as yard:
        answer = yard.status()
    if output is Output.json:
        print_json(answer)
        return
    print_fields(answer.model_dump(mode="json", exclude={"pipelines", "ignored_files"}))
    for file in answer.ignored_files:
        console.print(f"[yellow]ignored start-up file:[/] {file.detail}", highlight=False)
    console.print()
    print_table(
        ["name", "revision", "live", "state", "error"],
        ([p.name, p.revision, p.live_revision, p.state, p.error] for p in answer.pipelines),
        empty="No pipelines.",
    )


def replicas(server: Server = DEFAULT_SERVER, token: Token = None, output: OutputOption = Output.table) -> None:
    """Every replica of the server that the store knows, and what each serves."""
    with reporting(), connect(server, token) as yard:
        answer = yard.replicas()
    if output is Output.json:
        print_json(answer)
    else:
        print_table(
            ["id", "host", "pid", "generation", "pipelines", "seen", "answered"],
            ([r.id, r.host, r.pid, r.generation, len(r.pipelines), r.seen_at, "yes" if r.this else ""] for r in answer),
            empty="No replicas.",
        )
