"""Triggers as pure functions: events and the clock in, firings out."""

from __future__ import annotations

import itertools

import pytest
from pydantic import ValidationError

from legato.event_rules.triggers import Buckets, SeenEvent, on_clock, on_event
from legato.schemas.automations import AutomationSpec, EventTrigger

_ids = itertools.count()


def ev(name: str, at: float, run: str = "r1", **labels: str) -> SeenEvent:
    return SeenEvent(
        id=f"e{next(_ids)}",
        event=name,
        occurred=at,
        resource={"legato.resource.id": f"legato.flow-run.{run}", **labels},
        related=[
            {"legato.resource.id": "legato.deployment.d1", "legato.resource.role": "deployment"}
        ],
    )


def feed(trigger: EventTrigger, events: list[SeenEvent], buckets: Buckets) -> list[str]:
    return [f"{f.kind}@{f.at:g}" for e in events for f in on_event(trigger, e, buckets)]


def test_reactive_threshold_within_a_window() -> None:
    trigger = EventTrigger(expect=["legato.flow-run.Failed"], threshold=3, within=60)
    buckets: Buckets = {}
    events = [ev("legato.flow-run.Failed", t) for t in (0, 10, 20)]
    assert feed(trigger, events, buckets) == ["triggered@20"]
    # Two more in the window after the firing, then the window ends short: resolved.
    assert feed(trigger, [ev("legato.flow-run.Failed", 30)], buckets) == []
    assert on_clock(trigger, buckets, 200)[0].kind == "resolved"
    assert buckets == {}


def test_reactive_events_spread_wider_than_the_window_never_fire() -> None:
    trigger = EventTrigger(expect=["legato.flow-run.Failed"], threshold=2, within=10)
    buckets: Buckets = {}
    events = [ev("legato.flow-run.Failed", t) for t in (0, 11, 22, 33)]
    assert feed(trigger, events, buckets) == []


def test_reactive_with_threshold_one_fires_on_each_matching_event_only() -> None:
    trigger = EventTrigger(
        expect=["legato.flow-run.*"],
        match={"legato.resource.id": "legato.flow-run.*"},
        match_related={"legato.resource.role": "deployment", "legato.resource.id": "*.d1"},
    )
    buckets: Buckets = {}
    assert feed(trigger, [ev("legato.flow-run.Failed", 1), ev("acme.x", 2)], buckets) == [
        "triggered@1"
    ]
    other = SeenEvent("x", "legato.flow-run.Failed", 3, {"legato.resource.id": "legato.flow-run.9"})
    assert on_event(trigger, other, buckets) == []  # no related deployment d1
    assert buckets == {}


def test_proactive_fires_when_the_expected_event_is_missing_and_not_when_it_comes() -> None:
    trigger = EventTrigger(
        posture="Proactive",
        after=["legato.flow-run.Running"],
        expect=["legato.flow-run.Completed"],
        for_each=["legato.resource.id"],
        within=1800,
    )
    buckets: Buckets = {}
    feed(trigger, [ev("legato.flow-run.Running", 0, "slow")], buckets)
    feed(trigger, [ev("legato.flow-run.Running", 0, "quick")], buckets)
    assert feed(trigger, [ev("legato.flow-run.Completed", 600, "quick")], buckets) == []
    assert on_clock(trigger, buckets, 1000) == []
    fired = on_clock(trigger, buckets, 1801)
    assert [(f.kind, f.key, f.at, f.late) for f in fired] == [
        ("triggered", "legato.flow-run.slow", 1800, False)
    ]
    assert on_clock(trigger, buckets, 5000) == []  # once
    # It completes after all: resolved, and nothing is kept.
    late = on_event(trigger, ev("legato.flow-run.Completed", 6000, "slow"), buckets)
    assert [f.kind for f in late] == ["resolved"]
    assert buckets == {}


def test_a_deadline_that_passed_while_no_server_ran_fires_late() -> None:
    trigger = EventTrigger(
        posture="Proactive",
        after=["acme.started"],
        expect=["acme.done"],
        within=60,
        match={"legato.resource.id": "legato.flow-run.*"},
    )
    buckets: Buckets = {}
    feed(trigger, [ev("acme.started", 0)], buckets)
    [fired] = on_clock(trigger, buckets, 10_000, late_before=5_000)
    assert (fired.at, fired.late) == (60, True)


def test_proactive_without_after_watches_rolling_windows() -> None:
    trigger = EventTrigger(
        posture="Proactive",
        expect=["legato.flow-run.Completed"],
        match_related={"legato.resource.id": "legato.deployment.d1"},
        within=100,
    )
    buckets: Buckets = {}
    assert on_clock(trigger, buckets, 0) == []  # the first window opens
    feed(trigger, [ev("legato.flow-run.Completed", 50)], buckets)
    assert on_clock(trigger, buckets, 101) == []  # it came: quiet, the next window opens
    assert [f.kind for f in on_clock(trigger, buckets, 202)] == ["triggered"]
    # Down for a long time: one late firing, not one per missed window.
    assert len(on_clock(trigger, buckets, 10_000, late_before=9_000)) == 1
    assert len(on_clock(trigger, buckets, 10_050)) == 0


def test_compound_and_sequence_triggers() -> None:
    spec = AutomationSpec.model_validate(
        {
            "name": "both",
            "trigger": {
                "type": "sequence",
                "within": 100,
                "triggers": [
                    {"type": "event", "expect": ["acme.first"]},
                    {"type": "event", "expect": ["acme.second"]},
                ],
            },
            "actions": [{"type": "pause-work-pool", "work_pool": "p"}],
        }
    )
    buckets: Buckets = {}
    trigger = spec.trigger
    assert [f.kind for f in on_event(trigger, ev("acme.second", 1), buckets)] == []
    assert on_event(trigger, ev("acme.first", 2), buckets) == []
    assert [f.kind for f in on_event(trigger, ev("acme.second", 3), buckets)] == ["triggered"]
    any_of = AutomationSpec.model_validate(
        {
            "name": "any",
            "trigger": {
                "type": "compound",
                "require": "any",
                "triggers": [
                    {"type": "event", "expect": ["acme.a"]},
                    {"type": "event", "expect": ["acme.b"]},
                ],
            },
            "actions": [{"type": "pause-work-pool", "work_pool": "p"}],
        }
    ).trigger
    assert len(on_event(any_of, ev("acme.b", 1), {})) == 1


@pytest.mark.parametrize(
    ("trigger", "says"),
    [
        ({"type": "event"}, "would match every event"),
        ({"type": "event", "match": {"legato.resource.id": "*"}}, "would match every event"),
        ({"type": "event", "posture": "Proactive", "expect": ["a"]}, "needs 'within'"),
        ({"type": "event", "expect": ["a"], "threshold": 5}, "needs 'within'"),
        ({"type": "event", "expect": ["a b"]}, "not an event name"),
        ({"type": "event", "expect": ["a"], "within": -1}, "greater than or equal"),
        ({"type": "compound", "require": 3, "triggers": [{"expect": ["a"]}]}, "only 1"),
    ],
)
def test_bad_triggers_are_refused_saying_why(trigger: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        AutomationSpec.model_validate(
            {"name": "x", "trigger": trigger, "actions": [{"type": "pause-work-pool"}]}
        )
