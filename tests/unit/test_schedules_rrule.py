"""RRULE schedules: RFC 5545 text, DTSTART and TZID, wall-clock recurrences across DST."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from legato.schedules import RRule


def runs(schedule: RRule, after: str, count: int = 3) -> list[str]:
    return [run.isoformat() for run in schedule.next_runs(datetime.fromisoformat(after), count)]


@pytest.mark.parametrize(
    ("rule", "zone", "after", "expected"),
    [
        # no DTSTART: counts from 2020-01-01 00:00 in the zone
        (
            "FREQ=DAILY;BYHOUR=9",
            "UTC",
            "2026-01-01T09:00:00+00:00",
            ["2026-01-02T09:00:00+00:00", "2026-01-03T09:00:00+00:00", "2026-01-04T09:00:00+00:00"],
        ),
        (
            "RRULE:FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9;BYMINUTE=30",
            "UTC",
            "2026-01-01T00:00:00+00:00",
            ["2026-01-05T09:30:00+00:00", "2026-01-07T09:30:00+00:00", "2026-01-12T09:30:00+00:00"],
        ),
        # DTSTART with TZID: wall time in London, kept across its spring forward (03-29)
        (
            "DTSTART;TZID=Europe/London:20260301T090000\nRRULE:FREQ=WEEKLY;BYDAY=FR",
            "Europe/London",
            "2026-03-20T00:00:00+00:00",
            ["2026-03-20T09:00:00+00:00", "2026-03-27T09:00:00+00:00", "2026-04-03T09:00:00+01:00"],
        ),
        # the TZID decides the wall clock; ``timezone`` only how results are shown
        (
            "DTSTART;TZID=America/New_York:20260301T090000 RRULE:FREQ=DAILY",
            "UTC",
            "2026-03-07T00:00:00+00:00",
            ["2026-03-07T14:00:00+00:00", "2026-03-08T13:00:00+00:00", "2026-03-09T13:00:00+00:00"],
        ),
        # floating DTSTART: a wall time in ``timezone``; COUNT counts from it
        (
            "DTSTART:20260301T090000\nRRULE:FREQ=DAILY;COUNT=2",
            "America/New_York",
            "2026-01-01T00:00:00+00:00",
            ["2026-03-01T09:00:00-05:00", "2026-03-02T09:00:00-05:00"],
        ),
        # UTC DTSTART, UTC UNTIL (inclusive)
        (
            "DTSTART:20260301T060000Z RRULE:FREQ=DAILY;UNTIL=20260303T060000Z",
            "UTC",
            "2026-03-01T00:00:00+00:00",
            ["2026-03-01T06:00:00+00:00", "2026-03-02T06:00:00+00:00", "2026-03-03T06:00:00+00:00"],
        ),
        # last day of each month
        (
            "FREQ=MONTHLY;BYMONTHDAY=-1",
            "UTC",
            "2026-01-01T00:00:00+00:00",
            ["2026-01-31T00:00:00+00:00", "2026-02-28T00:00:00+00:00", "2026-03-31T00:00:00+00:00"],
        ),
        # the 31st skips short months
        (
            "FREQ=MONTHLY;BYMONTHDAY=31;BYHOUR=6",
            "UTC",
            "2026-01-31T06:00:00+00:00",
            ["2026-03-31T06:00:00+00:00", "2026-05-31T06:00:00+00:00", "2026-07-31T06:00:00+00:00"],
        ),
        # Feb 29 waits for leap years
        (
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
            "UTC",
            "2026-01-01T00:00:00+00:00",
            ["2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00", "2036-02-29T00:00:00+00:00"],
        ),
        # a minutely rule from 2020 stays in phase (the series is started near ``after``)
        (
            "FREQ=MINUTELY;INTERVAL=7",
            "UTC",
            "2026-01-01T00:00:00+00:00",
            ["2026-01-01T00:02:00+00:00", "2026-01-01T00:09:00+00:00", "2026-01-01T00:16:00+00:00"],
        ),
    ],
)
def test_rrule_next_runs(rule: str, zone: str, after: str, expected: list[str]) -> None:
    assert runs(RRule(rule, timezone=zone), after) == expected


def test_rrule_that_has_ended_returns_no_runs() -> None:
    schedule = RRule("DTSTART:20200101T000000 RRULE:FREQ=DAILY;COUNT=2")

    assert schedule.next_runs(datetime(2026, 1, 1, tzinfo=UTC), 3) == []


def test_rrule_that_never_matches_returns_no_runs() -> None:
    assert (
        RRule("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30").next_runs(datetime(2026, 1, 1, tzinfo=UTC), 3)
        == []
    )


# -- DST: recurrences keep wall time --------------------------------------------------

NEW_YORK = "America/New_York"
LONDON = "Europe/London"


@pytest.mark.parametrize(
    ("rule", "zone", "after", "expected"),
    [
        # every day at 09:00 stays at 09:00 across spring forward and fall back
        (
            "FREQ=DAILY;BYHOUR=9",
            NEW_YORK,
            "2026-03-07T12:00:00-05:00",
            ["2026-03-08T09:00:00-04:00", "2026-03-09T09:00:00-04:00"],
        ),
        (
            "FREQ=DAILY;BYHOUR=9",
            LONDON,
            "2026-10-24T12:00:00+01:00",
            ["2026-10-25T09:00:00+00:00", "2026-10-26T09:00:00+00:00"],
        ),
        # a skipped wall time runs once, at the end of the gap
        (
            "FREQ=DAILY;BYHOUR=2;BYMINUTE=30",
            NEW_YORK,
            "2026-03-07T12:00:00-05:00",
            ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"],
        ),
        (
            "FREQ=DAILY;BYHOUR=1;BYMINUTE=30",
            LONDON,
            "2026-03-28T12:00:00+00:00",
            ["2026-03-29T02:00:00+01:00", "2026-03-30T01:30:00+01:00"],
        ),
        # a repeated wall time runs once, at its first occurrence
        (
            "FREQ=DAILY;BYHOUR=1;BYMINUTE=30",
            NEW_YORK,
            "2026-10-31T12:00:00-04:00",
            ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"],
        ),
        (
            "FREQ=DAILY;BYHOUR=1;BYMINUTE=30",
            LONDON,
            "2026-10-24T12:00:00+01:00",
            ["2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00+00:00"],
        ),
        # hourly rules are wall-clock too: the repeated 01:00 once, the skipped 02:00 at 03:00
        (
            "FREQ=HOURLY",
            NEW_YORK,
            "2026-11-01T00:30:00-04:00",
            ["2026-11-01T01:00:00-04:00", "2026-11-01T02:00:00-05:00", "2026-11-01T03:00:00-05:00"],
        ),
        (
            "FREQ=HOURLY",
            NEW_YORK,
            "2026-03-08T00:30:00-05:00",
            ["2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"],
        ),
    ],
)
def test_rrule_on_dst_days(rule: str, zone: str, after: str, expected: list[str]) -> None:
    assert runs(RRule(rule, timezone=zone), after, len(expected)) == expected


SETS = [
    pytest.param(
        "DTSTART;TZID=Europe/London:20260302T090000\n"
        "RRULE:FREQ=WEEKLY;BYDAY=MO,WE\n"
        "EXDATE;TZID=Europe/London:20260304T090000,20260309T090000",
        "UTC",
        "2026-03-01T00:00:00+00:00",
        ["2026-03-02T09:00:00+00:00", "2026-03-11T09:00:00+00:00", "2026-03-16T09:00:00+00:00"],
        id="exdate skips occurrences in the rule's zone",
    ),
    pytest.param(
        "DTSTART;TZID=America/New_York:20260302T090000 RRULE:FREQ=DAILY;COUNT=3 "
        "RDATE:20260301T120000Z EXDATE;TZID=Europe/London:20260303T140000",
        "America/New_York",
        "2026-02-28T00:00:00+00:00",
        ["2026-03-01T07:00:00-05:00", "2026-03-02T09:00:00-05:00", "2026-03-04T09:00:00-05:00"],
        id="rdate in UTC and exdate in another zone are moved to the rule's zone",
    ),
    pytest.param(
        "DTSTART:20260301T000000 RDATE;VALUE=DATE:20260310,20260305 RDATE:20260305T000000",
        "UTC",
        "2026-03-01T00:00:00+00:00",
        ["2026-03-05T00:00:00+00:00", "2026-03-10T00:00:00+00:00"],
        id="rdates only, unsorted and repeated, each once in order",
    ),
    pytest.param(
        "FREQ=DAILY;BYHOUR=9;BYMINUTE=0;BYSECOND=0 RRULE:FREQ=DAILY;BYHOUR=9,17;BYMINUTE=0;"
        "BYSECOND=0",
        "UTC",
        "2026-03-01T10:00:00+00:00",
        ["2026-03-01T17:00:00+00:00", "2026-03-02T09:00:00+00:00", "2026-03-02T17:00:00+00:00"],
        id="two rules merge, a time both make runs once",
    ),
    pytest.param(
        "DTSTART;TZID=Europe/London:20260328T013000 RRULE:FREQ=DAILY;COUNT=3 "
        "EXDATE;TZID=Europe/London:20260329T013000",
        "Europe/London",
        "2026-03-27T00:00:00+00:00",
        ["2026-03-28T01:30:00+00:00", "2026-03-30T01:30:00+01:00"],
        id="exdate of a wall time the DST gap skips still matches it",
    ),
]


@pytest.mark.parametrize(("rule", "zone", "after", "expected"), SETS)
def test_rrule_set_next_runs(rule: str, zone: str, after: str, expected: list[str]) -> None:
    got = runs(RRule(rule, timezone=zone), after, 10)

    if "COUNT" in rule or "FREQ" not in rule:  # a finite set: nothing after the last
        assert got == expected
    else:
        assert got[: len(expected)] == expected


def test_rrule_error_quotes_only_the_start_of_a_long_rule() -> None:
    rule = "FREQ=DAILY RDATE:" + ",".join(["20260301T090000"] * 1001)

    with pytest.raises(ValueError) as caught:
        RRule(rule)

    assert len(str(caught.value)) < 400
    assert "more)" in str(caught.value)
