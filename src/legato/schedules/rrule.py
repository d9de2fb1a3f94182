"""RRULE schedules: RFC 5545 recurrence rules, expanded by python-dateutil.

A rule is an optional ``DTSTART`` line and one or more ``RRULE`` lines (the ``RRULE:`` prefix
may be left out), separated by newlines or spaces, with optional ``RDATE`` lines (extra
times) and ``EXDATE`` lines (times skipped): an RFC 5545 recurrence set::

    DTSTART;TZID=Europe/London:20260301T090000
    RRULE:FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=9
    EXDATE;TZID=Europe/London:20260406T090000,20260525T090000
    RDATE;TZID=Europe/London:20260407T090000

Recurrences are wall-clock: dateutil expands them on naive wall times in the rule's zone
(the DTSTART's TZID, UTC for a ``Z`` DTSTART, else the schedule's ``timezone``), and only
then does each wall time become a real moment by legato's DST policy
(:func:`legato.schedules.base.localize`). So ``FREQ=DAILY;BYHOUR=9`` stays at 09:00 across
DST, and an ``FREQ=HOURLY`` rule runs once for the repeated hour of a fall-back night. A
rule without DTSTART counts from 2020-01-01 00:00 in the zone (its COUNT too). An RDATE or
EXDATE with its own TZID (or a ``Z``) is moved to the rule's zone; an EXDATE skips the
occurrence at exactly that time. EXRULE, which RFC 5545 dropped, is refused.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from heapq import merge
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from legato.errors import ScheduleError
from legato.schedules.base import (
    DEFAULT_ANCHOR,
    EARLIEST,
    LATEST,
    check_after,
    check_in_range,
    fields_of,
    instant,
    localize,
    out_of_range,
    zone_for,
)

HORIZON = timedelta(days=366 * 50)
"""How far past ``after`` a rule is searched: a rule that never matches (Feb 30) ends."""

# A whole-unit shift of DTSTART keeps these rules' series (their BY* defaults come from
# DTSTART's fields within the unit), so a minutely rule from 2020 need not walk every minute.
FIXED_UNITS = {
    "WEEKLY": timedelta(weeks=1),
    "DAILY": timedelta(days=1),
    "HOURLY": timedelta(hours=1),
    "MINUTELY": timedelta(minutes=1),
    "SECONDLY": timedelta(seconds=1),
}

_DTSTART = re.compile(r"^DTSTART(?P<params>(;[^:;]+)*):(?P<value>.*)$", re.IGNORECASE)
_DATE_TIME = re.compile(r"^(?P<date>\d{8})(T(?P<time>\d{6})(?P<utc>Z)?)?$", re.IGNORECASE)
_EXAMPLE = "e.g. 'DTSTART;TZID=Europe/London:20260301T090000 RRULE:FREQ=DAILY;BYHOUR=9'"


@dataclass(frozen=True)
class RRule:
    """Runs at each occurrence of the RFC 5545 ``rule``; times are shown in ``timezone``."""

    rule: str
    timezone: str = "UTC"

    kind: ClassVar[str] = "rrule"

    def __post_init__(self) -> None:
        if not isinstance(self.rule, str):
            raise ScheduleError(f"RRULE must be text, not {type(self.rule).__name__}")
        object.__setattr__(self, "rule", self.rule.strip())
        zone_for(self.timezone)
        self._parse()

    @property
    def zone(self) -> ZoneInfo:
        return zone_for(self.timezone)

    def next_runs(self, after: datetime, count: int) -> list[datetime]:
        """The next ``count`` occurrences strictly after ``after``, aware in the schedule's zone.

        Fewer when the rule ends (COUNT, UNTIL) or has no occurrence within 50 years.
        """
        check_after(after, count)
        if instant(after) >= LATEST:
            return []
        parsed = self._parse()
        after_wall = after.astimezone(parsed.zone).replace(tzinfo=None)
        runs: list[datetime] = []
        last = instant(after)
        shown_in = self.zone
        # Wall times after after's wall time; a few in a repeated hour may still be earlier
        # than ``after`` itself, and two in a skipped hour may share one real moment.
        walls = parsed.walls_after(after_wall)
        while len(runs) < count:
            try:
                moment = localize(next(walls), parsed.zone)
            except (StopIteration, OverflowError, ValueError):  # the series ends by year 10000
                break
            if instant(moment) >= LATEST:
                break
            if instant(moment) > last:
                runs.append(moment.astimezone(shown_in))
                last = instant(moment)
        return runs

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "rule": self.rule, "timezone": self.timezone}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RRule:
        return cls(**fields_of(data, cls.kind, required=("rule",), optional=("timezone",)))

    def _parse(self) -> _Parsed:
        zone = self.zone
        start: datetime | None = None
        bodies: list[str] = []
        dated: dict[str, list[str]] = {"RDATE": [], "EXDATE": []}
        for line in self.rule.split():
            upper = line.upper()
            name = re.split("[;:]", upper, maxsplit=1)[0]
            if name == "DTSTART":
                if start is not None:
                    raise ScheduleError(f"RRULE {_shown(self.rule)} has more than one DTSTART")
                start, zone = _parse_dtstart(line, zone)
            elif name in dated:
                dated[name].append(line)
            elif upper.startswith("RRULE:") or ":" not in line:
                bodies.append(line.split(":", 1)[1] if upper.startswith("RRULE:") else line)
            elif name == "EXRULE":
                raise ScheduleError(
                    f"RRULE {_shown(self.rule)}: EXRULE was dropped from RFC 5545 and is not "
                    "supported; list the times to skip with EXDATE"
                )
            else:
                raise ScheduleError(
                    f"RRULE {_shown(self.rule)}: {line.split(':', 1)[0]!r} is not supported; write "
                    f"an optional DTSTART, RRULE lines and optional RDATE/EXDATE lines, "
                    f"{_EXAMPLE}"
                )
        if not bodies and not dated["RDATE"]:
            raise ScheduleError(f"RRULE {_shown(self.rule)} has no rule; {_EXAMPLE}")
        if start is None:
            start = DEFAULT_ANCHOR
        else:
            what = f"RRULE {_shown(self.rule)}: DTSTART"
            try:
                first = localize(start, zone)
            except OverflowError:
                raise out_of_range(what, start) from None
            check_in_range(first, what)
        rules = tuple(_Rule.build(self.rule, body, start, zone) for body in bodies)
        dates = _parse_dates(self.rule, dated["RDATE"], zone)
        skipped = _parse_dates(self.rule, dated["EXDATE"], zone)
        return _Parsed(zone, rules, tuple(sorted(set(dates))), frozenset(skipped))


@dataclass(frozen=True)
class _Parsed:
    """A recurrence set ready to expand: naive wall times in ``zone``."""

    zone: ZoneInfo
    rules: tuple[_Rule, ...]
    dates: tuple[datetime, ...]
    skipped: frozenset[datetime]

    def walls_after(self, after_wall: datetime) -> Iterator[datetime]:
        """The set's wall times after ``after_wall``, in order, each once, EXDATEs left out."""
        streams: list[Iterable[datetime]] = [
            rule.series_near(after_wall).xafter(after_wall, inc=False) for rule in self.rules
        ]
        streams.append(self.dates[bisect_right(self.dates, after_wall) :])
        last: datetime | None = None
        for wall in merge(*streams):
            if wall != last and wall not in self.skipped:
                yield wall
            last = wall


