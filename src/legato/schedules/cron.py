"""Cron schedules: five fields (minute hour day-of-month month day-of-week) in a time zone.

The matching is cronsim's, not croniter's. cronsim documents its DST behaviour (it follows
Debian cron, and tests it in its ``TestDstTransitions``): a job at a fixed time whose wall
time is skipped runs at the first real moment after it, one whose wall time repeats runs
once, and jobs with ``*`` in the minute or hour field run for each real minute or hour.
croniter's tracker has a long run of DST reports (next times an hour off after a change,
extra runs on fall-back days: taichino/croniter#48, #147, pallets-eco/croniter#25), fixed
and reopened over the years. cronsim also has no global state and ships type hints.

The ``@`` aliases and the 5-field limit are legato's: cronsim accepts a seconds field,
which Debian cron does not, so it is refused here to keep one meaning for each expression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

from legato.errors import ScheduleError
from legato.schedules.base import LATEST, check_after, fields_of, instant, zone_for

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

# name, lowest, highest, names allowed in place of numbers (their index + offset)
FIELDS: tuple[tuple[str, int, int, list[str], int], ...] = (
    ("minute", 0, 59, [], 0),
    ("hour", 0, 23, [], 0),
    ("day-of-month", 1, 31, [], 0),
    ("month", 1, 12, MONTHS, 1),
    ("day-of-week", 0, 7, DAYS, 0),
)

_DOW_EXTRA = re.compile(r"^(?P<day>\w+)(#[1-5]|L)$")  # MON#2 (second Monday), 5L (last Friday)


@dataclass(frozen=True)
class Cron:
    """Runs whenever the wall clock in ``timezone`` matches ``expr``.

    ``day_or``: when both day fields are restricted (``0 9 13 * FRI``), run on days that
    match either (cron's rule, the default) or, with ``False``, only days that match both
    (Friday the 13th).
    """

    expr: str
    timezone: str = "UTC"
    day_or: bool = True

    kind: ClassVar[str] = "cron"

    def __post_init__(self) -> None:
        if not isinstance(self.expr, str):
            raise ScheduleError(f"cron expression must be text, not {type(self.expr).__name__}")
        object.__setattr__(self, "expr", " ".join(self.expr.split()))
        zone_for(self.timezone)
        _validate(self.expr)
        # Build once so anything cronsim refuses beyond our field checks fails here.
        self._sim(datetime(2020, 1, 1, tzinfo=self.zone))

    @property
    def zone(self) -> ZoneInfo:
        return zone_for(self.timezone)

    def next_runs(self, after: datetime, count: int) -> list[datetime]:
        """The next ``count`` run times strictly after ``after``, aware in the schedule's zone.

        Fewer when the expression stops matching (cronsim gives up after 50 years without
        a match, as for ``0 0 30 2 *``).
        """
        check_after(after, count)
        if instant(after) >= LATEST:
            return []
        zone = self.zone
        sim = self._sim(after.astimezone(zone))
        runs: list[datetime] = []
        last = instant(after)
        while len(runs) < count:
            try:
                moment = next(sim).astimezone(zone)
            except (StopIteration, OverflowError, ValueError):  # no match before year 10000
                break
            if instant(moment) >= LATEST:
                break
            # Two wall times in one spring-forward gap (0,30 2 * * *) land on the same
            # moment, and a wall time in the repeated hour can precede ``after``.
            if instant(moment) > last:
                runs.append(moment)
                last = instant(moment)
        return runs

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "expr": self.expr,
            "timezone": self.timezone,
            "day_or": self.day_or,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cron:
        values = fields_of(data, cls.kind, required=("expr",), optional=("timezone", "day_or"))
        return cls(**values)

    def _sim(self, start: datetime) -> CronSim:
        expr = _expand(self.expr)
        try:
            sim = CronSim(expr, start)
        except CronSimError as exc:
            raise ScheduleError(_message(self.expr, exc)) from None
        if not self.day_or:
            # cronsim decides AND/OR once from the text, as Debian cron does; day_and is the
            # attribute its day matching reads.
            sim.day_and = True
        return sim


def _expand(expr: str) -> str:
    return ALIASES.get(expr.lower(), expr)


def _validate(expr: str) -> None:
    """Check each field ourselves, so the message can name the field and the bad value."""
    if expr.startswith("@") and expr.lower() not in ALIASES:
        raise ScheduleError(
            f"cron expression {expr!r}: unknown alias; use one of {', '.join(ALIASES)}"
        )
    parts = _expand(expr).split()
    if len(parts) != 5:
        raise ScheduleError(
            f"cron expression {expr!r} has {len(parts)} fields; write five: "
            "minute hour day-of-month month day-of-week (e.g. '0 9 * * MON-FRI')"
        )
    for text, (name, low, high, names, offset) in zip(parts, FIELDS, strict=True):
        for term in text.split(","):
            _check_term(expr, name, text, term, low, high, names, offset)


def _check_term(
    expr: str, name: str, text: str, term: str, low: int, high: int, names: list[str], offset: int
) -> None:
    where = f"cron expression {expr!r}: {name} field {text!r}"
    base, slash, step = term.partition("/")
    if slash and not (step.isdigit() and int(step) > 0):
        raise ScheduleError(f"{where}: step {step!r} must be a whole number above 0")
    if base == "*" or (name == "day-of-month" and base.upper() in ("L", "LW")):
        return
    if name == "day-of-week" and (extra := _DOW_EXTRA.match(base.upper())):
        base = extra["day"]
    ends = base.split("-")
    if len(ends) > 2 or not all(ends):
        raise ScheduleError(f"{where} is not valid; write a number, a range (1-5) or a list (1,15)")
    values = []
    for end in ends:
        if end.upper() in names:
            values.append(names.index(end.upper()) + offset)
        elif end.isdigit():
            values.append(int(end))
        else:
            hint = f" or a name ({names[0]}-{names[-1]})" if names else ""
            raise ScheduleError(f"{where}: {end!r} is not a number{hint}")
        if not low <= values[-1] <= high:
            raise ScheduleError(f"{where} is out of range {low}-{high}")
    if len(values) == 2 and values[0] > values[1]:
        raise ScheduleError(f"{where}: range {base!r} runs backwards; write it low-high")


def _message(expr: str, exc: CronSimError) -> str:
    detail = str(exc)
    if detail == "Bad day-of-month":  # every field passed _validate: the day never occurs
        _, _, day, month, _ = _expand(expr).split()
        return (
            f"cron expression {expr!r}: day-of-month field {day!r} never occurs in "
            f"month field {month!r}"
        )
    if detail.startswith("Bad "):
        return f"cron expression {expr!r}: the {detail[4:]} field is not valid"
    return f"cron expression {expr!r} is not valid: {detail}"
