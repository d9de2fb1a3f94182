"""``legato automation``: automations from YAML or JSON files, and what they did."""

from __future__ import annotations

import json
from pathlib import Path
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
    from legato.schemas.automations import AutomationRecord, AutomationSpec

app = typer.Typer(
    rich_markup_mode=None,
    name="automation",
    help=(
        "Automations: a trigger that watches events (or their absence) and the actions "
        "it takes - run a deployment, cancel or pause, call a webhook."
    ),
    no_args_is_help=True,
)

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The automation's name (or id).")]


def _client() -> Any:
    from legato import get_client

    return get_client()


def read_specs(path: Path) -> list[AutomationSpec]:
    """The automations of a YAML or JSON file: one, a list, or ``automations: [...]``;
    typer.Exit naming the file, the automation and the field when one is wrong."""
    import yaml
    from pydantic import ValidationError

    from legato.schemas.automations import AutomationSpec

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {path}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise fail(f"{path} is not valid YAML or JSON: {exc}") from None
    if isinstance(data, dict) and "automations" in data:
        data = data["automations"]
    items = data if isinstance(data, list) else [data]
    specs = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise fail(f"{path}: automation {number} is not a mapping of fields")
        try:
            specs.append(AutomationSpec.model_validate(item))
        except ValidationError as exc:
            name = item.get("name", f"number {number}")
            problems = "\n".join(
                f"  {'.'.join(str(p) for p in error['loc']) or 'automation'}: "
                f"{error['msg'].removeprefix('Value error, ')}"
                for error in exc.errors()
            )
            raise fail(f"{path}: automation {name!r} is not valid:\n{problems}") from None
    return specs


