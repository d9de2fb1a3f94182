"""Which scheduled slots to make now: a pure decision over schedules, a clock reading and
what was made before.

The scheduler service asks this every tick for each active deployment and inserts what it
answers; nothing here reads a clock or a store, so every rule below is a table test.

- **Upcoming runs.** Every active schedule keeps its runs stored ahead of time: every slot
  within ``horizon`` of now, at least ``min_runs`` of them however far off (a monthly job
  still shows its next three), at most ``max_runs``.
- **Never twice, never before it existed.** Only slots after the schedule's last made slot
  are planned, and none before the schedule itself was stored (a new schedule does not
  reach into the past).
- **Missed slots** (due while nothing was scheduling: downtime, a paused server) follow the
  deployment's ``catchup`` flag. ``catchup=False`` (the default, as in Prefect) skips them
  all and carries on with the upcoming ones. ``catchup=True`` makes every one of them,
  oldest first, so each run knows the time of its slot; at most ``max_catchup`` per tick,
  and while some are left no upcoming slot is made (the next tick goes on from the last
  made one, so none is lost and none is skipped).
- **Identity.** A slot's idempotency key names the deployment, the schedule and the slot
  in UTC (:func:`slot_key`); the store's unique constraint on it is what keeps restarts,
  two schedulers and a backfill from ever making one slot twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from legato.errors import ScheduleError
from legato.schedules.base import EARLIEST
from legato.schedules.stored import Schedule

UNUSABLE_SCHEDULE = (ScheduleError, OverflowError, ValueError, TypeError, IndexError)
"""What a stored schedule may raise, built or asked its next times, when it cannot make
runs: TypeError and IndexError are what dateutil raises expanding rules it took but
cannot follow (BYHOUR=24, BYEASTER=300: refused when made now, maybe stored before)."""

DEFAULT_MAX_RUNS = 100
DEFAULT_MIN_RUNS = 3
DEFAULT_HORIZON = timedelta(days=7)
DEFAULT_MAX_CATCHUP = 10_000
MAX_BACKFILL = 10_000
"""The most slots one backfill may make; a longer range is refused (split it)."""

_CHUNK = 1_000


@dataclass(frozen=True)
class PlanLimits:
    """How far ahead and how much: the scheduler's settings, as one value."""

    max_runs: int = DEFAULT_MAX_RUNS
    min_runs: int = DEFAULT_MIN_RUNS
    horizon: timedelta = DEFAULT_HORIZON
    max_catchup: int = DEFAULT_MAX_CATCHUP


@dataclass(frozen=True)
class ScheduleState:
    """One active schedule of a deployment, as the planner needs it."""

    schedule_id: str
    schedule: Schedule
    created: datetime
    """When the schedule was stored: no slot before it is ever planned."""
    last_slot: datetime | None = None
    """The latest slot made for it so far (by the scheduler or a backfill)."""


@dataclass(frozen=True)
class Slot:
    schedule_id: str
    time: datetime
    """Aware, in UTC."""


@dataclass(frozen=True)
class Plan:
    slots: list[Slot] = field(default_factory=list)
    catching_up: list[str] = field(default_factory=list)
    """Schedules with more missed slots than ``max_catchup``: the rest come next tick."""
    broken: list[tuple[str, str]] = field(default_factory=list)
    """(schedule id, why) of schedules that could not say their next times: skipped, so
    that one bad schedule costs nothing but its own runs."""


def slot_key(deployment_id: str, schedule_id: str, slot: datetime) -> str:
    """The idempotency key of one slot; the scheduler and backfill agree on it."""
    return f"scheduled:{deployment_id}:{schedule_id}:{_utc(slot).isoformat()}"


