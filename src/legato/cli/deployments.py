"""``legato deploy`` and ``legato deployment ...``: deployments from the command line.

A deployment is named ``FLOW/NAME`` (a name only one flow uses works alone, and so
does an id). ``--param key=value`` reads the value as JSON when it is JSON
(``n=3``, ``flags=[1,2]``, ``label='"3"'``) and as text otherwise (``label=nightly``).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from legato.cli.output import (
    JsonOption,
    fail,
    format_time,
    log_line_writer,
    print_json,
    reports_errors,
    state_text,
    stdout_console,
)

if TYPE_CHECKING:
    from legato.schemas.deployments import DeploymentRecord

app = typer.Typer(
    rich_markup_mode=None,
    name="deployment",
    help="List, inspect, pause, resume, delete and run deployments.",
    no_args_is_help=True,
)

NameArgument = Annotated[
    str, typer.Argument(metavar="NAME", help="FLOW/NAME, a name only one flow uses, or an id.")
]
ParamOption = Annotated[
    list[str] | None,
    typer.Option(
        "--param", metavar="KEY=VALUE", help="A parameter (repeat); the value is JSON or text."
    ),
]


def parse_params(pairs: list[str] | None) -> dict[str, Any]:
    parameters: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param {pair!r} is not KEY=VALUE (e.g. --param n=3)")
        try:
            parameters[key.strip()] = json.loads(raw)
        except ValueError:
            parameters[key.strip()] = raw
    return parameters


def _client() -> Any:
    from legato import get_client

    return get_client()


def _schedule_text(schedule: dict[str, Any]) -> str:
    """The stored schedule in words and as written: ``At 09:00, Monday through Friday
    (Europe/London) - cron '0 9 * * 1-5'``."""
    from legato.errors import ScheduleError
    from legato.schedules import schedule_from_dict
    from legato.schedules.words import describe

    kind = schedule.get("kind")
    written = {"cron": "expr", "interval": "every", "rrule": "rule"}.get(str(kind))
    as_written = f"{kind} {schedule.get(written)!r}" if written else json.dumps(schedule)
    try:
        return f"{describe(schedule_from_dict(schedule))} - {as_written}"
    except (ScheduleError, ValueError, TypeError, KeyError):  # stored before a check existed
        return as_written


def _print_deployment(record: DeploymentRecord) -> None:
    console = stdout_console()
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    grid.add_row("deployment", Text.assemble((record.full_name, "bold"), f"  {record.id}"))
    grid.add_row("entrypoint", record.entrypoint)
    grid.add_row("work pool", record.work_pool)
    grid.add_row("status", "paused" if record.paused else "active")
    grid.add_row("parameters", json.dumps(record.parameters, default=str))
    if record.tags:
        grid.add_row("tags", ", ".join(record.tags))
    if record.description:
        grid.add_row("description", record.description)
    schedules = [
        f"{number}. " + _schedule_text(item.schedule) + ("" if item.active else " (paused)")
        for number, item in enumerate(record.schedules, start=1)
    ]
    grid.add_row("schedules", "\n".join(schedules) or "none (runs only when asked)")
    upcoming = _upcoming(record)
    if upcoming:
        grid.add_row("next runs", "\n".join(upcoming))
    elif record.schedules:
        grid.add_row("next runs", "none: " + ("paused" if record.paused else "no schedule is due"))
    if record.concurrency_limit:
        grid.add_row("concurrency", f"at most {record.concurrency_limit} running")
    grid.add_row("retries", str(record.retries))
    grid.add_row("updated", format_time(record.updated))
    console.print(grid)


def _upcoming(record: DeploymentRecord, count: int = 3) -> list[str]:
    """The deployment's next ``count`` run times over its active schedules (none while
    it is paused), soonest first, each in its schedule's zone and UTC."""
    from legato.schedules.words import stored_schedules, upcoming

    if record.paused:
        return []
    active = stored_schedules(item.schedule for item in record.schedules if item.active)
    return upcoming(active, datetime.now(UTC), count)


# -- legato deploy -------------------------------------------------------------------


