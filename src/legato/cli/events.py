"""``legato events``: list, follow and send events."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from legato.cli.output import (
    JsonOption,
    fail,
    format_time,
    print_json,
    reports_errors,
    stdout_console,
    terminal_safe,
)

if TYPE_CHECKING:
    from legato.schemas.events import EventFilter, EventRecord

app = typer.Typer(
    rich_markup_mode=None,
    name="events",
    help=(
        "What happened: each state a flow run or task run takes, named like "
        "legato.flow-run.Failed, and the events your flows and systems send."
    ),
    no_args_is_help=True,
)

NameOption = Annotated[
    list[str] | None,
    typer.Option(
        "--name",
        metavar="PATTERN",
        help="Event names to keep; '*' is a wildcard (legato.flow-run.*). Repeat for more.",
    ),
]
ResourceOption = Annotated[
    list[str] | None,
    typer.Option(
        "--resource",
        metavar="ID|LABEL=VALUE",
        help="Resource id (legato.flow-run.<id>, wildcards) or label=value. Repeat for more.",
    ),
]
RelatedOption = Annotated[
    list[str] | None,
    typer.Option(
        "--related",
        metavar="ID",
        help="Id of a related resource (legato.deployment.<id>, wildcards).",
    ),
]
TAIL_POLL = 0.5


def _client() -> Any:
    from legato import get_client

    return get_client()


def _filter(
    names: list[str] | None,
    resources: list[str] | None,
    related: list[str] | None,
    since: str | None = None,
    **more: Any,
) -> EventFilter:
    from pydantic import ValidationError

    from legato.cli.runs import parse_since
    from legato.event_rules.patterns import PatternError, check_pattern
    from legato.schemas.events import EventFilter

    try:
        for pattern in [*(names or ()), *(resources or ()), *(related or ())]:
            check_pattern(pattern)
        return EventFilter(
            names=tuple(names or ()),
            resources=tuple(resources or ()),
            related=tuple(related or ()),
            since=parse_since(since).timestamp() if since is not None else None,
            **more,
        )
    except PatternError as exc:
        raise fail(str(exc)) from None
    except ValidationError as exc:
        raise fail(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None


def _line(record: EventRecord) -> str:
    name = record.resource.get("legato.resource.name")
    about = record.resource_id + (f" ({name})" if name else "")
    return terminal_safe(f"{format_time(record.occurred, precise=True)}  {record.event}  {about}")


@app.command("ls")
@reports_errors
def list_events(
    names: NameOption = None,
    resources: ResourceOption = None,
    related: RelatedOption = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="SPAN|TIME",
            help="Only events that occurred since: 90s, 30m, 6h, 7d, or an ISO 8601 time.",
        ),
    ] = None,
    limit: Annotated[
        int,
        typer.Option(
            "--limit", min=1, max=10_000, metavar="N", help="Most events shown (the newest)."
        ),
    ] = 50,
    as_json: JsonOption = False,
) -> None:
    """List the newest events (oldest of them first)."""
    from legato.schemas.events import EventCursor

    filt = _filter(names, resources, related, since, newest_first=True)
    client = _client()
    found: list[EventRecord] = []
    while len(found) < limit:
        page = client.read_event_page(filt, limit=min(1000, limit - len(found)))
        found += page.events
        if page.next_cursor is None:
            break
        filt = filt.model_copy(update={"before": EventCursor.parse(page.next_cursor)})
    found.reverse()
    if as_json:
        print_json([record.to_wire() for record in found])
        return
    console = stdout_console()
    if not found:
        console.print("No events match.", highlight=False)
        return
    for record in found:
        console.print(_line(record), highlight=False, markup=False)


@app.command("tail")
@reports_errors
def tail_events(
    names: NameOption = None,
    resources: ResourceOption = None,
    related: RelatedOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line (JSON Lines).")
    ] = False,
) -> None:
    """Print events as they happen, until Ctrl-C."""
    client = _client()
    from legato.schemas.events import EventCursor

    newest = client.read_event_page(_filter(None, None, None, newest_first=True), limit=1)
    cursor = EventCursor.parse(newest.events[0].cursor) if newest.events else EventCursor(0, 0)
    base = _filter(names, resources, related)
    try:
        while True:
            page = client.read_event_page(base.model_copy(update={"after": cursor}), limit=500)
            for record in page.events:
                if as_json:
                    sys.stdout.write(json.dumps(record.to_wire()) + "\n")
                else:
                    sys.stdout.write(_line(record) + "\n")
            sys.stdout.flush()
            if page.reached is not None:
                cursor = EventCursor.parse(page.reached)
            if page.next_cursor is not None:
                continue
            time.sleep(TAIL_POLL)
    except KeyboardInterrupt:
        return


def _labels(pairs: list[str], what: str) -> dict[str, str]:
    """``KEY=VALUE`` labels; a bare value is the resource's id."""
    labels: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            key, value = "legato.resource.id", pair
        if not key or not value:
            raise fail(f"{what} {pair!r} is not KEY=VALUE (e.g. legato.resource.id=acme.refund.42)")
        labels[key] = value
    return labels


@app.command("emit")
@reports_errors
def emit(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="The event, e.g. acme.refund.reviewed")
    ],
    resource: Annotated[
        list[str],
        typer.Option(
            "--resource",
            metavar="KEY=VALUE",
            help="A label of the resource (KEY=VALUE); a bare value is its "
            "legato.resource.id, which every event needs. Repeat for more.",
        ),
    ],
    related: Annotated[
        list[str] | None,
        typer.Option(
            "--related",
            metavar="ID:ROLE",
            help="A related resource by id and role (acme.customer.7:customer). Repeat.",
        ),
    ] = None,
    payload: Annotated[
        str | None, typer.Option("--payload", metavar="JSON", help="A JSON object.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Send one event."""
    from legato.sdk.events import emit_event

    labels = _labels(resource, "--resource")
    related_labels = []
    for spec in related or ():
        resource_id, sep, role = spec.rpartition(":")
        if not sep or not resource_id or not role:
            raise fail(f"--related {spec!r} is not ID:ROLE (e.g. acme.customer.7:customer)")
        related_labels.append({"legato.resource.id": resource_id, "legato.resource.role": role})
    body: dict[str, Any] = {}
    if payload is not None:
        try:
            body = json.loads(payload)
        except ValueError as exc:
            raise fail(f"--payload is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise fail("--payload must be a JSON object ({...})")
    try:
        event_id = emit_event(name, labels, related_labels, body)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if as_json:
        print_json({"id": str(event_id), "event": name, "at": datetime.now(UTC).isoformat()})
        return
    stdout_console().print(f"sent {name} ({event_id})", highlight=False, markup=False)
