"""``legato runs``: list, inspect, read the logs of, and retry flow runs.

Every command reads through ``legato.get_client()`` (the store of ``LEGATO_HOME``,
or ``LEGATO_DATABASE_URL``). A flow run ``ID`` may be any unique prefix of its id.
An unknown or ambiguous id, a damaged store or a bad option value prints one line
``error: ...`` on stderr and exits 1.

JSON output (``--json``)
------------------------
One JSON document on stdout; keys appear in the order below. Timestamps are
ISO 8601 in UTC (``2025-01-31T12:00:00.123456Z``); durations are seconds (float);
absent values are ``null``.

A *state* object::

    {
        "type": "FAILED",  # SCHEDULED PENDING RUNNING COMPLETED FAILED CRASHED
        # CANCELLING CANCELLED PAUSED
        "name": "TimedOut",  # what people read: Completed, Cached, Retrying, ...
        "message": "..." | null,
        "timestamp": "...",
        "scheduled_time": "..." | null,
    }  # for Scheduled-type states (AwaitingRetry)

A *flow run* object::

    {"id", "name", "flow_name", "state": <state>, "parameters": {...}, "tags": [...],
     "run_count",                   # attempts started (retries and resumes count)
     "parent_flow_run_id", "parent_task_run_id",   # set for subflow runs
     "entrypoint", "created", "start_time", "end_time", "duration_seconds",
     "deployment_id", "work_pool", "expected_start_time",
     "worker_name"}                 # runs of a deployment

A *task run* object::

    {"id", "flow_run_id", "name", "task_key", "dynamic_key", "state": <state>,
     "run_count",                   # times the body started (1 + retries used)
     "tags", "start_time", "end_time", "duration_seconds", "created",
     "cache_key", "result_key",
     "upstream_ids": [...],         # ids of the task runs it waited for, in order
     "inputs": [{"parameter": "x", "upstream_id": "..."}],   # "wait_for" for order only
     "subflow_run_id"}              # set when the task run stands for a subflow call

A *log* object::

    {
        "timestamp",
        "level",
        "logger",
        "message",
        "flow_run_id",
        "task_run_id",
        "task_run_name",  # null for lines of the flow run itself
        "id",  # the line's position: lines come in this order
    }

What each command prints:

- ``runs ls --json``: a list of flow run objects, newest first.
- ``runs show ID --json``: a flow run object plus ``"task_run_summary"``
  (``{"flow_run_id", "task_runs": <how many in all>, "counts": [{"task", "task_key",
  "state_type", "state_name", "count"}]}``, counted by task and state), ``"task_runs"``
  (the first ``--tasks`` task run objects, default 100, or all with ``--all-tasks``, in
  creation order, each plus its own ``"state_history"``) and ``"state_history"`` (the
  flow run's states, oldest first).
- ``runs logs ID --json``: a list of log objects in the order stored, written element
  by element as the pages arrive (with ``--follow``, closed when the run has ended or on
  Ctrl-C).
- ``runs retry ID --json``: ``{"flow_run_id", "flow_run_name", "attempt",
  "state": <state>, "task_runs_reused": [ids], "task_runs_run": [ids]}``.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import textwrap
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from legato.cli.output import (
    JsonOption,
    format_duration,
    format_time,
    level_text,
    print_json,
    reports_errors,
    state_text,
    stdout_console,
    terminal_safe,
)

if TYPE_CHECKING:
    from legato.orchestrator.protocol import Orchestrator
    from legato.schemas import (
        FlowRunRecord,
        LogRecord,
        StateRecord,
        TaskRunRecord,
        TaskRunSummary,
    )

app = typer.Typer(
    name="runs",
    help="List, inspect, read the logs of, retry and cancel flow runs.",
    no_args_is_help=True,
)

IdArgument = Annotated[
    str, typer.Argument(metavar="ID", help="A flow run id, or a unique prefix of one.")
]


def _client() -> Orchestrator:
    from legato import get_client

    return get_client()


def _resolve(client: Orchestrator, flow_run_id: str) -> FlowRunRecord:
    return client.read_flow_run(client.resolve_flow_run_id(flow_run_id))


# -- ls ------------------------------------------------------------------------------


@app.command("ls")
@reports_errors
def list_runs(
    flow: Annotated[
        str | None, typer.Option("--flow", help="Only runs of this flow (its name).")
    ] = None,
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            help="Only runs in this state: a type (FAILED) or a name (TimedOut), any case.",
        ),
    ] = None,
    tags: Annotated[
        list[str] | None,
        typer.Option("--tag", help="Only runs carrying this tag (repeat: all of them)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only runs created since: an ISO 8601 time (UTC unless it says otherwise) "
            "or a span back from now such as 30m, 6h, 7d.",
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="At most this many runs (newest first).")
    ] = 20,
    as_json: JsonOption = False,
) -> None:
    """List flow runs, newest first."""
    records = _client().read_flow_runs(
        flow_name=flow,
        state=state,
        tags=tags or (),
        created_after=parse_since(since) if since is not None else None,
        limit=limit,
    )
    if as_json:
        print_json([record.model_dump(mode="json") for record in records])
        return
    console = stdout_console()
    if not records:
        console.print("No flow runs found.")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    # The id is what people copy into the next command: never cut it; let the rest wrap.
    table.add_column("ID", no_wrap=True, min_width=len(records[0].id))
    table.add_column("NAME", overflow="fold")
    table.add_column("FLOW", overflow="fold")
    table.add_column("STATE")
    table.add_column("STARTED")
    table.add_column("DURATION", justify="right")
    for record in records:
        table.add_row(
            record.id,
            record.name,
            record.flow_name,
            state_text(record.state),
            format_time(record.start_time or record.created),
            format_duration(record.duration_seconds),
        )
    console.print(table)


_SPAN_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str) -> datetime:
    """``--since``: a span back from now (``90s``, ``30m``, ``6h``, ``7d``, ``2w``) or a time."""
    value = text.strip()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhdw])", value.lower())
    if match:
        span = float(match.group(1)) * _SPAN_UNITS[match.group(2)]
        return datetime.now(UTC) - timedelta(seconds=span)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"--since {text!r} is neither a time (2026-11-25T09:00, UTC unless it says "
            "otherwise) nor a span back from now (30m, 6h, 7d)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- show ----------------------------------------------------------------------------


DEFAULT_SHOWN_TASKS = 100
"""Task runs ``runs show`` lists unless told otherwise (the counts cover them all)."""


@app.command("show")
@reports_errors
def show_run(
    flow_run_id: IdArgument,
    tasks: Annotated[
        int,
        typer.Option(
            "--tasks",
            min=0,
            help="Show the first N task runs (in creation order); the counts by task and "
            "state always cover all of them.",
        ),
    ] = DEFAULT_SHOWN_TASKS,
    all_tasks: Annotated[
        bool, typer.Option("--all-tasks", help="Show every task run (read a page at a time).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Show a flow run: its parameters and state, its task runs counted by task and state,
    the first task runs with their edges, and its history."""
    client = _client()
    record = _resolve(client, flow_run_id)
    summary = client.read_task_run_summary(record.id)
    history = client.read_state_history(record.id)
    shown = None if all_tasks else tasks
    pages = _task_run_pages(client, record.id, shown)
    if as_json:
        _write_show_json(client, record, summary, pages, history)
        return

    console = stdout_console()
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold", no_wrap=True)
    header.add_column()
    header.add_row("flow run", Text.assemble((record.name, "bold"), f"  {record.id}"))
    header.add_row("flow", record.flow_name)
    header.add_row("state", state_text(record.state, with_message=True))
    header.add_row("parameters", Text(json.dumps(record.parameters, default=str)))
    header.add_row("started", format_time(record.start_time))
    header.add_row("ended", format_time(record.end_time))
    header.add_row("duration", format_duration(record.duration_seconds))
    header.add_row("attempts", str(record.run_count))
    if record.parent_flow_run_id:
        parent = record.parent_flow_run_id
        if record.parent_task_run_id:
            parent += f" (task run {record.parent_task_run_id})"
        header.add_row("parent", parent)
    else:
        header.add_row("parent", "-")
    if record.tags:
        header.add_row("tags", ", ".join(record.tags))
    if record.entrypoint:
        header.add_row("entrypoint", Text(record.entrypoint))
    console.print(header)
    console.print()
    console.print(_summary_table(summary))
    console.print()
    printed = 0
    names: dict[str, str] = {}
    for page in pages:
        if page:
            names.update((task_run.id, task_run.name) for task_run in page)
            console.print(_task_table(page, names, header=printed == 0))
            printed += len(page)
    if printed < summary.task_runs:
        console.print(
            Text(
                f"showing {printed} of {summary.task_runs} task runs; see more with "
                f"--tasks N or --all-tasks",
                style="dim",
            )
        )
    console.print()
    console.print(Text("state history", style="bold"))
    states = Table(box=None, header_style="bold", pad_edge=False)
    states.add_column("TIME", no_wrap=True)
    states.add_column("STATE", no_wrap=True)
    states.add_column("MESSAGE")
    for state in history:
        message = state.message or ""
        if state.scheduled_time is not None:
            message = f"{message} (until {format_time(state.scheduled_time)})".strip()
        states.add_row(format_time(state.timestamp, precise=True), state_text(state), message)
    console.print(states)


