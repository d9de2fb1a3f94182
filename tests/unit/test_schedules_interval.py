"""Interval schedules: anchor + k * every in elapsed time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from legato.schedules import Interval


def runs(schedule: Interval, after: str, count: int = 3) -> list[str]:
    return [run.isoformat() for run in schedule.next_runs(datetime.fromisoformat(after), count)]


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        # default anchor 2020-01-01 00:00 UTC: on the hour
        (
            Interval(3600),
            "2026-01-01T10:07:00+00:00",
            ["2026-01-01T11:00:00+00:00", "2026-01-01T12:00:00+00:00", "2026-01-01T13:00:00+00:00"],
        ),
        # a slot exactly at ``after`` is not "after"
        (
            Interval(timedelta(minutes=30)),
            "2026-01-01T10:30:00+00:00",
            ["2026-01-01T11:00:00+00:00", "2026-01-01T11:30:00+00:00", "2026-01-01T12:00:00+00:00"],
        ),
        # naive anchor: a wall time in the zone
        (
            Interval(900, anchor=datetime(2026, 1, 1, 9, 5), timezone="Europe/London"),
            "2026-06-01T12:00:00+01:00",
            ["2026-06-01T12:05:00+01:00", "2026-06-01T12:20:00+01:00", "2026-06-01T12:35:00+01:00"],
        ),
        # aware anchor in another zone: the same instant, shown in the schedule's zone
        (
            Interval(7200, anchor=datetime(2026, 1, 1, 1, 0, tzinfo=UTC), timezone="Asia/Tokyo"),
            "2026-01-01T00:00:00+00:00",
            ["2026-01-01T10:00:00+09:00", "2026-01-01T12:00:00+09:00", "2026-01-01T14:00:00+09:00"],
        ),
        # the anchor is the first slot: nothing before it
        (
            Interval(60, anchor=datetime(2030, 5, 1, 12, 0, tzinfo=UTC)),
            "2026-01-01T00:00:00+00:00",
            ["2030-05-01T12:00:00+00:00", "2030-05-01T12:01:00+00:00", "2030-05-01T12:02:00+00:00"],
        ),
        # fractional seconds
        (
            Interval(0.25),
            "2026-01-01T00:00:00.100000+00:00",
            [
                "2026-01-01T00:00:00.250000+00:00",
                "2026-01-01T00:00:00.500000+00:00",
                "2026-01-01T00:00:00.750000+00:00",
            ],
        ),
        # every 24 hours keeps elapsed time across spring forward: the wall time moves
        (
            Interval(86400, timezone="America/New_York"),
            "2026-03-07T12:00:00-05:00",
            ["2026-03-08T00:00:00-05:00", "2026-03-09T01:00:00-04:00", "2026-03-10T01:00:00-04:00"],
        ),
        # 09:00 BST until London falls back on 10-25, then 08:00 GMT
        (
            Interval(
                timedelta(hours=24), anchor=datetime(2026, 10, 1, 9, 0), timezone="Europe/London"
            ),
            "2026-10-24T12:00:00+01:00",
            ["2026-10-25T08:00:00+00:00", "2026-10-26T08:00:00+00:00", "2026-10-27T08:00:00+00:00"],
        ),
        # every hour on the fall-back night in New York: 01:00 twice
        (
            Interval(3600, timezone="America/New_York"),
            "2026-11-01T00:30:00-04:00",
            ["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00"],
        ),
    ],
)
def test_interval_next_runs(schedule: Interval, after: str, expected: list[str]) -> None:
    assert runs(schedule, after) == expected


def test_interval_normalizes_every_and_anchor() -> None:
    schedule = Interval(90, anchor=datetime(2026, 3, 1, 9, 0), timezone="Europe/London")

    assert schedule.every == timedelta(seconds=90)
    assert schedule.anchor.isoformat() == "2026-03-01T09:00:00+00:00"
    assert schedule.anchor.tzinfo == ZoneInfo("Europe/London")


def test_interval_naive_anchor_in_a_spring_forward_gap_is_the_end_of_the_gap() -> None:
    schedule = Interval(3600, anchor=datetime(2026, 3, 8, 2, 30), timezone="America/New_York")

    assert schedule.anchor.isoformat() == "2026-03-08T03:00:00-04:00"


def test_interval_count_zero_is_an_empty_list() -> None:
    assert Interval(60).next_runs(datetime(2026, 1, 1, tzinfo=UTC), 0) == []