def plan_slots(
    schedules: Sequence[ScheduleState],
    *,
    now: datetime,
    catchup: bool,
    limits: PlanLimits = PlanLimits(),
) -> Plan:
    """The slots of ``schedules`` to make at ``now``, oldest first within each schedule."""
    now = _utc(now)
    slots: list[Slot] = []
    catching_up: list[str] = []
    broken: list[tuple[str, str]] = []
    for state in schedules:
        try:
            made, behind = _plan_one(state, now, catchup, limits)
        except UNUSABLE_SCHEDULE as exc:
            broken.append((state.schedule_id, str(exc) or type(exc).__name__))
            continue
        slots.extend(made)
        if behind:
            catching_up.append(state.schedule_id)
    return Plan(slots, catching_up, broken)


def _plan_one(
    state: ScheduleState, now: datetime, catchup: bool, limits: PlanLimits
) -> tuple[list[Slot], bool]:
    """One schedule's slots, and whether it has missed slots left for the next tick."""
    since = _utc(state.created)
    if state.last_slot is not None:
        since = max(since, _utc(state.last_slot))
    slots: list[Slot] = []
    if catchup and since < now:
        missed = _missed(state.schedule, since, now, limits.max_catchup + 1)
        if len(missed) > limits.max_catchup:
            return [Slot(state.schedule_id, t) for t in missed[: limits.max_catchup]], True
        slots.extend(Slot(state.schedule_id, t) for t in missed)
    slots.extend(
        Slot(state.schedule_id, t) for t in _upcoming(state.schedule, now, limits) if t > since
    )
    return slots, False


def _missed(schedule: Schedule, since: datetime, now: datetime, most: int) -> list[datetime]:
    """Slots in (since, now], at most ``most`` of them."""
    found: list[datetime] = []
    after = since
    while len(found) < most:
        batch = [_utc(t) for t in schedule.next_runs(after, min(_CHUNK, most - len(found)))]
        if not batch:
            break
        for t in batch:
            if t > now:
                return found
            found.append(t)
        after = batch[-1]
    return found


def _upcoming(schedule: Schedule, now: datetime, limits: PlanLimits) -> list[datetime]:
    """Slots after now that should be stored: within the horizon, at least ``min_runs``."""
    end = now + limits.horizon
    return [
        t
        for index, t in enumerate(_utc(t) for t in schedule.next_runs(now, limits.max_runs))
        if index < limits.min_runs or t <= end
    ]


def backfill_slots(
    schedules: Sequence[tuple[str, Schedule]],
    start: datetime,
    end: datetime,
    *,
    most: int = MAX_BACKFILL,
) -> list[Slot]:
    """Every slot of every schedule in [start, end); ``ScheduleError`` for an empty or
    reversed range, a naive time, or more than ``most`` slots."""
    for name, value in (("start", start), ("end", end)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ScheduleError(
                f"backfill {name} {value.isoformat()} has no time zone; give one, "
                "e.g. 2026-03-01T00:00:00+00:00"
            )
    try:
        start, end = _utc(start), _utc(end)
    except OverflowError:  # before year 1 in UTC (0001-01-01T00:00:00+14:00)
        raise ScheduleError(
            f"backfill range {start.isoformat()} to {end.isoformat()} reaches before year 1; "
            f"start it at {EARLIEST.isoformat()} or later"
        ) from None
    if start < EARLIEST:
        raise ScheduleError(
            f"backfill start {start.isoformat()} is before {EARLIEST.isoformat()}, where "
            "schedules begin; start it there or later"
        )
    if start >= end:
        raise ScheduleError(
            f"backfill start {start.isoformat()} is not before end {end.isoformat()}; "
            "the range is [start, end)"
        )
    slots: list[Slot] = []
    for schedule_id, schedule in schedules:
        # next_runs is strictly after its argument: step back a microsecond to include start.
        found = _missed(schedule, start - timedelta(microseconds=1), end, most + 1)
        slots.extend(Slot(schedule_id, t) for t in found if t < end)
        if len(slots) > most:
            raise ScheduleError(
                f"backfill from {start.isoformat()} to {end.isoformat()} covers more than "
                f"{most} slots; backfill a shorter range at a time"
            )
    return slots


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{value.isoformat()} has no time zone; pass an aware datetime")
    return value.astimezone(UTC)
