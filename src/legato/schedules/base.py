"""What every schedule kind shares: its time zone, the ``after`` check, how a wall time
that a DST change skips or repeats becomes one real moment, and the stored-dict check.

Comparisons go through :func:`instant` because Python compares two datetimes that share a
``tzinfo`` by their wall fields alone, ignoring ``fold``: 01:30 EDT and 01:30 EST on a
fall-back night would compare equal.
"""

from __future__ import annotations

import difflib
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from legato.errors import ScheduleError

DEFAULT_ANCHOR = datetime(2020, 1, 1)
"""Wall time, in the schedule's zone, that Interval and RRule count from when not told."""

LATEST = datetime(9999, 1, 1, tzinfo=UTC)
"""Schedules end here: no slot at or after it is ever planned, and an anchor or DTSTART at
or after it is refused. A year short of what ``datetime`` can hold, so any slot before it
can be shown in any zone and stepped from without overflowing."""

EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
"""An anchor or DTSTART before it is refused (a day into year 1, for the same reason)."""

EXAMPLE_ZONE = "Europe/London"
HOST_DEPENDENT_ZONES = frozenset({"localtime", "posixrules"})
"""Files of the zone database that stand for the host's own setting, not a place."""


def zone_for(name: str) -> ZoneInfo:
    """The IANA zone called ``name``; ``ScheduleError`` naming a close match when unknown."""
    if not isinstance(name, str) or not name.strip():
        raise ScheduleError(f"time zone {name!r} is empty; use an IANA name such as {EXAMPLE_ZONE}")
    if name.strip().lower() in HOST_DEPENDENT_ZONES:
        raise ScheduleError(
            f"time zone {name!r} means each machine's own zone, so two servers could place "
            f"the same slot at different times; name the zone, e.g. {EXAMPLE_ZONE}"
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    close = difflib.get_close_matches(name, sorted(available_timezones()), n=1)
    raise ScheduleError(
        f"unknown time zone {name!r}; use an IANA name such as {close[0] if close else EXAMPLE_ZONE}"
    )


def check_after(after: datetime, count: int) -> None:
    """A naive ``after`` would silently mean the machine's zone: refuse it."""
    if not isinstance(after, datetime):
        raise TypeError(f"after must be a datetime, not {type(after).__name__}")
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError(
            f"after={after.isoformat()} has no time zone; pass an aware datetime, "
            "e.g. datetime.now(timezone.utc)"
        )
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"count must be a whole number >= 0, not {count!r}")


def instant(value: datetime) -> datetime:
    """The same moment in UTC: the only safe way to compare or deduplicate run times."""
    return value.astimezone(UTC)


def localize(wall: datetime, zone: ZoneInfo) -> datetime:
    """Naive wall time in ``zone`` -> aware, by legato's DST policy.

    A wall time that happens twice (fall back) means its first occurrence; one that does
    not happen (spring forward) means the first real moment after it, the end of the gap
    (02:30 on a New York spring-forward day is 03:00 EDT).
    """
    aware = wall.replace(tzinfo=zone, fold=0)
    if not _skipped(aware):
        return aware
    # Step to the next whole minute until the wall time is real; gaps are whole minutes and
    # at most a few hours (a skipped calendar day at worst), so this ends quickly.
    step = wall.replace(second=0, microsecond=0)
    while True:
        step += timedelta(minutes=1)
        aware = step.replace(tzinfo=zone, fold=0)
        if not _skipped(aware):
            return aware


def _skipped(aware: datetime) -> bool:
    tz = aware.tzinfo
    return aware.replace(tzinfo=None) != instant(aware).astimezone(tz).replace(tzinfo=None)


def parse_anchor(value: datetime | str | None, zone: ZoneInfo, what: str = "anchor") -> datetime:
    """An aware anchor in ``zone``: naive values are wall times there, ``None`` the default.

    ``ScheduleError`` for one outside [EARLIEST, LATEST): a schedule anchored at
    9999-12-31 could never make a run, only overflow on every pass of the scheduler.
    """
    if value is None:
        value = DEFAULT_ANCHOR
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ScheduleError(
                f"{what} {value!r} is not an ISO date-time such as 2026-03-01T09:00:00"
            ) from None
    if not isinstance(value, datetime):
        raise ScheduleError(f"{what} must be a datetime, not {type(value).__name__}")
    try:
        aware = localize(value, zone) if value.tzinfo is None else value.astimezone(zone)
    except OverflowError:
        raise out_of_range(what, value) from None
    check_in_range(aware, what)
    return aware


def check_in_range(moment: datetime, what: str) -> None:
    """``ScheduleError`` naming ``what`` unless EARLIEST <= ``moment`` < LATEST."""
    try:
        inside = EARLIEST <= instant(moment) < LATEST
    except OverflowError:
        inside = False
    if not inside:
        raise out_of_range(what, moment)


def out_of_range(what: str, value: datetime) -> ScheduleError:
    return ScheduleError(
        f"{what} {value.isoformat()} is out of range: schedules run between "
        f"{EARLIEST.date().isoformat()} and {LATEST.date().isoformat()} (UTC); "
        "pick a time in between, such as 2026-03-01T09:00:00"
    )


def fields_of(
    data: dict[str, Any], kind: str, required: tuple[str, ...], optional: tuple[str, ...]
) -> dict[str, Any]:
    """The constructor arguments stored in ``data`` (a ``to_dict`` result) for ``kind``."""
    if not isinstance(data, dict):
        raise ScheduleError(f"a stored schedule is a dict, not {type(data).__name__}")
    if data.get("kind", kind) != kind:
        raise ScheduleError(f"stored schedule is a {data.get('kind')!r} schedule, not {kind!r}")
    missing = [name for name in required if name not in data]
    unknown = sorted(set(data) - {"kind", *required, *optional})
    if missing or unknown:
        raise ScheduleError(
            f"stored {kind} schedule {data!r} does not fit: "
            + "; ".join(
                part
                for part in (
                    f"missing {', '.join(missing)}" if missing else "",
                    f"unknown {', '.join(unknown)}" if unknown else "",
                )
                if part
            )
        )
    return {name: data[name] for name in (*required, *optional) if name in data}
