"""``legato runs``: list, inspect, read the logs of, and retry flow runs.

Every command reads through ``legato.get_client()`` (the store of ``LEGATO_HOME``,
or ``LEGATO_DATABASE_URL``). A flow run ``ID`` may be its id, any unique start of it,
or the run's name (``spry-jaguar``); a name several runs share lists them.
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
     "entrypoint", "created", "start_time", "end_time",
     "duration_seconds",            # wall clock: first start to end, waits included
     "run_time_seconds",            # the time its attempts ran, summed
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

- ``runs ls --json``: a list of flow run objects, newest started (or due) first; with
  ``--scheduled``, the runs planned for later, soonest first.
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
  "state": <state>, "task_runs_reused": [ids], "task_runs_run": [ids]}`` for a run
  retried in this process; ``{"flow_run_id", "flow_run_name", "work_pool", "state":
  <state>}`` for a deployment's run sent back to its work pool.
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
    log_line_writer,
    print_json,
    reports_errors,
    state_history_table,
    state_text,
    stdout_console,
)
from legato.cli.run_time import run_time_of, run_time_seconds

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
    rich_markup_mode=None,
    name="runs",
    help="List, inspect, read the logs of, retry and cancel flow runs.",
    no_args_is_help=True,
)

IdArgument = Annotated[
    str,
    typer.Argument(metavar="ID", help="A flow run's id (or a unique start of it) or its name."),
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
        str | None,
        typer.Option("--flow", help="Only runs of this flow (its name).", metavar="TEXT"),
    ] = None,
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            help="Only runs in this state: a type (FAILED) or a name (TimedOut), any case.",
            metavar="TEXT",
        ),
    ] = None,
    tags: Annotated[
        list[str] | None,
        typer.Option(
            "--tag", help="Only runs carrying this tag (repeat: all of them).", metavar="TEXT"
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only runs created since: an ISO 8601 time (UTC unless it says otherwise) "
            "or a span back from now such as 30m, 6h, 7d.",
            metavar="TEXT",
        ),
    ] = None,
    scheduled: Annotated[
        bool,
        typer.Option(
            "--scheduled",
            help="List the runs planned for later instead (not started, due after now), "
            "soonest first.",
        ),
    ] = False,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="At most this many runs.", metavar="INTEGER")
    ] = 20,
    as_json: JsonOption = False,
) -> None:
    """List flow runs that have started or are due, newest first (by when they started,
    or are due to start); --scheduled lists the runs planned for later."""
    client = _client()
    now = datetime.now(UTC)
    where: dict[str, Any] = (
        {"due_after": now, "order": "due"} if scheduled else {"due_before": now, "order": "start"}
    )
    records = client.read_flow_runs(
        flow_name=flow,
        state=state,
        tags=tags or (),
        created_after=parse_since(since) if since is not None else None,
        limit=limit,
        **where,
    )
    run_times = [run_time_of(client, record, now) for record in records]
    if as_json:
        print_json(
            [
                _with_run_time(record.model_dump(mode="json"), seconds)
                for record, seconds in zip(records, run_times, strict=True)
            ]
        )
        return
    console = stdout_console()
    if not records:
        console.print("No flow runs planned for later." if scheduled else "No flow runs found.")
    else:
        console.print(_runs_table(records, run_times))
    if not scheduled:
        planned = client.read_flow_runs(
            flow_name=flow, state=state, tags=tags or (), due_after=now, order="due", limit=1
        )
        if planned:
            console.print(
                Text(
                    "runs planned for later are not listed: see them with --scheduled",
                    style="dim",
                )
            )


def _runs_table(records: list[FlowRunRecord], run_times: list[float | None]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    # The id is what people copy into the next command: never cut it; let the rest wrap.
    table.add_column("ID", no_wrap=True, min_width=len(records[0].id))
    table.add_column("NAME", overflow="fold")
    table.add_column("FLOW", overflow="fold")
    table.add_column("STATE")
    table.add_column("STARTED (OR DUE)")
    table.add_column("DURATION", justify="right")
    table.add_column("RUN TIME", justify="right")
    for record, seconds in zip(records, run_times, strict=True):
        table.add_row(
            record.id,
            record.name,
            record.flow_name,
            state_text(record.state),
            _started_or_due(record),
            format_duration(record.duration_seconds),
            format_duration(seconds),
        )
    return table


def _started_or_due(record: FlowRunRecord) -> Text:
    """When the run started; for one not started, when it is due (marked so)."""
    if record.start_time is not None:
        return Text(format_time(record.start_time))
    due = record.expected_start_time or record.created
    return Text.assemble(format_time(due), (" (due)", "dim"))


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
            metavar="INTEGER",
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
    run_time = run_time_seconds(history, datetime.now(UTC))
    if as_json:
        _write_show_json(client, record, summary, pages, history, run_time)
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
    attempts = f" over {record.run_count} attempts" if record.run_count > 1 else ""
    header.add_row("run time", f"{format_duration(run_time)}{attempts}")
    span = format_duration(record.duration_seconds)
    header.add_row("duration", f"{span} (wall clock: first start to end)" if attempts else span)
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
    console.print(state_history_table(history))


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
        upstream = _abbreviated([names.get(up, up) for up in task_run.upstream_ids])
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


SHOWN_UPSTREAM = 2
"""Upstream task runs named in ``runs show``'s table; the rest are counted (all in --json)."""


