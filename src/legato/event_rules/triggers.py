"""When a trigger fires: events and the clock in, firings out. Pure: the evaluator
(:mod:`legato.server.services.automations`) keeps the buckets in the store and hands
them in with each event.

A *bucket* counts the events of one trigger for one ``for_each`` key (one flow run,
one deployment) in one window:

- **Reactive**: the first expected event (or an ``after`` event, when the trigger has
  ``after``) opens a window of ``within`` seconds; when ``threshold`` expected events
  are in it, the trigger fires and the bucket is emptied. A window that ends short of
  the threshold after a firing *resolves* it.
- **Proactive**: an ``after`` event opens a window (without ``after``: the
  automation's start, then each window after the last); expected events are counted;
  when the window ends with fewer than ``threshold``, the trigger fires. Reaching the
  threshold in time closes the window quietly, or resolves an earlier firing.

Windows are judged by the events' own ``occurred`` times and by the clock, so events
evaluated late (a server that was down) still land in the windows they belong to, and a
deadline that passed while no server ran fires when one starts, marked late.

Compound triggers fire when ``require`` of their triggers fired within ``within``
seconds of the first of them; sequences when they fired in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from legato.event_rules.patterns import matches
from legato.schemas.automations import (
    AnyTrigger,
    CompoundTrigger,
    EventTrigger,
    LabelPatterns,
    SequenceTrigger,
)
from legato.schemas.events import RESOURCE_ROLE

MAX_KEPT_EVENTS = 20
"""Most triggering event ids a firing records (the first ones)."""


@dataclass(frozen=True, slots=True)
class SeenEvent:
    """What a trigger reads of an event."""

    id: str
    event: str
    occurred: float
    resource: Mapping[str, str]
    related: Sequence[Mapping[str, str]] = ()
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Bucket:
    """One trigger's count for one key in one window. ``start``/``end`` are None while no
    window is open (a bucket kept only to remember that the trigger fired)."""

    trigger_id: str
    key: str
    start: float | None = None
    end: float | None = None
    count: int = 0
    triggered: bool = False
    event_ids: tuple[str, ...] = ()

    @property
    def open(self) -> bool:
        return self.end is not None


@dataclass(frozen=True, slots=True)
class Firing:
    """A trigger fired (``triggered``) or went back to normal (``resolved``)."""

    trigger_id: str
    key: str
    kind: str
    at: float
    event_ids: tuple[str, ...] = ()
    late: bool = False
    count: int = 0


Buckets = dict[tuple[str, str], Bucket]
"""The buckets of one automation, by (trigger id, key); changed in place."""


# -- matching --------------------------------------------------------------------------


def labels_match(patterns: LabelPatterns, labels: Mapping[str, str]) -> bool:
    for key, wanted in patterns.items():
        value = labels.get(key)
        if value is None:
            return False
        listed = [wanted] if isinstance(wanted, str) else wanted
        if not any(matches(pattern, value) for pattern in listed):
            return False
    return True


def _related_match(trigger: EventTrigger, event: SeenEvent) -> bool:
    wanted = trigger.match_related
    for patterns in wanted if isinstance(wanted, list) else [wanted]:
        if patterns and not any(labels_match(patterns, one) for one in event.related):
            return False
    return True


def about(trigger: EventTrigger, event: SeenEvent) -> bool:
    """Whether the event is about what the trigger watches (``match``,
    ``match_related``), whatever its name."""
    return labels_match(trigger.match, event.resource) and _related_match(trigger, event)


def _named(patterns: Sequence[str], name: str) -> bool:
    return any(matches(pattern, name) for pattern in patterns)


def is_expected(trigger: EventTrigger, event: SeenEvent) -> bool:
    return (not trigger.expect or _named(trigger.expect, event.event)) and about(trigger, event)


def is_after(trigger: EventTrigger, event: SeenEvent) -> bool:
    return bool(trigger.after) and _named(trigger.after, event.event) and about(trigger, event)


def bucket_key(trigger: EventTrigger, event: SeenEvent) -> str:
    """The ``for_each`` key of the event: its values of those labels, joined. A label
    written ``related:<role>:<label>`` is read from the related resource of that role."""
    parts = []
    for label in trigger.for_each:
        if label.startswith("related:"):
            _, role, name = [*label.split(":", 2), "", ""][:3]
            found = next((r for r in event.related if r.get(RESOURCE_ROLE) == role), {})
            parts.append(found.get(name, ""))
        else:
            parts.append(event.resource.get(label, ""))
    return "\x1f".join(parts)


# -- one event trigger ---------------------------------------------------------------


def _fire(bucket: Bucket, at: float, *, late: bool = False) -> Firing:
    return Firing(
        bucket.trigger_id, bucket.key, "triggered", at, bucket.event_ids, late, bucket.count
    )


def _resolve(bucket: Bucket, at: float) -> Firing:
    return Firing(bucket.trigger_id, bucket.key, "resolved", at, bucket.event_ids, False)


RESOLVE_HORIZON = 7 * 24 * 3600.0
"""How long a fired proactive trigger waits for its expected events to resolve it."""


def _closed(bucket: Bucket, *, triggered: bool, at: float | None = None) -> Bucket:
    """No window open; ``triggered`` remembered (since ``at``) for a later resolve."""
    return replace(bucket, start=at, end=None, count=0, event_ids=(), triggered=triggered)


def _expire(
    trigger: EventTrigger, bucket: Bucket, now: float, late_before: float
) -> tuple[Bucket, list[Firing]]:
    """Close the bucket's window if it ended by ``now``: what that means for the
    trigger's posture."""
    if bucket.end is None or now < bucket.end:
        return bucket, []
    if trigger.posture == "Proactive":
        if bucket.count < trigger.threshold:
            fired = _fire(bucket, bucket.end, late=bucket.end < late_before)
            return _closed(bucket, triggered=True, at=bucket.end), [fired]
        return _closed(bucket, triggered=False), []
    if bucket.triggered:  # the window after a reactive firing ended short of the threshold
        return _closed(bucket, triggered=False), [_resolve(bucket, bucket.end)]
    return _closed(bucket, triggered=False), []


