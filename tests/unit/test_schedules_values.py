"""What all schedule kinds share: clear errors, the naive ``after`` check, stored dicts,
the public surface, and a pure room."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import legato.schedules
from legato.errors import LegatoError, ScheduleError
from legato.schedules import Cron, Interval, RRule, schedule_from_dict

SCHEDULES = [
    Cron("30 2 * * MON-FRI", timezone="America/New_York"),
    Cron("@daily", day_or=False),
    Interval(90.5, anchor=datetime(2026, 3, 1, 9, 0), timezone="Europe/London"),
    Interval(timedelta(days=1)),
    RRule("DTSTART;TZID=Europe/London:20260301T090000\nRRULE:FREQ=DAILY", timezone="UTC"),
    RRule("FREQ=MONTHLY;BYMONTHDAY=-1", timezone="America/New_York"),
]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: Cron("61 * * * *"),
            "cron expression '61 * * * *': minute field '61' is out of range 0-59",
        ),
        (lambda: Cron("0 24 * * *"), "hour field '24' is out of range 0-23"),
        (lambda: Cron("0 0 0 * *"), "day-of-month field '0' is out of range 1-31"),
        (lambda: Cron("0 0 1 13 *"), "month field '13' is out of range 1-12"),
        (lambda: Cron("0 0 * * 8"), "day-of-week field '8' is out of range 0-7"),
        (
            lambda: Cron("0 0 * FOO *"),
            "month field 'FOO': 'FOO' is not a number or a name (JAN-DEC)",
        ),
        (
            lambda: Cron("*/0 * * * *"),
            "minute field '*/0': step '0' must be a whole number above 0",
        ),
        (lambda: Cron("0 9-5 * * *"), "hour field '9-5': range '9-5' runs backwards"),
        (lambda: Cron("0 9 * *"), "cron expression '0 9 * *' has 4 fields; write five"),
        (lambda: Cron("0 0 9 * * *"), "has 6 fields; write five"),
        (lambda: Cron("@fortnightly"), "unknown alias; use one of @yearly"),
        (lambda: Cron("0 0 30 2 *"), "day-of-month field '30' never occurs in month field '2'"),
        (
            lambda: Cron("0 0 * * *", timezone="Europe/Lodnon"),
            "unknown time zone 'Europe/Lodnon'; use an IANA name such as Europe/London",
        ),
        (lambda: Cron("0 0 * * *", timezone="Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
        (
            lambda: Cron("0 0 * * *", timezone="localtime"),
            "time zone 'localtime' means each machine's own zone",
        ),
        (lambda: Interval(60, timezone="posixrules"), "means each machine's own zone"),
        (lambda: Interval(0), "interval 0 must be above 0"),
        (lambda: Interval(-5), "interval -5 must be above 0"),
        (lambda: Interval(timedelta(0)), "must be above 0"),
        (lambda: Interval(float("nan")), "interval nan seconds is not a finite length of time"),
        (lambda: Interval("3600"), "interval '3600' is not a number of seconds"),  # type: ignore[arg-type]
        (lambda: Interval(True), "interval True is not a number of seconds"),
        (lambda: Interval(60, timezone="America/New_Yrok"), "such as America/New_York"),
        (lambda: Interval(60, anchor="yesterday"), "anchor 'yesterday' is not an ISO date-time"),
        (lambda: RRule("FREQ=DAYLY"), "RRULE 'FREQ=DAYLY' is not valid: invalid 'FREQ': DAYLY"),
        (lambda: RRule("BYHOUR=9"), "RRULE 'BYHOUR=9' has no FREQ"),
        (lambda: RRule("FREQ=DAILY;BYHOUR=25"), "BYHOUR=25 is out of range; use 0 to 23"),
        (lambda: RRule("FREQ=DAILY;INTERVAL=0"), "INTERVAL=0 must be a whole number above 0"),
        (lambda: RRule("FREQ=DAILY;COUNT=2;UNTIL=20270101"), "has both COUNT and UNTIL"),
        (lambda: RRule("FREQ=DAILY;BYHOUR"), "'BYHOUR' is not NAME=VALUE"),
        (lambda: RRule(""), "has no rule"),
        (lambda: RRule("DTSTART:20260301T090000"), "has no rule"),
        (lambda: RRule("DTSTART:2026-03-01 FREQ=DAILY"), "'2026-03-01' is not a date-time"),
        (
            lambda: RRule("DTSTART:20260231T090000 FREQ=DAILY"),
            "'20260231T090000' is not a date-time",
        ),
        (
            lambda: RRule("DTSTART;TZID=Europe/Lodnon:20260301T090000 FREQ=DAILY"),
            "unknown time zone 'Europe/Lodnon'",
        ),
        (lambda: RRule("EXDATE:20260301T090000"), "has no rule"),
        (lambda: RRule("FREQ=DAILY EXRULE:FREQ=WEEKLY"), "EXRULE was dropped from RFC 5545"),
        (lambda: RRule("FREQ=DAILY EXDATE"), "'EXDATE' lists no time"),
        (lambda: RRule("FREQ=DAILY RDATE:2026"), "'2026' is not a date-time"),
        (
            lambda: RRule("FREQ=DAILY RDATE;VALUE=PERIOD:20260301T090000Z/PT1H"),
            "RDATE periods are not supported",
        ),
        (
            lambda: RRule("FREQ=DAILY EXDATE;TZID=Europe/London:20260301T090000Z"),
            "has both a TZID and a Z",
        ),
        (
            lambda: RRule("FREQ=DAILY RDATE;TZID=Mars/Base:20260301T090000"),
            "unknown time zone 'Mars/Base'",
        ),
        (
            lambda: RRule("FREQ=DAILY RDATE:" + ",".join(["20260301T090000"] * 1001)),
            "at most 1000 are accepted",
        ),
        (lambda: RRule("FREQ=DAILY SUMMARY:standup"), "'SUMMARY' is not supported"),
    ],
)
def test_bad_schedule_is_a_schedule_error_naming_the_bad_part(build, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ScheduleError) as caught:
        build()

    assert message in str(caught.value)
    assert isinstance(caught.value, LegatoError)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
def test_naive_after_is_refused(schedule: Cron | Interval | RRule) -> None:
    with pytest.raises(ValueError, match="has no time zone; pass an aware datetime"):
        schedule.next_runs(datetime(2026, 1, 1), 1)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
def test_negative_count_is_refused(schedule: Cron | Interval | RRule) -> None:
    with pytest.raises(ValueError, match="count must be a whole number >= 0"):
        schedule.next_runs(datetime(2026, 1, 1, tzinfo=UTC), -1)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
def test_schedule_survives_its_stored_dict(schedule: Cron | Interval | RRule) -> None:
    stored = schedule.to_dict()
    after = datetime(2026, 3, 1, tzinfo=UTC)

    again = schedule_from_dict(stored)

    assert stored["kind"] == schedule.kind
    assert again == schedule
    assert again.to_dict() == stored
    assert type(schedule).from_dict(stored) == schedule
    assert [run.isoformat() for run in again.next_runs(after, 5)] == [
        run.isoformat() for run in schedule.next_runs(after, 5)
    ]


def test_stored_dicts_are_plain_json_values() -> None:
    assert [schedule.to_dict() for schedule in SCHEDULES[1:3]] == [
        {"kind": "cron", "expr": "@daily", "timezone": "UTC", "day_or": False},
        {
            "kind": "interval",
            "every": 90.5,
            "anchor": "2026-03-01T09:00:00+00:00",
            "timezone": "Europe/London",
        },
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"expr": "* * * * *"}, "has no known kind; expected one of cron, interval, rrule"),
        ({"kind": "weekly"}, "has no known kind"),
        ({"kind": "cron"}, "missing expr"),
        ({"kind": "rrule", "rule": "FREQ=DAILY", "zone": "UTC"}, "unknown zone"),
        ({"kind": "cron", "expr": "61 * * * *"}, "minute field '61' is out of range 0-59"),
    ],
)
def test_bad_stored_dict_is_a_schedule_error(data: dict[str, object], message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        schedule_from_dict(data)


def test_from_dict_refuses_another_kind() -> None:
    with pytest.raises(ScheduleError, match="is a 'cron' schedule, not 'interval'"):
        Interval.from_dict(Cron("@daily").to_dict())


def test_schedules_are_frozen_values() -> None:
    schedule = Cron("@daily")

    with pytest.raises(AttributeError):
        schedule.expr = "@hourly"  # type: ignore[misc]
    assert schedule == Cron("@daily") and hash(schedule) == hash(Cron("@daily"))


def test_public_surface_is_pinned() -> None:
    assert sorted(legato.schedules.__all__) == [
        "Cron",
        "Interval",
        "RRule",
        "Schedule",
        "schedule_from_dict",
    ]


def test_schedules_is_a_pure_room() -> None:
    room = Path(legato.schedules.__file__).parent
    forbidden = (
        "legato.store",
        "legato.server",
        "legato.engine",
        "legato.orchestrator",
        "legato.cli",
        "sqlalchemy",
        "httpx",
    )
    imported = [
        f"{path.name} imports {name}"
        for path in sorted(room.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
        )
        if name.startswith(forbidden)
    ]

    assert imported == []