@app.command("create")
@reports_errors
def create(
    file: Annotated[
        Path,
        typer.Option(
            "-f", "--file", metavar="FILE", help="YAML or JSON: one automation or a list."
        ),
    ],
    update: Annotated[
        bool,
        typer.Option("--update", help="Update automations of the same name (keeping counts)."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create the automations of FILE."""
    client = _client()
    records = [client.save_automation(spec, update=update) for spec in read_specs(file)]
    if as_json:
        print_json([record.model_dump(mode="json") for record in records])
        return
    for record in records:
        stdout_console().print(
            f"automation {record.spec.name!r} ({record.id}): {_summary(record.spec)}",
            highlight=False,
            markup=False,
        )


def _summary(spec: AutomationSpec) -> str:
    from legato.event_rules.triggers import event_triggers

    triggers = event_triggers(spec.trigger)
    first = triggers[0]
    what = ", ".join(first.expect) or "matching events"
    if first.posture == "Proactive":
        when = f"fewer than {first.threshold} {what} within {first.within:g} s"
        if first.after:
            when += f" after {', '.join(first.after)}"
    else:
        when = f"{first.threshold} x {what}" + (
            f" within {first.within:g} s" if first.within else ""
        )
    if len(triggers) > 1:
        when += f" (and {len(triggers) - 1} more triggers)"
    actions = [a.type for a in (*spec.actions, *spec.actions_on_trigger)]
    state = "" if spec.enabled else " [paused]"
    return f"on {when} -> {', '.join(actions) or 'nothing'}{state}"


@app.command("ls")
@reports_errors
def list_automations(as_json: JsonOption = False) -> None:
    """List the automations."""
    records: list[AutomationRecord] = _client().read_automations()
    if as_json:
        print_json([record.model_dump(mode="json") for record in records])
        return
    console = stdout_console()
    if not records:
        console.print("No automations (legato automation create -f FILE).", highlight=False)
        return
    from rich.table import Table

    table = Table("NAME", "ENABLED", "TRIGGER AND ACTIONS", "LAST FIRED", box=None)
    for record in records:
        table.add_row(
            terminal_safe(record.spec.name),
            "yes" if record.spec.enabled else "paused",
            terminal_safe(_summary(record.spec)),
            format_time(record.last_fired) if record.last_fired else "-",
        )
    console.print(table)


@app.command("show")
@reports_errors
def show(name: NameArgument, as_json: JsonOption = False) -> None:
    """Show an automation as it is stored (the YAML it could be created from)."""
    record: AutomationRecord = _client().read_automation(name)
    if as_json:
        print_json(record.model_dump(mode="json"))
        return
    import yaml

    data = record.spec.model_dump(mode="json", exclude_defaults=True)
    for key in ("actions", "actions_on_trigger", "actions_on_resolve"):
        # Each action keeps its type, which says what it is (and makes the YAML valid).
        if key in data:
            data[key] = [
                {"type": action.type, **shown}
                for action, shown in zip(getattr(record.spec, key), data[key], strict=True)
            ]
    console = stdout_console()
    console.print(f"# automation {record.id}", highlight=False, markup=False)
    console.print(
        terminal_safe(yaml.safe_dump(data, sort_keys=False)), highlight=False, markup=False
    )


@app.command("pause")
@reports_errors
def pause(name: NameArgument) -> None:
    """Stop evaluating it (what it counted is forgotten)."""
    record = _client().set_automation_enabled(name, False)
    stdout_console().print(f"automation {record.spec.name!r} paused", highlight=False)


@app.command("resume")
@reports_errors
def resume(name: NameArgument) -> None:
    """Evaluate it again, from the events that arrive from now on."""
    record = _client().set_automation_enabled(name, True)
    stdout_console().print(f"automation {record.spec.name!r} resumed", highlight=False)


@app.command("delete")
@reports_errors
def delete(name: NameArgument) -> None:
    """Delete it, with its firings."""
    _client().delete_automation(name)
    stdout_console().print(f"automation {name!r} deleted", highlight=False, markup=False)


@app.command("firings")
@reports_errors
def firings(
    name: NameArgument,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=500, metavar="N", help="Most firings shown.")
    ] = 20,
    as_json: JsonOption = False,
) -> None:
    """Its newest firings, and for each action its status, attempts and result or error."""
    found = _client().read_automation_firings(name, limit=limit)
    if as_json:
        print_json([firing.model_dump(mode="json") for firing in found])
        return
    console = stdout_console()
    if not found:
        console.print(f"automation {name!r} has not fired yet.", highlight=False, markup=False)
        return
    for firing in found:
        extra = " (late)" if firing.late else ""
        if firing.suppressed:
            extra += f" (+{firing.suppressed} suppressed by the cooldown)"
        console.print(
            terminal_safe(f"{format_time(firing.at, precise=True)}  {firing.kind}{extra}"),
            highlight=False,
            markup=False,
        )
        for action in firing.actions:
            outcome = action.error or (json.dumps(action.result) if action.result else "")
            console.print(
                terminal_safe(
                    f"    {action.position + 1}. {action.type}: {action.status} "
                    f"(attempts {action.attempts}) {outcome}"
                ),
                highlight=False,
                markup=False,
            )


@app.command("test")
@reports_errors
def test(
    name: NameArgument,
    event: Annotated[
        Path,
        typer.Option(
            "--event", metavar="FILE", help="An event as JSON (as legato events ls --json shows)."
        ),
    ],
) -> None:
    """Say which parts of the trigger an event matches and what each action would do,
    without doing anything."""
    from datetime import UTC, datetime

    from pydantic import ValidationError

    from legato.event_rules.explain import explain
    from legato.event_rules.triggers import SeenEvent
    from legato.schemas.events import EventIn

    try:
        data = json.loads(event.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise fail(f"cannot read the event in {event}: {exc}") from None
    if not isinstance(data, dict):
        raise fail(f"{event} must hold one event (a JSON object)")
    known = {k: v for k, v in data.items() if k in EventIn.model_fields}
    try:
        parsed = EventIn.model_validate(known)
    except ValidationError as exc:
        raise fail(f"{event} is not an event: {exc.errors()[0]['msg']}") from None
    occurred = parsed.occurred or datetime.now(UTC)
    seen = SeenEvent(
        id=str(parsed.id or "test"),
        event=parsed.event,
        occurred=occurred.timestamp(),
        resource=parsed.resource,
        related=parsed.related,
        payload=parsed.payload,
    )
    record = _client().read_automation(name)
    event_json = {**parsed.model_dump(mode="json"), "occurred": occurred.isoformat()}
    for line in explain(record.spec, seen, event_json):
        stdout_console().print(terminal_safe(line), highlight=False, markup=False)


def notify(
    channel: Annotated[
        str, typer.Argument(metavar="CHANNEL", help="A channel (legato notification create).")
    ],
    on: Annotated[
        str,
        typer.Option(
            "--on",
            metavar="STATES",
            help="Flow-run state names, comma-separated: Failed,Crashed,TimedOut.",
        ),
    ] = "Failed,Crashed,TimedOut",
    flow: Annotated[
        str | None, typer.Option("--flow", metavar="NAME", help="Only runs of this flow.")
    ] = None,
    deployment: Annotated[
        str | None,
        typer.Option("--deployment", metavar="FLOW/NAME", help="Only runs of this deployment."),
    ] = None,
    tag: Annotated[
        str | None, typer.Option("--tag", metavar="TAG", help="Only runs carrying this tag.")
    ] = None,
    cooldown: Annotated[
        float,
        typer.Option(
            "--cooldown",
            metavar="SECONDS",
            min=0,
            help="At most one message per this many seconds (the rest counted in the next).",
        ),
    ] = 0.0,
    as_json: JsonOption = False,
) -> None:
    """Send a message to CHANNEL when a flow run ends in one of the states: makes (or
    updates) the automation that does it."""
    from pydantic import ValidationError

    from legato.schemas.automations import AutomationSpec

    states = [state.strip() for state in on.split(",") if state.strip()]
    if not states or any(not state.replace("-", "").isalnum() for state in states):
        raise fail(f"--on {on!r} is not a list of state names such as Failed,Crashed,TimedOut")
    related: list[dict[str, str]] = []
    scope = []
    if flow:
        related.append({"legato.resource.role": "flow", "legato.resource.name": flow})
        scope.append(f"flow {flow}")
    if deployment:
        related.append({"legato.resource.role": "deployment", "legato.resource.name": deployment})
        scope.append(f"deployment {deployment}")
    if tag:
        related.append({"legato.resource.role": "tag", "legato.resource.id": f"legato.tag.{tag}"})
        scope.append(f"tag {tag}")
    name = f"notify {channel} on {','.join(states)}" + (f" ({', '.join(scope)})" if scope else "")
    try:
        spec = AutomationSpec.model_validate(
            {
                "name": name[:255],
                "description": f"a message to {channel} when a flow run ends {' or '.join(states)}",
                "trigger": {
                    "expect": [f"legato.flow-run.{state}" for state in states],
                    "match": {"legato.resource.id": "legato.flow-run.*"},
                    "match_related": related,
                },
                "actions": [{"type": "send-notification", "channel": channel}],
                "cooldown": cooldown,
            }
        )
    except ValidationError as exc:
        raise fail(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
    client = _client()
    client.read_notification_channel(channel)  # an unknown channel is named now, not at 2 am
    record = client.save_automation(spec, update=True)
    if as_json:
        print_json(record.model_dump(mode="json"))
        return
    stdout_console().print(
        f"automation {record.spec.name!r}: flow runs ending {' or '.join(states)}"
        + (f" ({', '.join(scope)})" if scope else "")
        + f" send a message to {channel}",
        highlight=False,
        markup=False,
    )
