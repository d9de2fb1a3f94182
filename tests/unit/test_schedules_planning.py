"""Which slots the scheduler makes: upcoming counts and horizon, catch-up on and off,
never before the schedule or the last made slot, DST days, backfill ranges and keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from legato.errors import ScheduleError
from legato.schedules import Cron, Interval
from legato.schedules.planning import (
    PlanLimits,
    ScheduleState,
    backfill_slots,
    plan_slots,
    slot_key,
)

NOW = datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC)
LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)
MINUTELY = Interval(60)
NY = ZoneInfo("America/New_York")


def state(schedule: Cron | Interval, last: datetime | None = None, created: datetime = LONG_AGO):
    return ScheduleState("s1", schedule, created=created, last_slot=last)


def times(plan_slots_result: list) -> list[datetime]:
    return [slot.time for slot in plan_slots_result]


def test_upcoming_runs_stop_at_max_runs_within_the_horizon() -> None:
    plan = plan_slots([state(MINUTELY)], now=NOW, catchup=False, limits=PlanLimits(max_runs=5))
    assert times(plan.slots) == [datetime(2026, 6, 1, 12, m, tzinfo=UTC) for m in range(1, 6)]


def test_upcoming_runs_stop_at_the_horizon() -> None:
    limits = PlanLimits(max_runs=100, min_runs=3, horizon=timedelta(minutes=10))
    plan = plan_slots([state(MINUTELY)], now=NOW, catchup=False, limits=limits)
    assert len(plan.slots) == 10
    assert plan.slots[-1].time == datetime(2026, 6, 1, 12, 10, tzinfo=UTC)


def test_at_least_min_runs_even_beyond_the_horizon() -> None:
    monthly = Cron("0 0 1 * *")
    limits = PlanLimits(max_runs=100, min_runs=3, horizon=timedelta(days=7))
    plan = plan_slots([state(monthly)], now=NOW, catchup=False, limits=limits)
    assert times(plan.slots) == [
        datetime(2026, 7, 1, tzinfo=UTC),
        datetime(2026, 8, 1, tzinfo=UTC),
        datetime(2026, 9, 1, tzinfo=UTC),
    ]


def test_slots_made_already_are_not_planned_again() -> None:
    last = datetime(2026, 6, 1, 12, 3, tzinfo=UTC)
    plan = plan_slots(
        [state(MINUTELY, last=last)], now=NOW, catchup=False, limits=PlanLimits(max_runs=5)
    )
    assert times(plan.slots) == [datetime(2026, 6, 1, 12, m, tzinfo=UTC) for m in (4, 5)]


def test_a_full_store_plans_nothing() -> None:
    last = datetime(2026, 6, 1, 12, 5, tzinfo=UTC)
    plan = plan_slots(
        [state(MINUTELY, last=last)], now=NOW, catchup=True, limits=PlanLimits(max_runs=5)
    )
    assert plan.slots == []


def test_catchup_off_skips_every_missed_slot() -> None:
    last = NOW - timedelta(hours=3)
    plan = plan_slots(
        [state(MINUTELY, last=last)], now=NOW, catchup=False, limits=PlanLimits(max_runs=2)
    )
    assert times(plan.slots) == [datetime(2026, 6, 1, 12, m, tzinfo=UTC) for m in (1, 2)]


def test_catchup_on_makes_every_missed_slot_then_the_upcoming_ones() -> None:
    last = datetime(2026, 6, 1, 11, 0, tzinfo=UTC)
    plan = plan_slots(
        [state(MINUTELY, last=last)], now=NOW, catchup=True, limits=PlanLimits(max_runs=2)
    )
    made = times(plan.slots)
    assert made[0] == datetime(2026, 6, 1, 11, 1, tzinfo=UTC)
    assert made[-1] == datetime(2026, 6, 1, 12, 2, tzinfo=UTC)
    assert len(made) == 60 + 2
    assert made == sorted(set(made))
    assert plan.catching_up == []


def test_catchup_is_bounded_per_pass_and_resumes_from_the_last_slot() -> None:
    last = NOW - timedelta(days=1)
    limits = PlanLimits(max_runs=5, max_catchup=1000)
    first = plan_slots([state(MINUTELY, last=last)], now=NOW, catchup=True, limits=limits)
    assert len(first.slots) == 1000
    assert first.catching_up == ["s1"]
    assert all(slot.time <= NOW for slot in first.slots)  # no upcoming slot while behind
    second = plan_slots(
        [state(MINUTELY, last=first.slots[-1].time)], now=NOW, catchup=True, limits=limits
    )
    assert second.slots[0].time == first.slots[-1].time + timedelta(minutes=1)


def test_a_new_schedule_does_not_reach_before_it_was_stored() -> None:
    created = NOW - timedelta(minutes=10)
    plan = plan_slots(
        [state(MINUTELY, created=created)], now=NOW, catchup=True, limits=PlanLimits(max_runs=1)
    )
    assert plan.slots[0].time == datetime(2026, 6, 1, 11, 51, tzinfo=UTC)
    assert len(plan.slots) == 10 + 1


def test_each_schedule_is_planned_on_its_own() -> None:
    schedules = [
        ScheduleState("a", Interval(3600), created=LONG_AGO),
        ScheduleState("b", Cron("30 * * * *"), created=LONG_AGO),
    ]
    plan = plan_slots(schedules, now=NOW, catchup=False, limits=PlanLimits(max_runs=2))
    assert [(slot.schedule_id, slot.time.hour, slot.time.minute) for slot in plan.slots] == [
        ("a", 13, 0),
        ("a", 14, 0),
        ("b", 12, 30),
        ("b", 13, 30),
    ]


@pytest.mark.parametrize(
    ("day", "expected_utc"),
    [
        # spring forward: 02:30 does not exist, runs once at 03:00 EDT
        (datetime(2026, 3, 8, tzinfo=NY), [datetime(2026, 3, 8, 7, 0, tzinfo=UTC)]),
        # fall back: 01:30 happens twice, runs once at 01:30 EDT
        (datetime(2026, 11, 1, tzinfo=NY), [datetime(2026, 11, 1, 5, 30, tzinfo=UTC)]),
    ],
)
def test_daily_cron_slots_on_new_york_dst_days(day: datetime, expected_utc: list) -> None:
    cron = Cron("30 2 * * *" if day.month == 3 else "30 1 * * *", timezone="America/New_York")
    now = day.astimezone(UTC)
    plan = plan_slots(
        [state(cron, created=now - timedelta(days=1))],
        now=now,
        catchup=False,
        limits=PlanLimits(max_runs=100, min_runs=0, horizon=timedelta(days=1)),
    )
    assert times(plan.slots) == expected_utc


def test_slot_key_is_the_slot_in_utc() -> None:
    local = datetime(2026, 3, 8, 3, 0, tzinfo=NY)
    assert slot_key("d", "s", local) == "scheduled:d:s:2026-03-08T07:00:00+00:00"


def test_backfill_slots_cover_start_but_not_end() -> None:
    start = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
    slots = backfill_slots([("s", Interval(3600))], start, start + timedelta(hours=3))
    assert times(slots) == [start + timedelta(hours=h) for h in range(3)]


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (NOW, NOW, "is not before end"),
        (NOW, NOW - timedelta(hours=1), "is not before end"),
        (NOW - timedelta(days=8), NOW, "more than 10000 slots"),
        (datetime(2026, 5, 1), NOW, "has no time zone"),
    ],
)
def test_backfill_refuses_bad_ranges(start: datetime, end: datetime, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        backfill_slots([("s", MINUTELY)], start, end)
