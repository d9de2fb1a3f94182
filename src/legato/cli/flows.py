"""``legato flows``: the flows that have run, by name."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from legato.cli.output import JsonOption, format_time, print_json, reports_errors, stdout_console

app = typer.Typer(
    rich_markup_mode=None, name="flows", help="List the flows that have run.", no_args_is_help=True
)


@app.command("ls")
@reports_errors
def list_flows(
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="At most this many flows.", metavar="INTEGER")
    ] = 200,
    as_json: JsonOption = False,
) -> None:
    """List flows by name (``legato runs ls --flow NAME`` lists one flow's runs)."""
    from legato import get_client

    records = get_client().read_flows(limit=limit)
    if as_json:
        print_json([record.model_dump(mode="json") for record in records])
        return
    console = stdout_console()
    if not records:
        console.print("No flows have run yet.")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("NAME", overflow="fold")
    table.add_column("FIRST RUN")
    table.add_column("ID", no_wrap=True)
    for record in records:
        table.add_row(record.name, format_time(record.created), record.id)
    console.print(table)