def _task_run_pages(
    client: Orchestrator, flow_run_id: str, most: int | None
) -> Iterator[list[TaskRunRecord]]:
    """The first ``most`` task runs (None: all), a page at a time."""
    from legato.schemas.runs import MAX_TASK_RUN_PAGE

    cursor: str | None = None
    left = most
    while left is None or left > 0:
        size = MAX_TASK_RUN_PAGE if left is None else min(left, MAX_TASK_RUN_PAGE)
        page = client.read_task_run_page(flow_run_id, limit=size, cursor=cursor)
        yield page.task_runs
        if left is not None:
            left -= len(page.task_runs)
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _summary_table(summary: TaskRunSummary) -> Table | Text:
    from legato.schemas import StateRecord

    if not summary.task_runs:
        return Text("no task runs", style="dim")
    table = Table(box=None, header_style="bold", pad_edge=False, title_justify="left")
    table.add_column("TASK", overflow="fold")
    table.add_column("STATE", no_wrap=True)
    table.add_column("TASK RUNS", justify="right", no_wrap=True)
    for count in summary.counts:
        state = StateRecord(type=count.state_type, name=count.state_name, timestamp=_EPOCH)
        table.add_row(count.task, state_text(state), f"{count.count:,}")
    table.add_row(Text("total", style="bold"), "", f"{summary.task_runs:,}")
    return table


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _task_table(
    task_runs: list[TaskRunRecord], names: dict[str, str], *, header: bool = True
) -> Table:
    table = Table(
        box=None, header_style="bold", pad_edge=False, title_justify="left", show_header=header
    )
    table.add_column("TASK RUN", no_wrap=True)
    table.add_column("STATE", no_wrap=True)
    table.add_column("DURATION", justify="right", no_wrap=True)
    table.add_column("RETRIES", justify="right", no_wrap=True)
    table.add_column("UPSTREAM")
    table.add_column("MESSAGE")
    for task_run in task_runs:
        upstream = ", ".join(names.get(up, up) for up in task_run.upstream_ids)
        message = task_run.state.message or ""
        if task_run.subflow_run_id:
            message = f"subflow run {task_run.subflow_run_id}" + (f": {message}" if message else "")
        table.add_row(
            task_run.name,
            state_text(task_run.state),
            format_duration(task_run.duration_seconds),
            str(task_run.run_count - 1) if task_run.run_count > 1 else "",
            upstream,
            Text(message),
        )
    return table


