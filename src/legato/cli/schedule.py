"""``legato schedule``: try a schedule before a deployment uses it.

``preview`` needs no store and no server: it builds the schedule from the options and
prints when it would run, so a cron typo or a DST surprise shows up before it matters.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from legato.cli.output import print_json, reports_errors, stdout_console

if TYPE_CHECKING:
    from legato.schedules import Schedule

app = typer.Typer(
    rich_markup_mode=None,
    name="schedule",
    help="Check cron, interval and RRULE schedules.",
    no_args_is_help=True,
)


@app.command("preview")
@reports_errors
def preview(
    cron: Annotated[
        str | None,
        typer.Option("--cron", help="A cron expression, e.g. '0 9 * * MON-FRI'.", metavar="TEXT"),
    ] = None,
    interval: Annotated[
        str | None,
        typer.Option("--interval", help="Seconds between runs, e.g. 3600.", metavar="TEXT"),
    ] = None,
    rrule: Annotated[
        str | None,
        typer.Option(
            "--rrule",
            help="An RFC 5545 rule, e.g. 'FREQ=WEEKLY;BYDAY=MO;BYHOUR=9'.",
            metavar="TEXT",
        ),
    ] = None,
    timezone: Annotated[
        str, typer.Option("--timezone", help="IANA time zone the schedule runs in.", metavar="TEXT")
    ] = "UTC",
    after: Annotated[
        str | None,
        typer.Option(
            "--after",
            help="Show runs after this ISO time (default now; no offset = in --timezone).",
            metavar="TEXT",
        ),
    ] = None,
    count: Annotated[
        int,
        typer.Option(
            "--count", min=1, max=10_000, help="How many runs to show.", metavar="INTEGER"
        ),
    ] = 10,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list of ISO times with offsets.")
    ] = False,
) -> None:
    """Print the next run times of a schedule, in its zone and in UTC."""
    schedule = _build(cron, interval, rrule, timezone)
    start = _parse_after(after, schedule)
    runs = schedule.next_runs(start, count)
    if as_json:
        print_json([run.isoformat() for run in runs])
        return
    if not runs:
        typer.echo(f"No runs after {start.isoformat()}: the schedule has ended.")
        return
    from rich.table import Table

    table = Table("#", f"LOCAL ({schedule.timezone})", "UTC", box=None)
    for number, run in enumerate(runs, 1):
        table.add_row(
            str(number),
            run.strftime("%Y-%m-%d %H:%M:%S %Z (%z)"),
            run.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        )
    stdout_console().print(table)


def _build(cron: str | None, interval: str | None, rrule: str | None, timezone: str) -> Schedule:
    from legato.errors import ScheduleError
    from legato.schedules import Cron, Interval, RRule

    given = [
        name
        for name, value in (("--cron", cron), ("--interval", interval), ("--rrule", rrule))
        if value is not None
    ]
    if len(given) != 1:
        which = f"got {' and '.join(given)}" if given else "got none"
        raise ScheduleError(f"give exactly one of --cron, --interval or --rrule ({which})")
    if cron is not None:
        return Cron(cron, timezone=timezone)
    if rrule is not None:
        return RRule(rrule, timezone=timezone)
    assert interval is not None
    try:
        seconds = float(interval)
    except ValueError:
        raise ScheduleError(
            f"--interval {interval!r} is not a number of seconds; e.g. 3600 for hourly"
        ) from None
    return Interval(seconds, timezone=timezone)


def _parse_after(after: str | None, schedule: Schedule) -> datetime:
    from legato.errors import ScheduleError
    from legato.schedules.base import EARLIEST, localize

    if after is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(after)
    except ValueError:
        raise ScheduleError(
            f"--after {after!r} is not an ISO date-time such as 2026-03-08T00:00 or "
            "2026-03-08T00:00:00+00:00"
        ) from None
    earliest = f"start it at {EARLIEST.isoformat()} or later (schedules begin there)"
    try:
        moment = localize(value, schedule.zone) if value.tzinfo is None else value
        before = moment.astimezone(UTC) < EARLIEST
    except OverflowError:  # before year 1 once in UTC
        raise ScheduleError(f"--after {after!r} is before year 1; {earliest}") from None
    if before:
        raise ScheduleError(f"--after {after!r} is before {EARLIEST.isoformat()}; {earliest}")
    return moment
