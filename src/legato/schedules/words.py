"""Schedules in words, as a person reads them: "At 09:00, Monday through Friday
(Europe/London)", "every 2 hours", "weekly on Mon, Wed at 09:00".

Cron expressions are described by cron-descriptor; intervals and common RRULEs here.
An RRULE this cannot say simply is shown as written (its next times say the rest).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from legato.errors import ScheduleError
from legato.schedules.base import DEFAULT_ANCHOR
from legato.schedules.cron import ALIASES, Cron
from legato.schedules.interval import Interval
from legato.schedules.stored import Schedule, schedule_from_dict

_UNITS = (
    ("week", timedelta(weeks=1)),
    ("day", timedelta(days=1)),
    ("hour", timedelta(hours=1)),
    ("minute", timedelta(minutes=1)),
    ("second", timedelta(seconds=1)),
)

_DAYS = {"MO": "Mon", "TU": "Tue", "WE": "Wed", "TH": "Thu", "FR": "Fri", "SA": "Sat", "SU": "Sun"}
_FREQ = {
    "YEARLY": ("yearly", "years"),
    "MONTHLY": ("monthly", "months"),
    "WEEKLY": ("weekly", "weeks"),
    "DAILY": ("daily", "days"),
    "HOURLY": ("hourly", "hours"),
    "MINUTELY": ("every minute", "minutes"),
    "SECONDLY": ("every second", "seconds"),
}


def describe(schedule: Schedule) -> str:
    """The schedule in words, with its time zone."""
    if isinstance(schedule, Cron):
        text = _cron_words(schedule.expr)
    elif isinstance(schedule, Interval):
        text = _interval_words(schedule)
    else:
        text = _rrule_words(schedule.rule)
    return f"{text[:1].upper()}{text[1:]} ({schedule.timezone})"


def next_times(schedule: Schedule, now: datetime, count: int = 3) -> list[str]:
    """The next ``count`` run times after ``now``, each in the schedule's zone and UTC:
    ``2026-12-02 09:00 GMT (09:00 UTC)``."""
    lines = []
    for moment in schedule.next_runs(now, count):
        utc = moment.astimezone(UTC)
        local = moment.strftime("%Y-%m-%d %H:%M %Z")
        same_day = utc.date() == moment.date()
        shown_utc = utc.strftime("%H:%M UTC" if same_day else "%Y-%m-%d %H:%M UTC")
        lines.append(local if schedule.timezone == "UTC" else f"{local} ({shown_utc})")
    return lines


def upcoming(schedules: Iterable[Schedule], now: datetime, count: int = 3) -> list[str]:
    """The next ``count`` run times over several schedules, soonest first (as
    :func:`next_times` shows them)."""
    found: list[tuple[datetime, str]] = []
    for schedule in schedules:
        moments = schedule.next_runs(now, count)
        found.extend(zip(moments, next_times(schedule, now, count), strict=True))
    found.sort(key=lambda pair: pair[0])
    return [text for _, text in found[:count]]


def stored_schedules(stored: Iterable[dict[str, Any]]) -> list[Schedule]:
    """The schedules of stored dicts that can say their next times (one stored before
    legato refused its kind is left out)."""
    usable: list[Schedule] = []
    for item in stored:
        try:
            usable.append(schedule_from_dict(item))
        except (ScheduleError, ValueError, TypeError, KeyError, OverflowError):
            continue
    return usable


def _cron_words(expr: str) -> str:
    from cron_descriptor import Options, get_description

    options = Options()
    options.use_24hour_time_format = True
    try:
        return str(get_description(ALIASES.get(expr.lower(), expr), options))
    except Exception:  # a valid cron the describer does not know: say it as written
        return f"cron {expr!r}"


def _interval_words(schedule: Interval) -> str:
    every = schedule.every
    for unit, size in _UNITS:
        if every >= size and every % size == timedelta(0):
            count = every // size
            text = f"every {unit}" if count == 1 else f"every {count} {unit}s"
            break
    else:
        text = f"every {every.total_seconds():g} seconds"
    anchor = schedule.anchor
    if anchor.replace(tzinfo=None) != DEFAULT_ANCHOR:
        text += f" from {anchor.strftime('%Y-%m-%d %H:%M:%S')}"
    return text


def _rrule_words(rule: str) -> str:
    """Words for one plain RRULE (FREQ, INTERVAL, BYDAY, BYHOUR, BYMINUTE, COUNT/UNTIL);
    anything else is shown as written."""
    lines = rule.split()
    bodies = [
        line.split(":", 1)[1] if ":" in line else line
        for line in lines
        if line.upper().startswith("RRULE:") or ":" not in line
    ]
    extras = [line for line in lines if _line_name(line) in ("RDATE", "EXDATE")]
    if len(bodies) != 1:
        return f"RRULE {rule!r}"
    parts = dict(item.partition("=")[::2] for item in bodies[0].upper().split(";"))
    known = {"FREQ", "INTERVAL", "BYDAY", "BYHOUR", "BYMINUTE", "BYSECOND", "COUNT", "UNTIL"}
    freq = parts.get("FREQ", "")
    if freq not in _FREQ or set(parts) - known:
        return f"RRULE {rule!r}"
    single, plural = _FREQ[freq]
    interval = int(parts.get("INTERVAL", "1") or "1")
    text = single if interval == 1 else f"every {interval} {plural}"
    if "BYDAY" in parts:
        days = parts["BYDAY"].split(",")
        if any(day not in _DAYS for day in days):  # 1MO, -1FR: said as written
            return f"RRULE {rule!r}"
        text += " on " + ", ".join(_DAYS[day] for day in days)
    if not all(v.isdigit() for k in ("BYHOUR", "BYMINUTE") for v in parts.get(k, "0").split(",")):
        return f"RRULE {rule!r}"
    if "BYHOUR" in parts:
        minutes = parts.get("BYMINUTE", "0").split(",")
        hours = parts["BYHOUR"].split(",")
        text += " at " + ", ".join(f"{int(h):02d}:{int(m):02d}" for h in hours for m in minutes)
    elif "BYMINUTE" in parts:
        text += " at minute " + ", ".join(parts["BYMINUTE"].split(","))
    if "COUNT" in parts:
        text += f", {parts['COUNT']} times"
    if "UNTIL" in parts:
        text += f", until {parts['UNTIL']}"
    if extras:
        text += f", with {len(extras)} RDATE/EXDATE line(s)"
    return text


def _line_name(line: str) -> str:
    return line.split(":", 1)[0].split(";", 1)[0].upper()