def _write_show_json(
    client: Orchestrator,
    record: FlowRunRecord,
    summary: TaskRunSummary,
    pages: Iterator[list[TaskRunRecord]],
    history: list[StateRecord],
) -> None:
    """The ``runs show --json`` document, its task runs written a page at a time (the
    text is what ``print_json`` of the whole document would print)."""
    out = sys.stdout
    head = record.model_dump(mode="json")
    head["task_run_summary"] = summary.model_dump(mode="json")
    out.write("{\n")
    for key, value in head.items():
        out.write(_json_member(key, value) + ",\n")
    out.write('  "task_runs": [')
    count = 0
    for page in pages:
        histories = client.read_task_state_histories(record.id, [t.id for t in page])
        for task_run in page:
            item = {
                **task_run.model_dump(mode="json"),
                "state_history": [
                    state.model_dump(mode="json") for state in histories.get(task_run.id, [])
                ],
            }
            text = json.dumps(item, indent=2, ensure_ascii=False, default=str)
            out.write(("\n" if count == 0 else ",\n") + textwrap.indent(text, "    "))
            count += 1
        out.flush()
    out.write("\n  ],\n" if count else "],\n")
    states = [state.model_dump(mode="json") for state in history]
    out.write(_json_member("state_history", states) + "\n}\n")
    out.flush()