@dataclass(frozen=True)
class _Rule:
    """One RRULE ready to expand: naive wall times in ``zone``."""

    zone: ZoneInfo
    series: rrule
    start: datetime
    unit: timedelta | None
    until: datetime | None
    counted: bool

    @classmethod
    def build(cls, text: str, body: str, start: datetime, zone: ZoneInfo) -> _Rule:
        parts: dict[str, str] = {}
        for item in body.split(";"):
            key, eq, value = item.partition("=")
            if not eq or not key or not value:
                raise ScheduleError(f"RRULE {_shown(text)}: {item!r} is not NAME=VALUE; {_EXAMPLE}")
            if key.upper() in parts:
                raise ScheduleError(f"RRULE {_shown(text)}: {key.upper()} is given twice")
            parts[key.upper()] = value
        if "FREQ" not in parts:
            raise ScheduleError(
                f"RRULE {_shown(text)} has no FREQ; start it with FREQ=YEARLY, MONTHLY, WEEKLY, "
                "DAILY, HOURLY, MINUTELY or SECONDLY"
            )
        interval = parts.get("INTERVAL", "1")
        if not (interval.isdigit() and int(interval) > 0):
            raise ScheduleError(
                f"RRULE {_shown(text)}: INTERVAL={interval} must be a whole number above 0"
            )
        if "COUNT" in parts and "UNTIL" in parts:
            raise ScheduleError(f"RRULE {_shown(text)} has both COUNT and UNTIL; keep one")
        _check_time_parts(text, parts)
        until = _parse_until(text, parts.pop("UNTIL"), zone) if "UNTIL" in parts else None
        line = ";".join(f"{key}={value}" for key, value in parts.items())
        try:
            series = rrulestr(line, dtstart=start, cache=False)
        except (ValueError, TypeError) as exc:
            raise ScheduleError(f"RRULE {_shown(text)} is not valid: {exc}") from None
        if not isinstance(series, rrule):  # pragma: no cover - one line is always one rule
            raise ScheduleError(f"RRULE {_shown(text)} is not a single rule")
        unit = FIXED_UNITS.get(parts["FREQ"].upper())
        counted = "COUNT" in parts
        return cls(
            zone, series, start, None if unit is None else unit * int(interval), until, counted
        )

    def series_near(self, after_wall: datetime) -> rrule:
        """The same series, started late enough to be quick and bounded to end."""
        changes: dict[str, Any] = {}
        if self.unit is not None and not self.counted:
            skipped = (after_wall - self.start) // self.unit - 1
            if skipped > 0:
                changes["dtstart"] = self.start + skipped * self.unit
        if not self.counted:
            horizon = min(after_wall, datetime.max - HORIZON) + HORIZON
            changes["until"] = horizon if self.until is None else min(self.until, horizon)
        return self.series.replace(**changes) if changes else self.series


def _shown(text: str) -> str:
    """The rule as quoted in an error: whole when short, its start when long."""
    return repr(text) if len(text) <= 120 else repr(text[:100]) + f" (+{len(text) - 100} more)"


MAX_DATES = 1000
"""RDATE plus EXDATE times a schedule may list: a longer list belongs in a rule."""


def _parse_dates(text: str, lines: list[str], zone: ZoneInfo) -> list[datetime]:
    """The times of RDATE or EXDATE ``lines`` as naive wall times in the rule's ``zone``."""
    walls: list[datetime] = []
    for line in lines:
        head, colon, values = line.partition(":")
        name, *params = head.split(";")
        own = zone
        for param in params:
            key, _, value = param.partition("=")
            if key.upper() == "TZID":
                own = zone_for(value)
            elif param.upper() == "VALUE=PERIOD":
                raise ScheduleError(
                    f"RRULE {_shown(text)}: {name} periods are not supported; list start times"
                )
            elif param.upper() not in ("VALUE=DATE", "VALUE=DATE-TIME"):
                raise ScheduleError(
                    f"RRULE {_shown(text)}: {name} parameter {param!r} is not supported"
                )
        if not colon or not values:
            raise ScheduleError(
                f"RRULE {_shown(text)}: {line!r} lists no time; write e.g. "
                f"'{name}:20260301T090000,20260302T090000'"
            )
        for value in values.split(","):
            wall, utc = _parse_date_time(name, value)
            if utc and any(param.upper().startswith("TZID=") for param in params):
                raise ScheduleError(
                    f"RRULE {_shown(text)}: {line!r} has both a TZID and a Z; keep one"
                )
            walls.append(_to_zone(text, name, wall, ZoneInfo("UTC") if utc else own, zone))
    if len(walls) > MAX_DATES:
        raise ScheduleError(
            f"RRULE {_shown(text)} lists {len(walls)} RDATE/EXDATE times; at most {MAX_DATES} are "
            "accepted (describe a longer series with an RRULE)"
        )
    return walls


