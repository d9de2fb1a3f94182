"""``legato task-runs``: list and inspect task runs called outside any flow.

A ``@task`` called where no flow runs is recorded as a task run of its own, with no
flow run (``flow_run_id`` is null), so ``legato runs`` does not list it: these commands
do. A task run ``ID`` may be its id, any unique start of it, or the name of a task run
called outside a flow; a name several task runs share lists them. An unknown or
ambiguous id or a damaged store prints one line ``error: ...`` on stderr and exits 1.

JSON output (``--json``), in the shapes documented in :mod:`legato.cli.runs`:

- ``task-runs ls --json``: a list of task run objects, newest first.
- ``task-runs show ID --json``: a task run object plus ``"state_history"`` (its states,
  oldest first) and ``"logs"`` (its log objects in the order stored).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from legato.cli.output import (
    JsonOption,
    format_duration,
    format_time,
    log_line_writer,
    print_json,
    reports_errors,
    state_history_table,
    state_text,
    stdout_console,
)

if TYPE_CHECKING:
    from legato.orchestrator.protocol import Orchestrator
    from legato.schemas import LogRecord, TaskRunRecord

app = typer.Typer(
    rich_markup_mode=None,
    name="task-runs",
    help="List and inspect task runs called outside any flow (standalone task runs).",
    no_args_is_help=True,
)

IdArgument = Annotated[
    str,
    typer.Argument(
        metavar="ID",
        help="A task run's id (or a unique start of it), or the name of a task run called "
        "outside a flow.",
    ),
]


def _client() -> Orchestrator:
    from legato import get_client

    return get_client()


# -- ls ------------------------------------------------------------------------------


@app.command("ls")
@reports_errors
def list_task_runs(
    limit: Annotated[
        int,
        typer.Option("--limit", min=1, help="At most this many task runs.", metavar="INTEGER"),
    ] = 20,
    as_json: JsonOption = False,
) -> None:
    """List task runs called outside any flow, newest first."""
    records = list(_standalone_task_runs(_client(), limit))
    if as_json:
        print_json([record.model_dump(mode="json") for record in records])
        return
    console = stdout_console()
    if not records:
        console.print(
            "No task runs called outside a flow found (`legato runs ls` lists flow runs)."
        )
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    # The id is what people copy into the next command: never cut it; let the rest wrap.
    table.add_column("ID", no_wrap=True, min_width=len(records[0].id))
    table.add_column("NAME", overflow="fold")
    table.add_column("STATE")
    table.add_column("STARTED")
    table.add_column("DURATION", justify="right")
    for record in records:
        table.add_row(
            record.id,
            record.name,
            state_text(record.state),
            format_time(record.start_time),
            format_duration(record.duration_seconds),
        )
    console.print(table)


def _standalone_task_runs(client: Orchestrator, most: int) -> Iterator[TaskRunRecord]:
    """The newest ``most`` standalone task runs, a page at a time."""
    from legato.schemas.runs import MAX_TASK_RUN_PAGE

    cursor: str | None = None
    left = most
    while left > 0:
        page = client.read_standalone_task_run_page(
            limit=min(left, MAX_TASK_RUN_PAGE), cursor=cursor
        )
        yield from page.task_runs
        left -= len(page.task_runs)
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


# -- show ----------------------------------------------------------------------------


@app.command("show")
@reports_errors
def show_task_run(task_run_id: IdArgument, as_json: JsonOption = False) -> None:
    """Show a task run: its state, its state history and its log lines."""
    client = _client()
    record = client.read_task_run(client.resolve_task_run_id(task_run_id))
    history = client.read_state_history(record.id)
    lines = _log_lines(client, record.id)
    if as_json:
        print_json(
            {
                **record.model_dump(mode="json"),
                "state_history": [state.model_dump(mode="json") for state in history],
                "logs": [line.model_dump(mode="json") for line in lines],
            }
        )
        return

    console = stdout_console()
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold", no_wrap=True)
    header.add_column()
    header.add_row("task run", Text.assemble((record.name, "bold"), f"  {record.id}"))
    header.add_row("flow run", record.flow_run_id or "- (called outside any flow)")
    header.add_row("state", state_text(record.state, with_message=True))
    header.add_row("started", format_time(record.start_time))
    header.add_row("ended", format_time(record.end_time))
    header.add_row("duration", format_duration(record.duration_seconds))
    header.add_row("attempts", str(record.run_count))
    if record.tags:
        header.add_row("tags", ", ".join(record.tags))
    if record.cache_key:
        header.add_row("cache key", Text(record.cache_key))
    console.print(header)
    console.print()
    console.print(Text("state history", style="bold"))
    console.print(state_history_table(history))
    console.print()
    console.print(Text("logs", style="bold"))
    if not lines:
        console.print(Text("no log lines", style="dim"))
        return
    console.file.flush()
    write = log_line_writer()
    for line in lines:
        write(line)
    write(None)


def _log_lines(client: Orchestrator, task_run_id: str) -> list[LogRecord]:
    """Every log line of the task run, read a page at a time."""
    found: list[LogRecord] = []
    cursor: str | None = None
    while True:
        page = client.read_task_run_log_page(task_run_id, cursor=cursor)
        found.extend(page.logs)
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor
