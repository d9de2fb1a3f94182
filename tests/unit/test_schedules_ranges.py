"""Schedules at the edges of time (issue 8, item 14): an interval anchored at 9999-12-31 was
accepted, then every scheduler pass logged an OverflowError traceback. Such schedules are
refused when made (naming the anchor), and every schedule stops cleanly before year 9999
instead of overflowing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from legato.errors import ScheduleError
from legato.schedules import Cron, Interval, RRule, schedule_from_dict
from legato.schedules.base import LATEST
from legato.schedules.planning import ScheduleState, backfill_slots, plan_slots

NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("make", "named"),
    [
        (lambda: Interval(3600, anchor="9999-12-31T00:00:00"), "anchor 9999-12-31T00:00:00"),
        (lambda: Interval(3600, anchor=datetime(9999, 12, 31, tzinfo=UTC)), "anchor 9999-12-31"),
        (
            lambda: Interval(3600, anchor="9999-12-31T23:59:59", timezone="America/New_York"),
            "anchor 9999-12-31T23:59:59",
        ),
        (
            lambda: Interval(3600, anchor="0001-01-01T00:00:00", timezone="Asia/Tokyo"),
            "anchor 0001-01-01T00:00:00",
        ),
        (lambda: Interval(3600, anchor="9998-12-31T23:30:00"), "no second slot"),
        (lambda: Interval(86400 * 365 * 9000), "no second slot"),
        (lambda: Interval(timedelta.max.total_seconds()), "too long"),
        (lambda: Interval(timedelta(days=999_999_999)), "no second slot"),
        (lambda: Interval(-3600), "must be above 0"),
        (lambda: RRule("DTSTART:99991231T000000\nRRULE:FREQ=DAILY"), "DTSTART 9999-12-31"),
        (
            lambda: RRule("DTSTART;TZID=Asia/Tokyo:00010101T000000\nRRULE:FREQ=DAILY"),
            "DTSTART 0001-01-01",
        ),
    ],
)
def test_a_schedule_that_cannot_run_is_refused_naming_why(make: Any, named: str) -> None:
    with pytest.raises(ScheduleError, match=r"out of range|no second slot|too long|above 0") as e:
        make()
    assert named in str(e.value)


def test_the_stored_form_of_a_far_anchor_is_refused_too() -> None:
    stored = {"kind": "interval", "every": 3600.0, "anchor": "9999-12-31T00:00:00+00:00"}
    with pytest.raises(ScheduleError, match="anchor 9999-12-31T00:00:00"):
        schedule_from_dict(stored)


@pytest.mark.parametrize(
    "schedule",
    [
        Interval(3600, anchor="9998-12-31T20:00:00"),
        Cron("0 * * * *"),
        Cron("0 0 1 1 *"),
        Cron("0 * * * *", timezone="Pacific/Kiritimati"),
        RRule("FREQ=DAILY"),
        RRule("FREQ=YEARLY"),
        RRule("FREQ=DAILY;UNTIL=99991231T235959Z", timezone="Pacific/Kiritimati"),
    ],
)
@pytest.mark.parametrize(
    "after",
    [datetime(9998, 6, 1, tzinfo=UTC), datetime(9998, 12, 31, 19, tzinfo=UTC), LATEST],
)
def test_slots_stop_before_the_last_schedulable_time(schedule: Any, after: datetime) -> None:
    slots = schedule.next_runs(after, 1000)
    assert all(after < slot.astimezone(UTC) < LATEST for slot in slots)
    assert schedule.next_runs(LATEST + timedelta(days=300), 5) == []


def test_an_interval_near_the_end_makes_the_slots_that_fit() -> None:
    near_end = Interval(3600, anchor="9998-12-31T20:00:00")
    assert [slot.hour for slot in near_end.next_runs(NOW, 10)] == [20, 21, 22, 23]


def test_backfill_up_to_the_end_of_time_is_not_an_overflow() -> None:
    found = backfill_slots(
        [("s1", Cron("0 0 1 * *"))],
        datetime(9998, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, tzinfo=UTC),
    )
    assert len(found) == 12


class _Broken:
    """A schedule whose next times cannot be computed (what a stored value that predates
    a check can do)."""

    def next_runs(self, after: datetime, count: int) -> list[datetime]:
        raise OverflowError("date value out of range")


def test_a_broken_schedule_is_skipped_and_the_others_are_planned() -> None:
    created = NOW - timedelta(hours=1)
    plan = plan_slots(
        [
            ScheduleState("bad", _Broken(), created),  # type: ignore[arg-type]
            ScheduleState("good", Interval(3600), created),
        ],
        now=NOW,
        catchup=True,
    )
    assert plan.broken == [("bad", "date value out of range")]
    assert plan.slots and {slot.schedule_id for slot in plan.slots} == {"good"}


class _Unexpandable:
    """A rule dateutil took but cannot expand (BYHOUR=25 stored before it was refused)."""

    def next_runs(self, after: datetime, count: int) -> list[datetime]:
        raise TypeError("cannot unpack non-iterable NoneType object")


def test_a_stored_rule_dateutil_cannot_expand_is_skipped_when_planning() -> None:
    """It failed the deployment's planning at every scheduler pass, with a traceback,
    and took the deployment's good schedules down with it."""
    created = NOW - timedelta(hours=5)
    plan = plan_slots(
        [
            ScheduleState("bad", _Unexpandable(), created),  # type: ignore[arg-type]
            ScheduleState("good", Interval(3600), created),
        ],
        now=NOW,
        catchup=True,
    )
    assert plan.broken == [("bad", "cannot unpack non-iterable NoneType object")]
    assert plan.slots and {slot.schedule_id for slot in plan.slots} == {"good"}


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ("FREQ=HOURLY;BYHOUR=24", "BYHOUR=24 is out of range"),
        ("FREQ=HOURLY;BYHOUR=1,+25", "BYHOUR=25 is out of range"),
        ("FREQ=MINUTELY;BYMINUTE=60", "BYMINUTE=60 is out of range"),
        ("FREQ=SECONDLY;BYSECOND=60", "BYSECOND=60 is out of range"),
        ("FREQ=DAILY;BYEASTER=300", "BYEASTER is not part of RFC 5545"),
    ],
)
def test_an_rrule_part_dateutil_cannot_expand_is_refused_when_made(rule: str, says: str) -> None:
    """dateutil took these, then raised TypeError (IndexError for BYEASTER) at the first
    time computed: at every scheduler pass and as a 500 from backfill."""
    with pytest.raises(ScheduleError, match=says):
        RRule(rule)


def test_an_until_before_year_1_in_a_zone_behind_utc_ends_the_rule_when_made() -> None:
    """UNTIL=00010101T000000Z shown in a zone behind UTC is in year 0: an OverflowError
    (500 on deploy)."""
    ended = RRule("FREQ=DAILY;UNTIL=00010101T000000Z", timezone="Pacific/Kiritimati")
    assert ended.next_runs(NOW, 3) == []


@pytest.mark.parametrize(
    ("start", "says"),
    [
        (datetime(1, 1, 1, tzinfo=UTC), "is before 0001-01-02"),
        (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))), "before year 1"),
    ],
)
def test_backfill_from_year_1_is_refused_when_it_starts_before_schedules_begin(
    start: datetime, says: str
) -> None:
    with pytest.raises(ScheduleError, match=says):
        backfill_slots([("s1", Cron("0 0 * * *"))], start, datetime(1, 1, 5, tzinfo=UTC))


def test_backfill_from_where_schedules_begin_finds_the_first_slots() -> None:
    found = backfill_slots(
        [("s1", Cron("0 0 * * *", timezone="Asia/Tokyo"))],
        datetime(1, 1, 2, tzinfo=UTC),
        datetime(1, 1, 5, tzinfo=UTC),
    )
    assert len(found) == 3
