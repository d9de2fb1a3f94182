"""Any schedule to and from the plain dict a store keeps (``to_dict`` output, with ``kind``)."""

from __future__ import annotations

from typing import Any

from legato.errors import ScheduleError
from legato.schedules.cron import Cron
from legato.schedules.interval import Interval
from legato.schedules.rrule import RRule

Schedule = Cron | Interval | RRule

KINDS: dict[str, type[Cron] | type[Interval] | type[RRule]] = {
    kind.kind: kind for kind in (Cron, Interval, RRule)
}


def schedule_from_dict(data: dict[str, Any]) -> Schedule:
    """Rebuild a schedule from ``to_dict`` output; ``ScheduleError`` if it does not fit."""
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in KINDS:
        raise ScheduleError(
            f"stored schedule {data!r} has no known kind; expected one of {', '.join(KINDS)}"
        )
    return KINDS[kind].from_dict(data)