def _open(trigger: EventTrigger, bucket: Bucket, at: float) -> Bucket:
    return replace(bucket, start=at, end=at + trigger.within, count=0, event_ids=())


def event_trigger_on_event(
    trigger: EventTrigger, event: SeenEvent, buckets: Buckets, *, late_before: float = 0.0
) -> list[Firing]:
    expected = is_expected(trigger, event)
    after = is_after(trigger, event)
    if not expected and not after:
        return []
    key = bucket_key(trigger, event)
    bucket = buckets.get((trigger.id, key)) or Bucket(trigger.id, key)
    bucket, fired = _expire(trigger, bucket, event.occurred, late_before)
    if expected:
        bucket, more = _count(trigger, bucket, event)
        fired += more
    if after and not bucket.open:
        bucket = _open(trigger, replace(bucket, triggered=False), event.occurred)
    _keep(buckets, bucket)
    return fired


def _keep(buckets: Buckets, bucket: Bucket) -> None:
    if bucket.open or bucket.triggered:
        buckets[(bucket.trigger_id, bucket.key)] = bucket
    else:
        buckets.pop((bucket.trigger_id, bucket.key), None)


def _count(trigger: EventTrigger, bucket: Bucket, event: SeenEvent) -> tuple[Bucket, list[Firing]]:
    if trigger.posture == "Proactive":
        if not bucket.open:
            if bucket.triggered:  # it came after all: the trigger is resolved
                return _closed(bucket, triggered=False), [_resolve(bucket, event.occurred)]
            return bucket, []  # nothing is awaited
        bucket = _counted(bucket, event)
        if bucket.count >= trigger.threshold:
            return _closed(bucket, triggered=False), []
        return bucket, []
    if not bucket.open:
        if trigger.after:
            return bucket, []  # a reactive trigger with 'after' counts only once opened
        bucket = _open(trigger, bucket, event.occurred)
    bucket = _counted(bucket, event)
    if bucket.count < trigger.threshold:
        return bucket, []
    fired = _fire(bucket, event.occurred)
    if trigger.within > 0:  # a window from now: ending short of the threshold resolves
        return replace(_open(trigger, bucket, event.occurred), triggered=True), [fired]
    return _closed(bucket, triggered=False), [fired]


def _counted(bucket: Bucket, event: SeenEvent) -> Bucket:
    kept = bucket.event_ids
    if len(kept) < MAX_KEPT_EVENTS:
        kept = (*kept, event.id)
    return replace(bucket, count=bucket.count + 1, event_ids=kept)