def _abbreviated(names: list[str]) -> str:
    """``extract-0, extract-1 ... +38``: a wide fan-in stays one short cell."""
    if len(names) <= SHOWN_UPSTREAM + 1:
        return ", ".join(names)
    return ", ".join(names[:SHOWN_UPSTREAM]) + f" ... +{len(names) - SHOWN_UPSTREAM}"


def _write_show_json(
    client: Orchestrator,
    record: FlowRunRecord,
    summary: TaskRunSummary,
    pages: Iterator[list[TaskRunRecord]],
    history: list[StateRecord],
    run_time: float | None,
) -> None:
    """The ``runs show --json`` document, its task runs written a page at a time (the
    text is what ``print_json`` of the whole document would print)."""
    out = sys.stdout
    head = _with_run_time(record.model_dump(mode="json"), run_time)
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


def _with_run_time(document: dict[str, Any], seconds: float | None) -> dict[str, Any]:
    """A flow run object with ``run_time_seconds`` after its ``duration_seconds``."""
    shown: dict[str, Any] = {}
    for key, value in document.items():
        shown[key] = value
        if key == "duration_seconds":
            shown["run_time_seconds"] = seconds
    return shown


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
        typer.Option(
            "--task",
            help="Only lines of this task (its name: all its runs) or task run (its name, "
            "id or id start).",
            metavar="TEXT",
        ),
    ] = None,
    level: Annotated[
        str | None,
        typer.Option(
            "--level",
            help="Only lines at this level or above: DEBUG, INFO, WARNING, ERROR, CRITICAL "
            "(any case) or a number.",
            metavar="TEXT",
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
        int | None,
        typer.Option(
            "--limit", min=1, help="At most this many lines (the first).", metavar="INTEGER"
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Print the stored log lines of a flow run (and its task runs) in the order stored.

    Lines are read and printed a page at a time, so a run that printed millions of lines
    streams in constant memory.
    """
    from legato.schemas.runs import DEFAULT_LOG_PAGE, log_level_floor

    client = _client()
    record = _resolve(client, flow_run_id)
    if level is not None:
        log_level_floor(level)  # a bad --level fails before anything prints
    task_run_id = None
    wanted: frozenset[str] | None = None
    if task is not None:
        wanted = _find_task_runs(client, record.id, task)
        if len(wanted) == 1:
            task_run_id = next(iter(wanted))  # read by the store's index, not filtered here
            wanted = None
    pages = _log_pages(
        client,
        record.id,
        task_run_id=task_run_id,
        task_run_ids=wanted,
        level=level,
        follow=follow,
        page_size=min(limit or DEFAULT_LOG_PAGE, DEFAULT_LOG_PAGE),
    )
    write = _json_array_writer() if as_json else log_line_writer()
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
    task_run_ids: frozenset[str] | None = None,
    level: str | None,
    follow: bool,
    page_size: int,
) -> Iterator[list[LogRecord]]:
    """The run's lines, a page at a time; with ``follow``, then the lines stored later,
    until a read after the run ended brings none. ``task_run_ids``: only their lines
    (the lines of all of a task's runs, in the order stored)."""
    import time

    from legato.states import TERMINAL_TYPES

    cursor: str | None = None
    ended = False
    while True:
        page = client.read_log_page(
            flow_run_id, task_run_id=task_run_id, level=level, limit=page_size, cursor=cursor
        )
        if page.logs:
            kept = page.logs
            if task_run_ids is not None:
                kept = [line for line in kept if line.task_run_id in task_run_ids]
            if kept:
                yield kept
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


def _find_task_runs(client: Orchestrator, flow_run_id: str, wanted: str) -> frozenset[str]:
    """The ids of the flow run's task runs ``wanted`` names: a task run (its id, name, or
    a unique start of its id) or a task (its name: all of its runs), reading the task runs
    a page at a time. None found is an error that lists the names there are."""
    from legato.errors import ObjectNotFound

    by_name: list[str] = []
    by_task: list[str] = []
    by_prefix: list[str] = []
    tasks: dict[str, None] = {}
    for page in _task_run_pages(client, flow_run_id, None):
        for task_run in page:
            task_name = task_name_of(task_run.name)
            tasks[task_name] = None
            if task_run.id == wanted:
                return frozenset([task_run.id])
            if task_run.name == wanted:
                by_name.append(task_run.id)
            elif task_name == wanted:
                by_task.append(task_run.id)
            elif task_run.id.startswith(wanted):
                by_prefix.append(task_run.id)
    if by_name:
        return frozenset(by_name)
    if by_task:
        return frozenset(by_task)
    if len(by_prefix) == 1:
        return frozenset(by_prefix)
    if by_prefix:
        ids = ", ".join(by_prefix[:5]) + (", ..." if len(by_prefix) > 5 else "")
        raise ObjectNotFound(f"{wanted!r} starts the ids of {len(by_prefix)} task runs ({ids})")
    raise ObjectNotFound(_no_such_task(flow_run_id, wanted, list(tasks)))


def task_name_of(task_run_name: str) -> str:
    """``load`` of ``load-3``: the task a run's generated name came from."""
    stem, dash, counter = task_run_name.rpartition("-")
    return stem if dash and counter.isdigit() else task_run_name


def _no_such_task(flow_run_id: str, wanted: str, tasks: list[str]) -> str:
    import difflib

    if not tasks:
        return f"flow run {flow_run_id} has no task runs, so none is named {wanted!r}"
    close = difflib.get_close_matches(wanted, tasks, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(name) for name in close)}?" if close else ""
    shown = ", ".join(tasks[:20]) + (f" and {len(tasks) - 20} more" if len(tasks) > 20 else "")
    return (
        f"flow run {flow_run_id} has no task or task run named {wanted!r}{hint} "
        f"(its tasks: {shown})"
    )


# -- retry ---------------------------------------------------------------------------


@app.command("retry")
@reports_errors
def retry_run(
    flow_run_id: IdArgument,
    here: Annotated[
        bool,
        typer.Option(
            "--here",
            help="Run a deployment's run in this process, not on its work pool.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run a failed flow run again, skipping the task runs whose results are stored.

    A deployment's run goes back to its work pool (AwaitingRetry, due now) for a worker
    there to run it; exits 0 once it is scheduled. Any other run (or with --here) runs
    in this process; exits 0 when the new attempt completed, 1 when it did not.
    """
    import legato
    from legato.states import StateType

    client = _client()
    record = _resolve(client, flow_run_id)
    if record.deployment_id is not None and not here:
        _retry_on_pool(client, record, as_json)
        return
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


def _retry_on_pool(client: Orchestrator, record: FlowRunRecord, as_json: bool) -> None:
    from legato.workers.reruns import retry_on_pool

    after = retry_on_pool(client, record.id)
    if as_json:
        print_json(
            {
                "flow_run_id": after.id,
                "flow_run_name": after.name,
                "work_pool": after.work_pool,
                "state": after.state.model_dump(mode="json"),
            }
        )
        return
    console = stdout_console()
    console.print(
        Text.assemble(f"flow run {after.name} ({after.id}): ", state_text(after.state)),
        soft_wrap=True,
    )
    console.print(
        f"a worker of work pool {after.work_pool!r} runs it next, reusing its finished task "
        f"runs; follow it with `legato runs show {after.id}` (or retry it in this process "
        "with --here)",
        soft_wrap=True,
    )


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
            metavar="TEXT",
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
