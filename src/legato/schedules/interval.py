"""Interval schedules: a fixed amount of elapsed time between runs.

Slots are ``anchor + k * every`` for k = 0, 1, 2, ... counted in real (UTC) time, so "every
24 hours" stays 24 hours apart across a DST change and its wall time moves by an hour; use
a Cron or RRule for "every day at 09:00". The anchor is the first slot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from legato.errors import ScheduleError
from legato.schedules.base import LATEST, check_after, fields_of, instant, parse_anchor, zone_for

MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Interval:
    """Runs every ``every`` (seconds or a timedelta) from ``anchor``.

    ``anchor`` may be aware, or naive meaning a wall time in ``timezone``; by default
    2020-01-01 00:00 there, so "every hour" runs on the hour. Both are normalized on
    construction: ``every`` to a timedelta, ``anchor`` to an aware datetime in the zone.
    """

    every: timedelta
    anchor: datetime
    timezone: str = "UTC"

    kind: ClassVar[str] = "interval"

    def __init__(
        self,
        every: float | timedelta,
        anchor: datetime | str | None = None,
        timezone: str = "UTC",
    ) -> None:
        zone = zone_for(timezone)
        object.__setattr__(self, "every", _as_timedelta(every))
        object.__setattr__(self, "anchor", parse_anchor(anchor, zone))
        object.__setattr__(self, "timezone", timezone)
        if LATEST - instant(self.anchor) <= self.every:
            raise ScheduleError(
                f"interval of {self.every.total_seconds():g} seconds from anchor "
                f"{self.anchor.isoformat()} has no second slot before {LATEST.date()}, the "
                "last time legato schedules; use a shorter interval or an earlier anchor"
            )

    @property
    def zone(self) -> ZoneInfo:
        return zone_for(self.timezone)

    def next_runs(self, after: datetime, count: int) -> list[datetime]:
        """The next ``count`` slots strictly after ``after``, aware in the schedule's zone.

        Fewer (none) past LATEST: a slot there could not be stored or shown.
        """
        check_after(after, count)
        start = instant(self.anchor)
        step = self.every // MICROSECOND
        if instant(after) >= LATEST:
            return []
        elapsed = (instant(after) - start) // MICROSECOND
        first = max(0, elapsed // step + 1)  # floor division: the slot at ``after`` is excluded
        last = (LATEST - start) // MICROSECOND // step  # slots up to LATEST (its own excluded)
        if (LATEST - start) // MICROSECOND % step == 0:
            last -= 1
        zone = self.zone
        return [
            (start + n * step * MICROSECOND).astimezone(zone)
            for n in range(first, min(first + count, last + 1))
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "every": self.every.total_seconds(),
            "anchor": self.anchor.isoformat(),
            "timezone": self.timezone,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Interval:
        return cls(
            **fields_of(data, cls.kind, required=("every",), optional=("anchor", "timezone"))
        )


def _as_timedelta(every: float | timedelta) -> timedelta:
    if isinstance(every, bool) or not isinstance(every, int | float | timedelta):
        raise ScheduleError(
            f"interval {every!r} is not a number of seconds or a timedelta; e.g. 3600 for hourly"
        )
    if isinstance(every, timedelta):
        value = every
    else:
        if not math.isfinite(every) or abs(every) > timedelta.max.total_seconds():
            raise ScheduleError(f"interval {every!r} seconds is not a finite length of time")
        try:
            value = timedelta(seconds=every)
        except OverflowError:  # within a rounding error of timedelta.max
            raise ScheduleError(
                f"interval {every!r} seconds is too long; e.g. 3600 for hourly"
            ) from None
    if value < MICROSECOND:
        raise ScheduleError(
            f"interval {every!r} must be above 0 (at least one microsecond); e.g. 3600 for hourly"
        )
    return value