def _to_zone(text: str, name: str, wall: datetime, own: ZoneInfo, zone: ZoneInfo) -> datetime:
    """``wall`` in zone ``own`` as a wall time in ``zone`` (kept as written when they agree,
    so an EXDATE in the rule's own zone matches the wall time the rule makes)."""
    what = f"RRULE {_shown(text)}: {name}"
    try:
        moment = localize(wall, own)
    except OverflowError:
        raise out_of_range(what, wall) from None
    check_in_range(moment, what)
    if own.key == zone.key:
        return wall
    return moment.astimezone(zone).replace(tzinfo=None)


def _parse_dtstart(line: str, zone: ZoneInfo) -> tuple[datetime, ZoneInfo]:
    """The naive wall time and the zone the rule recurs in."""
    match = _DTSTART.match(line)
    if match is None:
        raise ScheduleError(f"DTSTART {line!r} is not valid; {_EXAMPLE}")
    for param in filter(None, match["params"].split(";")):
        name, _, value = param.partition("=")
        if name.upper() == "TZID":
            zone = zone_for(value)
        elif param.upper() not in ("VALUE=DATE", "VALUE=DATE-TIME"):
            raise ScheduleError(f"DTSTART {line!r}: parameter {param!r} is not supported")
    wall, utc = _parse_date_time(line, match["value"])
    if utc:
        if "TZID=" in match["params"].upper():
            raise ScheduleError(f"DTSTART {line!r} has both a TZID and a Z (UTC); keep one")
        zone = ZoneInfo("UTC")
    return wall, zone


_TIME_PARTS = {"BYHOUR": 23, "BYMINUTE": 59, "BYSECOND": 59}
"""The largest value of each time part: dateutil takes BYHOUR=24 (or BYSECOND=60) and
then fails with a TypeError at the first time it computes."""


def _check_time_parts(text: str, parts: dict[str, str]) -> None:
    """Refuse what dateutil accepts but cannot expand: time parts out of their range, and
    BYEASTER (not RFC 5545; offsets past the year's end raise IndexError)."""
    if "BYEASTER" in parts:
        raise ScheduleError(
            f"RRULE {_shown(text)}: BYEASTER is not part of RFC 5545 and is not supported"
        )
    for name, top in _TIME_PARTS.items():
        for value in parts.get(name, "").split(","):
            digits = value.strip().removeprefix("+")
            if digits.isdigit() and int(digits) > top:
                raise ScheduleError(
                    f"RRULE {_shown(text)}: {name}={digits} is out of range; use 0 to {top}"
                )


def _parse_until(text: str, value: str, zone: ZoneInfo) -> datetime:
    wall, utc = _parse_date_time(f"UNTIL={value}", value)
    if not utc:
        return wall
    # An UNTIL past LATEST ends nothing that could run: held there, it fits every zone
    # (and one before EARLIEST, held there, still ends the rule before any slot).
    held = max(min(wall.replace(tzinfo=UTC), LATEST), EARLIEST)
    return held.astimezone(zone).replace(tzinfo=None)


def _parse_date_time(where: str, value: str) -> tuple[datetime, bool]:
    match = _DATE_TIME.match(value)
    try:
        if match is None:
            raise ValueError(value)
        day = date(int(value[:4]), int(value[4:6]), int(value[6:8]))
        clock = match["time"] or "000000"
        wall = datetime(
            day.year, day.month, day.day, int(clock[:2]), int(clock[2:4]), int(clock[4:6])
        )
    except ValueError:
        raise ScheduleError(
            f"{where!r}: {value!r} is not a date-time such as 20260301T090000 "
            "(local), 20260301T090000Z (UTC) or 20260301"
        ) from None
    return wall, bool(match["utc"])
