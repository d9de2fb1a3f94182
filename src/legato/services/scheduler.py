"""The scheduler service: every ``scheduler_interval`` seconds, make the due and upcoming
runs of every active schedule, then mark overdue unstarted runs Late.

The server runs it for every deployment (and wakes the workers of the pools that got
runs: :mod:`legato.server.services.scheduler`); ``flow.serve()`` on the embedded store
runs it for its own deployment only, since nobody else would.

What to make is decided by :mod:`legato.schedules.planning` (pure); this module only reads
the clock, asks the store what exists and hands it the slots. Each slot's idempotency key
is unique in the store, so restarts, a second server on the same PostgreSQL database and
backfills never make one slot twice: whoever inserts it first wins, the rest skip it.

A pass that fails (the database is down, a lock timed out) is logged and retried on the
next tick; one deployment's bad schedule is logged and does not stop the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from legato.schedules import schedule_from_dict
from legato.schedules.planning import (
    UNUSABLE_SCHEDULE,
    PlanLimits,
    ScheduleState,
    plan_slots,
    slot_key,
)
from legato.services.periodic import PeriodicService
from legato.store.scheduling import Schedulable, SlotRun

if TYPE_CHECKING:
    from legato.schemas.deployments import DeploymentRecord
    from legato.settings import Settings
    from legato.store import Store

logger = logging.getLogger("legato.scheduler")


@dataclass(frozen=True)
class SchedulerConfig:
    interval: float = 10.0
    limits: PlanLimits = field(default_factory=PlanLimits)
    late_after: float = 15.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SchedulerConfig:
        return cls(
            interval=settings.scheduler_interval,
            limits=PlanLimits(
                max_runs=settings.scheduler_max_runs,
                min_runs=settings.scheduler_min_runs,
                horizon=timedelta(seconds=settings.scheduler_horizon_seconds),
            ),
            late_after=settings.late_after_seconds,
        )


@dataclass
class TickResult:
    created: int = 0
    late: int = 0
    catching_up: list[str] = field(default_factory=list)
    """Deployments with missed slots left over for the next tick."""
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Ids of schedules skipped because they cannot say their next times."""
    pools: set[str] = field(default_factory=set)
    """Work pools that got new runs (their waiting workers are woken)."""


def schedule_once(
    store: Store,
    config: SchedulerConfig,
    now: datetime | None = None,
    *,
    deployment_id: str | None = None,
    reported: set[tuple[str, str]] | None = None,
) -> TickResult:
    """One pass: make the planned runs of every active deployment (or only of
    ``deployment_id``, for ``flow.serve()``), then mark Late runs.

    ``reported`` remembers the broken schedules already logged, so that a long-running
    scheduler says so once, not on every pass."""
    now = now or datetime.now(UTC)
    result = TickResult()
    for item in store.read_schedulable():
        if deployment_id is None or item.deployment.id == deployment_id:
            schedule_deployment(store, item, config, now, result, reported)
    result.late = store.mark_late_runs(
        before=now.timestamp() - config.late_after, now=now.timestamp()
    )
    return result


def schedule_deployment(
    store: Store,
    item: Schedulable,
    config: SchedulerConfig,
    now: datetime,
    result: TickResult,
    reported: set[tuple[str, str]] | None = None,
) -> None:
    """Make the planned runs of one deployment; a failure is logged into ``result``.

    A schedule that cannot say its next times (stored before legato refused its kind,
    such as an anchor at 9999-12-31) is skipped with one log line, and the deployment's
    other schedules go on."""
    deployment = item.deployment
    try:
        states = []
        broken: list[tuple[str, str]] = []
        for stored in item.schedules:
            try:
                schedule = schedule_from_dict(stored.schedule)
            except UNUSABLE_SCHEDULE as exc:
                broken.append((stored.id, str(exc) or type(exc).__name__))
                continue
            states.append(ScheduleState(stored.id, schedule, stored.created, stored.last_slot))
        plan = plan_slots(states, now=now, catchup=deployment.catchup, limits=config.limits)
        _report_broken(deployment, [*broken, *plan.broken], result, reported)
        made = store.insert_scheduled_runs(
            deployment,
            [
                SlotRun(
                    slot.schedule_id,
                    slot.time.timestamp(),
                    slot_key(deployment.id, slot.schedule_id, slot.time),
                )
                for slot in plan.slots
            ],
        )
    except Exception:
        logger.exception("scheduler: could not make the runs of %s", deployment.full_name)
        result.failed.append(deployment.full_name)
        return
    result.created += len(made)
    if made:
        result.pools.add(deployment.work_pool)
    if plan.catching_up:
        result.catching_up.append(deployment.full_name)
        logger.warning(
            "scheduler: %s has more than %d missed slots; made the oldest %d, the rest "
            "follow on the next passes",
            deployment.full_name,
            config.limits.max_catchup,
            len(plan.slots),
        )


def _report_broken(
    deployment: DeploymentRecord,
    broken: list[tuple[str, str]],
    result: TickResult,
    reported: set[tuple[str, str]] | None,
) -> None:
    positions = {schedule.id: n for n, schedule in enumerate(deployment.schedules, start=1)}
    for schedule_id, reason in broken:
        result.skipped.append(schedule_id)
        if reported is not None:
            if (schedule_id, reason) in reported:
                continue
            reported.add((schedule_id, reason))
        number = positions.get(schedule_id, 0)
        logger.warning(
            "scheduler: skipping schedule %d of %s, it cannot make runs: %s. Deploy it again "
            "with a valid schedule, or pause it: legato deployment pause %s --schedule %d",
            number,
            deployment.full_name,
            reason,
            deployment.full_name,
            number,
        )


class Scheduler(PeriodicService):
    """Runs :func:`schedule_once` every ``config.interval`` seconds (at once again while
    a deployment still has missed slots to catch up).

    ``deployment_id`` limits it to one deployment (``flow.serve()``); ``wake`` is called
    with the work pools that got new runs after each pass (the server wakes the workers
    waiting on them; without it workers find the runs on their next poll)."""

    def __init__(
        self,
        store: Store,
        config: SchedulerConfig,
        *,
        deployment_id: str | None = None,
        wake: Callable[[set[str]], None] | None = None,
    ):
        self.store = store
        self.config = config
        self.deployment_id = deployment_id
        self.wake = wake
        self.reported: set[tuple[str, str]] = set()
        super().__init__("scheduler", config.interval, self._pass, logger)

    def _pass(self) -> float | None:
        result = schedule_once(
            self.store, self.config, deployment_id=self.deployment_id, reported=self.reported
        )
        if self.wake is not None:
            self.wake(result.pools)
        if result.created or result.late:
            logger.info("scheduler: made %d run(s), marked %d Late", result.created, result.late)
        return 0.0 if result.catching_up else None