def event_trigger_on_clock(
    trigger: EventTrigger, buckets: Buckets, now: float, *, late_before: float = 0.0
) -> list[Firing]:
    """Windows that ended by ``now``. A proactive trigger without ``after`` keeps one
    window open at all times (the first from ``now``)."""
    fired: list[Firing] = []
    for (trigger_id, _), bucket in list(buckets.items()):
        if trigger_id != trigger.id:
            continue
        closed, more = _expire(trigger, bucket, now, late_before)
        fired += more
        if (
            trigger.posture == "Proactive"
            and not trigger.after
            and bucket.end is not None
            and not closed.open
            and bucket.end <= now
        ):
            # The next window starts where this one ended; after a long outage, now
            # (the missed windows fired once, late, not once each).
            missed = bucket.end + trigger.within <= now
            closed = _open(trigger, closed, now if missed else bucket.end)
        if (
            closed.triggered
            and not closed.open
            and closed.start is not None
            and now - closed.start > RESOLVE_HORIZON
        ):
            closed = replace(closed, triggered=False)  # too long ago to resolve now
        buckets.pop((trigger_id, bucket.key), None)
        _keep(buckets, closed)
    lone_window = trigger.posture == "Proactive" and not trigger.after and not trigger.for_each
    if lone_window and (trigger.id, "") not in buckets:
        buckets[(trigger.id, "")] = _open(trigger, Bucket(trigger.id, ""), now)
    return fired


# -- the whole trigger of an automation -------------------------------------------------


def event_triggers(trigger: AnyTrigger) -> list[EventTrigger]:
    """The event triggers in ``trigger``, depth first."""
    if isinstance(trigger, EventTrigger):
        return [trigger]
    return [one for child in trigger.triggers for one in event_triggers(child)]


def _composite(
    trigger: CompoundTrigger | SequenceTrigger,
    child_firings: list[Firing],
    buckets: Buckets,
) -> list[Firing]:
    """Fold the firings of a compound or sequence trigger's children into its own."""
    children = [child.id for child in trigger.triggers]
    fired: list[Firing] = []
    for child_firing in child_firings:
        if child_firing.kind != "triggered" or child_firing.trigger_id not in children:
            continue
        bucket = buckets.get((trigger.id, "")) or Bucket(trigger.id, "")
        if bucket.end is not None and trigger.within and child_firing.at > bucket.end:
            bucket = Bucket(trigger.id, "")  # the window passed: start again
        done = list(bucket.event_ids)  # ids of the children that fired, in order
        index = children.index(child_firing.trigger_id)
        if isinstance(trigger, SequenceTrigger):
            if index != len(done):
                if index == 0:
                    done = []
                else:
                    continue  # out of order: not counted
            done.append(child_firing.trigger_id)
            complete = len(done) == len(children)
        else:
            if child_firing.trigger_id not in done:
                done.append(child_firing.trigger_id)
            need = (
                1
                if trigger.require == "any"
                else len(children)
                if trigger.require == "all"
                else int(trigger.require)
            )
            complete = len(done) >= need
        start = bucket.start if bucket.start is not None else child_firing.at
        bucket = replace(
            bucket,
            start=start,
            end=start + trigger.within if trigger.within else None,
            count=len(done),
            event_ids=tuple(done),
        )
        if complete:
            fired.append(
                Firing(trigger.id, "", "triggered", child_firing.at, child_firing.event_ids)
            )
            buckets.pop((trigger.id, ""), None)
        else:
            buckets[(trigger.id, "")] = bucket
    return fired


def on_event(
    trigger: AnyTrigger, event: SeenEvent, buckets: Buckets, *, late_before: float = 0.0
) -> list[Firing]:
    """The firings of the automation's (top) trigger caused by one event."""
    if isinstance(trigger, EventTrigger):
        return event_trigger_on_event(trigger, event, buckets, late_before=late_before)
    child_firings: list[Firing] = []
    for child in trigger.triggers:
        child_firings += on_event(child, event, buckets, late_before=late_before)
    return _composite(trigger, child_firings, buckets)


def on_clock(
    trigger: AnyTrigger, buckets: Buckets, now: float, *, late_before: float = 0.0
) -> list[Firing]:
    """The firings of the automation's (top) trigger whose deadline passed by ``now``."""
    if isinstance(trigger, EventTrigger):
        return event_trigger_on_clock(trigger, buckets, now, late_before=late_before)
    child_firings: list[Firing] = []
    for child in trigger.triggers:
        child_firings += on_clock(child, buckets, now, late_before=late_before)
    return _composite(trigger, child_firings, buckets)


def next_deadline(buckets: Buckets) -> float | None:
    """The soonest window end among the buckets (when the clock must look again)."""
    ends = [bucket.end for bucket in buckets.values() if bucket.end is not None]
    return min(ends) if ends else None