def _json_member(key: str, value: Any) -> str:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return "  " + json.dumps(key) + ": " + text.replace("\n", "\n  ")


# -- logs ----------------------------------------------------------------------------


@app.command("logs")
@reports_errors
def show_logs(
    flow_run_id: IdArgument,
    task: Annotated[
        str | None,
        typer.Option("--task", help="Only lines of this task run (its name, id or id prefix)."),
    ] = None,
    level: Annotated[
        str | None,
        typer.Option(
            "--level",
            help="Only lines at this level or above: DEBUG, INFO, WARNING, ERROR, CRITICAL "
            "(any case) or a number.",
        ),
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Keep printing new lines until the run has ended and no more come (Ctrl-C stops).",
        ),
    ] = False,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="At most this many lines (the first).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Print the stored log lines of a flow run (and its task runs) in the order stored.

    Lines are read and printed a page at a time, so a run that printed millions of lines
    streams in constant memory.
    """
    from legato.errors import ObjectNotFound
    from legato.schemas.runs import DEFAULT_LOG_PAGE, log_level_floor

    client = _client()
    record = _resolve(client, flow_run_id)
    if level is not None:
        log_level_floor(level)  # a bad --level fails before anything prints
    task_run_id = None
    if task is not None:
        task_run_id = _find_task_run(client, record.id, task)
        if task_run_id is None:
            raise ObjectNotFound(f"flow run {record.id} has no task run named {task!r}")
    pages = _log_pages(
        client,
        record.id,
        task_run_id=task_run_id,
        level=level,
        follow=follow,
        page_size=min(limit or DEFAULT_LOG_PAGE, DEFAULT_LOG_PAGE),
    )
    write = _json_array_writer() if as_json else _log_line_writer()
    left = limit
    try:
        for page in pages:
            for line in page if left is None else page[:left]:
                write(line)
            sys.stdout.flush()  # a follower sees each page as it comes
            if left is not None:
                left -= len(page)
                if left <= 0:
                    break
    except KeyboardInterrupt:
        if not follow:
            raise
        # Ctrl-C is how a follow ends: what was printed stays complete (JSON closed).
    finally:
        write(None)


FOLLOW_INTERVAL = 1.0
"""Seconds between reads of new lines with ``--follow``."""


def _log_pages(
    client: Orchestrator,
    flow_run_id: str,
    *,
    task_run_id: str | None,
    level: str | None,
    follow: bool,
    page_size: int,
) -> Iterator[list[LogRecord]]:
    """The run's lines, a page at a time; with ``follow``, then the lines stored later,
    until a read after the run ended brings none."""
    import time

    from legato.states import TERMINAL_TYPES

    cursor: str | None = None
    ended = False
    while True:
        page = client.read_log_page(
            flow_run_id, task_run_id=task_run_id, level=level, limit=page_size, cursor=cursor
        )
        if page.logs:
            yield page.logs
            cursor = str(page.logs[-1].id)
        if page.next_cursor is not None:
            cursor = page.next_cursor
            continue
        if not follow or (ended and not page.logs):
            return
        # Asked after the read: a line stored before the run ended is read next time.
        ended = client.read_flow_run(flow_run_id).state.type in TERMINAL_TYPES
        if not ended:
            time.sleep(FOLLOW_INTERVAL)


def _log_line_writer() -> Callable[[LogRecord | None], None]:
    """Print one line per log line (None: the end). Plain text straight to stdout when it
    is not a terminal (rich costs more per line than a million lines can pay)."""
    console = stdout_console()
    if console.is_terminal:

        def show(line: LogRecord | None) -> None:
            if line is not None:
                console.print(
                    Text.assemble(
                        format_time(line.timestamp, precise=True),
                        " | ",
                        level_text(line.level),
                        " | ",
                        (_source(line), "bold"),
                        " | ",
                        line.message,
                    ),
                    soft_wrap=True,
                )

        return show
    out = sys.stdout

    def write(line: LogRecord | None) -> None:
        if line is None:
            out.flush()
            return
        stamp = format_time(line.timestamp, precise=True)
        text = f"{stamp} | {line.level:<8} | {_source(line)} | {line.message}"
        out.write(f"{terminal_safe(text)}\n")

    return write


def _source(line: LogRecord) -> str:
    if line.task_run_id is None:
        return "flow"
    return line.task_run_name or line.task_run_id


def _json_array_writer() -> Callable[[LogRecord | None], None]:
    """Write log objects as one JSON array, element by element (None: close it); the
    text is what ``print_json`` of the whole list would print."""
    out = sys.stdout
    count = 0

    def write(line: LogRecord | None) -> None:
        nonlocal count
        if line is None:
            out.write("[]\n" if count == 0 else "\n]\n")
            out.flush()
            return
        text = json.dumps(line.model_dump(mode="json"), indent=2, ensure_ascii=False)
        out.write(("[\n" if count == 0 else ",\n") + textwrap.indent(text, "  "))
        count += 1
        if count % 100 == 0:
            out.flush()

    return write


def _find_task_run(client: Orchestrator, flow_run_id: str, wanted: str) -> str | None:
    """The id of the flow run's task run named or identified by ``wanted`` (id, name, or
    id prefix), reading its task runs a page at a time."""
    from legato.errors import ObjectNotFound

    by_name: list[str] = []
    by_prefix: list[str] = []
    for page in _task_run_pages(client, flow_run_id, None):
        for task_run in page:
            if task_run.id == wanted:
                return task_run.id
            if task_run.name == wanted:
                by_name.append(task_run.id)
            elif task_run.id.startswith(wanted):
                by_prefix.append(task_run.id)
    for candidates in (by_name, by_prefix):
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            ids = ", ".join(candidates[:5]) + (", ..." if len(candidates) > 5 else "")
            raise ObjectNotFound(f"{wanted!r} matches {len(candidates)} task runs ({ids})")
    return None


# -- retry ---------------------------------------------------------------------------


@app.command("retry")
@reports_errors
def retry_run(flow_run_id: IdArgument, as_json: JsonOption = False) -> None:
    """Run a failed flow run again here, skipping the task runs whose results are stored.

    Exits 0 when the new attempt completed, 1 when it did not.
    """
    import legato
    from legato.states import StateType

    client = _client()
    record = _resolve(client, flow_run_id)
    before = {
        task_run.id: task_run.state.timestamp for task_run in client.read_task_runs(record.id)
    }
    with _user_output_to_stderr(as_json):
        final = legato.retry_flow_run(record.id)
    client = _client()
    after = client.read_flow_run(record.id)
    reused: list[str] = []
    ran: list[str] = []
    # A reused task run is one whose stored state the new attempt did not touch.
    for task_run in client.read_task_runs(record.id):
        untouched = before.get(task_run.id) == task_run.state.timestamp
        (reused if untouched else ran).append(task_run.id)
    completed = final.type is StateType.COMPLETED
    if as_json:
        print_json(
            {
                "flow_run_id": after.id,
                "flow_run_name": after.name,
                "attempt": after.run_count,
                "state": after.state.model_dump(mode="json"),
                "task_runs_reused": reused,
                "task_runs_run": ran,
            }
        )
    else:
        console = stdout_console()
        console.print(
            Text.assemble(
                f"flow run {after.name} ({after.id}) attempt {after.run_count}: ",
                state_text(after.state, with_message=True),
            ),
            soft_wrap=True,
        )
        console.print(f"task runs: {len(reused)} reused, {len(ran)} ran again")
    if not completed:
        raise typer.Exit(1)


# -- cancel --------------------------------------------------------------------------


@app.command("cancel")
@reports_errors
def cancel_run(
    flow_run_id: IdArgument,
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason",
            help="Why: the message of the Cancelled state the run and its stopped task "
            "runs end in.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel a flow run: at once if it has not started, else its worker stops it (the run
    is Cancelling until its process is gone, then Cancelled)."""
    from legato.workers.cancel import cancel_flow_run

    client = _client()
    record = cancel_flow_run(client, _resolve(client, flow_run_id).id, reason)
    if as_json:
        print_json(record.model_dump(mode="json"))
        return
    stdout_console().print(
        Text.assemble(f"flow run {record.name} ({record.id}): ", state_text(record.state)),
        soft_wrap=True,
    )


@contextlib.contextmanager
def _user_output_to_stderr(enabled: bool) -> Iterator[None]:
    """Keep ``print`` calls of the flow being rerun out of a JSON stdout."""
    if not enabled:
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield
