"""Cron schedules: tables of expression + after -> next run times, DST days included."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from legato.schedules import Cron


def runs(schedule: Cron, after: str, count: int = 3) -> list[str]:
    return [run.isoformat() for run in schedule.next_runs(datetime.fromisoformat(after), count)]


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        (
            "*/15 * * * *",
            "2026-01-01T10:07:00",
            ["2026-01-01T10:15:00", "2026-01-01T10:30:00", "2026-01-01T10:45:00"],
        ),
        (
            "0 9 * * MON-FRI",
            "2026-01-02T09:00:00",
            ["2026-01-05T09:00:00", "2026-01-06T09:00:00", "2026-01-07T09:00:00"],
        ),
        (
            "0 0 1 JAN,jul *",
            "2026-01-01T00:00:00",
            ["2026-07-01T00:00:00", "2027-01-01T00:00:00", "2027-07-01T00:00:00"],
        ),
        (
            "@hourly",
            "2026-01-01T10:00:00",
            ["2026-01-01T11:00:00", "2026-01-01T12:00:00", "2026-01-01T13:00:00"],
        ),
        (
            "@daily",
            "2026-01-01T10:00:00",
            ["2026-01-02T00:00:00", "2026-01-03T00:00:00", "2026-01-04T00:00:00"],
        ),
        (
            "@midnight",
            "2026-01-01T10:00:00",
            ["2026-01-02T00:00:00", "2026-01-03T00:00:00", "2026-01-04T00:00:00"],
        ),
        (
            "@weekly",
            "2026-01-01T00:00:00",
            ["2026-01-04T00:00:00", "2026-01-11T00:00:00", "2026-01-18T00:00:00"],
        ),
        (
            "@monthly",
            "2026-01-01T00:00:00",
            ["2026-02-01T00:00:00", "2026-03-01T00:00:00", "2026-04-01T00:00:00"],
        ),
        (
            "@yearly",
            "2026-01-01T00:00:00",
            ["2027-01-01T00:00:00", "2028-01-01T00:00:00", "2029-01-01T00:00:00"],
        ),
        (
            "@annually",
            "2026-06-01T00:00:00",
            ["2027-01-01T00:00:00", "2028-01-01T00:00:00", "2029-01-01T00:00:00"],
        ),
        (
            "0 12 * * 7",
            "2026-01-01T00:00:00",
            ["2026-01-04T12:00:00", "2026-01-11T12:00:00", "2026-01-18T12:00:00"],
        ),
        # the 31st skips short months; Feb 29 waits for leap years
        (
            "0 0 31 * *",
            "2026-01-31T00:00:00",
            ["2026-03-31T00:00:00", "2026-05-31T00:00:00", "2026-07-31T00:00:00"],
        ),
        (
            "0 0 29 2 *",
            "2026-01-01T00:00:00",
            ["2028-02-29T00:00:00", "2032-02-29T00:00:00", "2036-02-29T00:00:00"],
        ),
        # both day fields restricted: either matches (cron's OR): Fridays and the 13th
        (
            "0 9 13 * FRI",
            "2026-01-01T00:00:00",
            ["2026-01-02T09:00:00", "2026-01-09T09:00:00", "2026-01-13T09:00:00"],
        ),
    ],
)
def test_cron_next_runs_in_utc(expr: str, after: str, expected: list[str]) -> None:
    assert runs(Cron(expr), after + "+00:00") == [value + "+00:00" for value in expected]


def test_cron_next_runs_are_strictly_after_a_matching_time() -> None:
    assert runs(Cron("0 9 * * *"), "2026-01-01T09:00:00+00:00", 1) == ["2026-01-02T09:00:00+00:00"]


def test_cron_day_or_false_needs_both_day_fields() -> None:
    got = runs(Cron("0 9 13 * FRI", day_or=False), "2026-01-01T00:00:00+00:00")

    assert got == [
        "2026-02-13T09:00:00+00:00",
        "2026-03-13T09:00:00+00:00",
        "2026-11-13T09:00:00+00:00",
    ]


def test_cron_runs_in_its_zone_whatever_the_zone_of_after() -> None:
    got = runs(Cron("0 9 * * *", timezone="Europe/London"), "2026-07-01T12:00:00-04:00", 2)

    assert got == ["2026-07-02T09:00:00+01:00", "2026-07-03T09:00:00+01:00"]


def test_cron_that_never_matches_returns_no_runs() -> None:
    # 31 April never happens; cronsim gives up after 50 years of looking.
    assert (
        Cron("0 0 31 4 MON", day_or=False).next_runs(
            datetime.fromisoformat("2026-01-01T00:00:00+00:00"), 3
        )
        == []
    )


# -- DST ------------------------------------------------------------------------------

NEW_YORK = "America/New_York"
LONDON = "Europe/London"


@pytest.mark.parametrize(
    ("expr", "zone", "after", "expected"),
    [
        # spring forward, New York 2026-03-08 02:00 EST -> 03:00 EDT: 02:30 runs at 03:00
        (
            "30 2 * * *",
            NEW_YORK,
            "2026-03-07T12:00:00-05:00",
            ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"],
        ),
        # two wall times in the gap still run once
        (
            "0,30 2 * * *",
            NEW_YORK,
            "2026-03-07T12:00:00-05:00",
            ["2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00"],
        ),
        # fall back, New York 2026-11-01 02:00 EDT -> 01:00 EST: 01:30 runs once, first time
        (
            "30 1 * * *",
            NEW_YORK,
            "2026-10-31T12:00:00-04:00",
            ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"],
        ),
        # 09:00 stays 09:00 across the change
        (
            "0 9 * * *",
            NEW_YORK,
            "2026-03-07T12:00:00-05:00",
            ["2026-03-08T09:00:00-04:00", "2026-03-09T09:00:00-04:00"],
        ),
        # hourly on the fall-back day: each real hour, so 01:00 twice
        (
            "0 * * * *",
            NEW_YORK,
            "2026-11-01T00:30:00-04:00",
            ["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00"],
        ),
        # hourly on the spring-forward day: the skipped 02:00 does not exist
        (
            "0 * * * *",
            NEW_YORK,
            "2026-03-08T00:30:00-05:00",
            ["2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"],
        ),
        # London 2026-03-29 01:00 GMT -> 02:00 BST: 01:30 runs at 02:00
        (
            "30 1 * * *",
            LONDON,
            "2026-03-28T12:00:00+00:00",
            ["2026-03-29T02:00:00+01:00", "2026-03-30T01:30:00+01:00"],
        ),
        # London 2026-10-25 02:00 BST -> 01:00 GMT: 01:30 runs once, in BST
        (
            "30 1 * * *",
            LONDON,
            "2026-10-24T12:00:00+01:00",
            ["2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00+00:00"],
        ),
        (
            "0 * * * *",
            LONDON,
            "2026-10-25T00:30:00+01:00",
            ["2026-10-25T01:00:00+01:00", "2026-10-25T01:00:00+00:00", "2026-10-25T02:00:00+00:00"],
        ),
    ],
)
def test_cron_on_dst_days(expr: str, zone: str, after: str, expected: list[str]) -> None:
    assert runs(Cron(expr, timezone=zone), after, len(expected)) == expected


def test_cron_after_inside_the_repeated_hour_skips_the_first_occurrence() -> None:
    # after is 01:40 EST, the second 01:40: today's 01:30 EDT is already past.
    after = datetime(2026, 11, 1, 1, 40, fold=1, tzinfo=ZoneInfo(NEW_YORK))

    got = [run.isoformat() for run in Cron("30 1 * * *", timezone=NEW_YORK).next_runs(after, 1)]

    assert got == ["2026-11-02T01:30:00-05:00"]


def test_cron_results_are_aware_in_the_schedule_zone() -> None:
    (run,) = Cron("0 9 * * *", timezone=NEW_YORK).next_runs(
        datetime.fromisoformat("2026-01-01T00:00:00+00:00"), 1
    )

    assert run.tzinfo == ZoneInfo(NEW_YORK)
