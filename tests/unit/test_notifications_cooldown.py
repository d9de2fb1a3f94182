"""The cooldown: one message per key per N seconds, the held-back ones counted in the
next one sent (a table of calls -> decisions)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from legato.notifications import Cooldown, CooldownDecision

NINE = datetime(2026, 12, 1, 9, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("seconds", "calls", "decisions"),
    [
        # the first message goes out
        (60, [("a", 0)], [CooldownDecision(True)]),
        # a second within the cooldown is held back and counted
        (60, [("a", 0), ("a", 10)], [CooldownDecision(True), CooldownDecision(False, 1, 10)]),
        # the next after the cooldown goes out, naming the held-back ones since the first
        (
            60,
            [("a", 0), ("a", 10), ("a", 20), ("a", 60)],
            [
                CooldownDecision(True),
                CooldownDecision(False, 1, 10),
                CooldownDecision(False, 2, 10),
                CooldownDecision(True, 2, 10),
            ],
        ),
        # after that, the count starts again
        (
            60,
            [("a", 0), ("a", 10), ("a", 60), ("a", 130)],
            [
                CooldownDecision(True),
                CooldownDecision(False, 1, 10),
                CooldownDecision(True, 1, 10),
                CooldownDecision(True),
            ],
        ),
        # keys are counted apart
        (60, [("a", 0), ("b", 1)], [CooldownDecision(True), CooldownDecision(True)]),
        # the cooldown runs from the last message sent, not the last one held back
        (
            60,
            [("a", 0), ("a", 59), ("a", 61)],
            [CooldownDecision(True), CooldownDecision(False, 1, 59), CooldownDecision(True, 1, 59)],
        ),
        # 0 seconds: never hold back
        (0, [("a", 0), ("a", 0)], [CooldownDecision(True), CooldownDecision(True)]),
    ],
)
def test_cooldown_decides(
    seconds: float, calls: list[tuple[str, float]], decisions: list[CooldownDecision]
) -> None:
    cooldown = Cooldown(seconds)
    assert [cooldown.decide(key, NINE + at) for key, at in calls] == [
        CooldownDecision(d.send, d.suppressed, None if d.since is None else NINE + d.since)
        for d in decisions
    ]


def test_cooldown_note_names_the_count_and_the_time_of_the_first_held_back() -> None:
    cooldown = Cooldown(600)
    cooldown.decide("nightly", NINE - 60)
    for minute in range(7):
        cooldown.decide("nightly", NINE + minute * 60)
    decision = cooldown.decide("nightly", NINE + 700)
    assert decision.send
    assert decision.note() == "and 7 more since 09:00 UTC"


def test_cooldown_note_is_none_when_nothing_was_held_back() -> None:
    assert Cooldown(60).decide("a", NINE).note() is None


def test_forgetting_old_keys_keeps_the_counts() -> None:
    cooldown = Cooldown(60)
    cooldown.decide("quiet", NINE)
    cooldown.decide("busy", NINE)
    cooldown.decide("busy", NINE + 1)
    cooldown.forget_before(NINE + 1000)
    assert cooldown.decide("busy", NINE + 2000) == CooldownDecision(True, 1, NINE + 1)
    assert cooldown.decide("quiet", NINE + 2000) == CooldownDecision(True)