@reports_errors
def deploy(
    entrypoint: Annotated[
        str, typer.Argument(metavar="FILE:FUNCTION", help="The flow, e.g. flows/etl.py:etl.")
    ],
    name: Annotated[str, typer.Option("--name", help="The deployment's name.", metavar="TEXT")],
    pool: Annotated[
        str, typer.Option("--pool", help="The work pool whose workers run it.", metavar="TEXT")
    ] = ("default"),
    cron: Annotated[
        str | None, typer.Option("--cron", help="A 5-field cron schedule.", metavar="TEXT")
    ] = None,
    interval: Annotated[
        float | None, typer.Option("--interval", help="Every this many seconds.", metavar="NUMBER")
    ] = None,
    rrule: Annotated[
        str | None, typer.Option("--rrule", help="An RFC 5545 rule.", metavar="TEXT")
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option("--timezone", help="IANA zone of the schedule (default UTC).", metavar="TEXT"),
    ] = None,
    params: ParamOption = None,
    tags: Annotated[
        list[str] | None, typer.Option("--tag", help="A tag (repeat).", metavar="TEXT")
    ] = None,
    description: Annotated[str | None, typer.Option("--description", metavar="TEXT")] = None,
    concurrency_limit: Annotated[
        int | None,
        typer.Option("--concurrency-limit", min=1, help="Most runs at once.", metavar="INTEGER"),
    ] = None,
    retries: Annotated[
        int, typer.Option("--retries", min=0, help="Reruns of a crashed run.", metavar="INTEGER")
    ] = 0,
    catchup: Annotated[
        bool, typer.Option("--catchup", help="After downtime, run every missed slot.")
    ] = False,
    trigger_file: Annotated[
        Path | None,
        typer.Option(
            "--trigger-file",
            help="YAML or JSON: triggers (as in automations) that run it; deploying again "
            "keeps what they counted.",
            metavar="FILE",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create or update a deployment of a flow (deploying again updates it in place)."""
    from legato.workers.deploy import deploy_flow
    from legato.workers.entrypoints import load_flow

    flow = load_flow(entrypoint)
    triggers = read_triggers(trigger_file) if trigger_file is not None else None
    record = deploy_flow(
        flow,
        name=name,
        work_pool=pool,
        cron=cron,
        interval=interval,
        rrule=rrule,
        timezone=timezone,
        parameters=parse_params(params),
        tags=tags or (),
        description=description,
        concurrency_limit=concurrency_limit,
        retries=retries,
        catchup=catchup,
        entrypoint=entrypoint,
        triggers=triggers,
    )
    if as_json:
        print_json(record.model_dump(mode="json"))
        return
    stdout_console().print(f"deployed {record.full_name} ({record.id})")
    _print_deployment(record)


def read_triggers(path: Path) -> list[Any]:
    """The triggers of a YAML or JSON file: one mapping, a list, or ``triggers: [...]``."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise fail(f"{path} is not valid YAML or JSON: {exc}") from None
    if isinstance(data, dict) and "triggers" in data:
        data = data["triggers"]
    items = data if isinstance(data, list) else [data]
    if not all(isinstance(item, dict) for item in items):
        raise fail(f"{path}: each trigger must be a mapping of fields (type, expect, ...)")
    return items


# -- legato deployment ... -----------------------------------------------------------


@app.command("ls")
@reports_errors
def list_deployments(as_json: JsonOption = False) -> None:
    """List deployments by flow, then name."""
    records = _client().read_deployments()
    if as_json:
        print_json([record.model_dump(mode="json") for record in records])
        return
    console = stdout_console()
    if not records:
        console.print("No deployments yet (legato deploy FILE:FUNCTION --name NAME).")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("NAME", overflow="fold")
    table.add_column("POOL")
    table.add_column("STATUS")
    table.add_column("SCHEDULES", overflow="fold")
    table.add_column("ID", no_wrap=True)
    for record in records:
        table.add_row(
            record.full_name,
            record.work_pool,
            "paused" if record.paused else "active",
            "; ".join(_schedule_text(s.schedule) for s in record.schedules) or "-",
            record.id,
        )
    console.print(table)


@app.command("show")
@reports_errors
def show_deployment(name: NameArgument, as_json: JsonOption = False) -> None:
    """Show a deployment: entrypoint, pool, parameters, schedules."""
    record = _client().read_deployment(name)
    if as_json:
        print_json(record.model_dump(mode="json"))
        return
    _print_deployment(record)


ScheduleOption = Annotated[
    str | None,
    typer.Option(
        "--schedule",
        metavar="N",
        help="Only this schedule: its number in `deployment show` (1, 2, ...) or its id.",
    ),
]


@app.command("pause")
@reports_errors
def pause_deployment(name: NameArgument, schedule: ScheduleOption = None) -> None:
    """Stop making scheduled runs; the unstarted runs its schedules made are removed
    (runs asked for by hand stay). With --schedule, only that schedule."""
    client = _client()
    deployment = client.read_deployment(name)
    if schedule is not None:
        client.set_schedule_active(deployment.id, schedule, False)
        stdout_console().print(f"paused schedule {schedule} of {deployment.full_name}")
        return
    record = client.set_deployment_paused(deployment.id, True)
    stdout_console().print(f"paused {record.full_name}")


@app.command("resume")
@reports_errors
def resume_deployment(name: NameArgument, schedule: ScheduleOption = None) -> None:
    """Make scheduled runs again (with --schedule, from that schedule)."""
    client = _client()
    deployment = client.read_deployment(name)
    if schedule is not None:
        client.set_schedule_active(deployment.id, schedule, True)
        stdout_console().print(f"resumed schedule {schedule} of {deployment.full_name}")
        return
    record = client.set_deployment_paused(deployment.id, False)
    stdout_console().print(f"resumed {record.full_name}")


@app.command("delete")
@reports_errors
def delete_deployment(name: NameArgument) -> None:
    """Delete a deployment and its runs that have not started (others keep their history)."""
    client = _client()
    record = client.read_deployment(name)
    dropped = client.delete_deployment(record.id)
    stdout_console().print(
        f"deleted {record.full_name}" + (f" and {dropped} unstarted run(s)" if dropped else "")
    )


@app.command("run")
@reports_errors
def run_deployment(
    name: NameArgument,
    params: ParamOption = None,
    watch: Annotated[
        bool,
        typer.Option("--watch", help="Wait for the run to end, printing its states and log lines."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Ask for a run now; a worker of the deployment's pool starts it."""
    from legato.schemas.deployments import DeploymentRunRequest
    from legato.states import TERMINAL_TYPES

    client = _client()
    deployment = client.read_deployment(name)
    run = client.create_deployment_run(
        deployment.id, DeploymentRunRequest(parameters=parse_params(params))
    )
    if as_json and not watch:
        print_json(run.model_dump(mode="json"))
        return
    console = stdout_console()
    if not as_json:
        console.print(
            Text.assemble(
                "created flow run ", (run.name, "bold"), f"  {run.id}  ", state_text(run.state)
            )
        )
    if not watch:
        return
    last = (run.state.type, run.state.name)
    write = log_line_writer()
    cursor: str | None = None
    while True:
        ended = run.state.type in TERMINAL_TYPES
        if not as_json:  # the lines stored so far (all of them once the run has ended)
            cursor = _print_new_lines(client, run.id, cursor, write)
        if ended:
            break
        time.sleep(0.5)
        run = client.read_flow_run(run.id)
        if (run.state.type, run.state.name) != last and not as_json:
            console.print(
                Text.assemble(
                    format_time(run.state.timestamp), "  ", state_text(run.state, with_message=True)
                )
            )
        last = (run.state.type, run.state.name)
    write(None)
    if as_json:
        print_json(run.model_dump(mode="json"))
    if run.state.type.value != "COMPLETED":
        raise typer.Exit(1)


def _print_new_lines(
    client: Any, flow_run_id: str, cursor: str | None, write: Callable[[Any], None]
) -> str | None:
    """Print the run's log lines stored after ``cursor``; the cursor after them."""
    while True:
        page = client.read_log_page(flow_run_id, cursor=cursor)
        for line in page.logs:
            write(line)
        if page.logs:
            cursor = str(page.logs[-1].id)
        if page.next_cursor is None:
            sys.stdout.flush()
            return cursor
        cursor = page.next_cursor


def parse_time(text: str, option: str) -> datetime:
    """An ISO date-time (UTC when it names no zone), or ``now``."""
    if text.strip().lower() == "now":
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{option} {text!r} is not an ISO date-time such as 2026-03-01T00:00 or "
            "2026-03-01T00:00+01:00 (or 'now')"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@app.command("backfill")
@reports_errors
def backfill_deployment(
    name: NameArgument,
    start: Annotated[
        str,
        typer.Option(
            "--start", help="First slot included: ISO date-time (UTC if no zone).", metavar="TEXT"
        ),
    ],
    end: Annotated[
        str,
        typer.Option(
            "--end",
            help="Slots before this: ISO date-time (UTC if no zone), or now.",
            metavar="TEXT",
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Make runs for the past slots of its schedules in [start, end), each due at its slot.

    Slots that already have a run (made by the scheduler or an earlier backfill) are
    skipped, so running it twice is harmless. At most 10,000 slots at a time.
    """
    client = _client()
    deployment = client.read_deployment(name)
    result = client.backfill_deployment(
        deployment.id, parse_time(start, "--start"), parse_time(end, "--end")
    )
    if as_json:
        print_json(result.model_dump(mode="json"))
        return
    existed = result.slots - result.created
    stdout_console().print(
        f"backfilled {deployment.full_name}: {result.created} run(s) made for {result.slots} "
        f"slot(s) from {format_time(result.start)} to {format_time(result.end)}"
        + (f" ({existed} had a run already)" if existed else "")
    )
