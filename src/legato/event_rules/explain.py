"""What an automation would make of one event, without doing anything: which parts of
its trigger match, and what each action would do (its templates rendered). Backs
``legato automation test NAME --event event.json``."""

from __future__ import annotations

from typing import Any

from legato.event_rules.patterns import matches
from legato.event_rules.templates import TemplateProblem, render
from legato.event_rules.triggers import (
    SeenEvent,
    bucket_key,
    event_triggers,
    is_after,
    labels_match,
)
from legato.schemas.automations import AutomationSpec, EventTrigger, LabelPatterns


def _labels_report(patterns: LabelPatterns, labels: dict[str, str], what: str) -> list[str]:
    lines = []
    for key, wanted in patterns.items():
        listed = [wanted] if isinstance(wanted, str) else wanted
        value = labels.get(key)
        if value is None:
            lines.append(f"  {what} {key}: NO (the event has no such label)")
        elif any(matches(p, value) for p in listed):
            lines.append(f"  {what} {key}: yes ({value!r} matches {' or '.join(listed)})")
        else:
            lines.append(f"  {what} {key}: NO ({value!r} does not match {' or '.join(listed)})")
    return lines


def _trigger_report(trigger: EventTrigger, event: SeenEvent) -> tuple[list[str], bool]:
    lines = [f"trigger {trigger.id} ({trigger.posture}):"]
    lines += _labels_report(trigger.match, dict(event.resource), "match")
    related = trigger.match_related
    for patterns in related if isinstance(related, list) else [related]:
        if not patterns:
            continue
        hits = [r for r in event.related if labels_match(patterns, r)]
        lines.append(
            f"  match_related {dict(patterns)}: "
            + (
                f"yes ({hits[0].get('legato.resource.id')})"
                if hits
                else "NO (no related resource fits)"
            )
        )
    about = all("NO" not in line for line in lines[1:])
    expected = not trigger.expect or any(matches(p, event.event) for p in trigger.expect)
    lines.append(
        f"  expect {trigger.expect or 'any event'}: {'yes' if expected else 'NO'} ({event.event})"
    )
    if trigger.after:
        lines.append(f"  after {trigger.after}: {'yes' if is_after(trigger, event) else 'no'}")
    if trigger.for_each:
        lines.append(f"  for_each {trigger.for_each}: counted as {bucket_key(trigger, event)!r}")
    counts = about and expected
    if counts and trigger.posture == "Reactive":
        if trigger.threshold == 1 and not trigger.after:
            lines.append("  => this event alone fires it")
        else:
            lines.append(
                f"  => counts 1 of {trigger.threshold} needed within {trigger.within:g} s"
                + (" (after an 'after' event)" if trigger.after else "")
            )
    elif counts:
        lines.append("  => an expected event: it keeps this trigger from firing in its window")
    elif about and is_after(trigger, event):
        lines.append(
            f"  => opens a window of {trigger.within:g} s: fires unless {trigger.threshold} "
            "expected events arrive in it"
        )
    else:
        lines.append("  => not counted")
    return lines, counts


def explain(spec: AutomationSpec, event: SeenEvent, event_json: dict[str, Any]) -> list[str]:
    """Lines saying what ``spec`` would make of ``event``."""
    lines: list[str] = []
    for trigger in event_triggers(spec.trigger):
        more, _ = _trigger_report(trigger, event)
        lines += more
    context = {
        "event": event_json,
        "automation": {"id": "(test)", "name": spec.name},
        "firing": {"id": "(test)", "kind": "triggered", "at": event.occurred, "key": ""},
    }
    for label, actions in (
        ("on trigger", (*spec.actions, *spec.actions_on_trigger)),
        ("on resolve", spec.actions_on_resolve),
    ):
        for number, action in enumerate(actions, 1):
            fields = action.model_dump(mode="json", exclude={"type"}, exclude_none=True)
            try:
                rendered = render(fields, context, f"action {number}")
            except TemplateProblem as exc:
                lines.append(f"action {number} {label}: {action.type} would FAIL: {exc}")
                continue
            lines.append(f"action {number} {label}: {action.type} {rendered}")
    return lines
