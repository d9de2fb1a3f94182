"""The scheduler's side of the store: what is schedulable, what was made, making slots in
bulk, and marking overdue runs Late.

Slots are inserted with ``INSERT ... ON CONFLICT (idempotency_key) DO NOTHING`` in
multi-row statements (SQLAlchemy's insertmanyvalues), with ``RETURNING id`` telling which
went in: only those get their history and tag rows. Two schedulers on one database may
insert the same slots at once; the unique key lets one win and the other skip.

Each deployment's slots are written in one transaction that first re-reads its schedules
under the write lock (``BEGIN IMMEDIATE`` on SQLite; ``FOR SHARE`` on the deployment row
on PostgreSQL, which a concurrent ``deploy`` holds ``FOR UPDATE``): a schedule that a
re-deploy replaced or paused in the meantime gets no runs from a plan made before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from legato.errors import ObjectNotFound, ScheduleError
from legato.orchestration.lateness import LATE_FROM_NAME
from legato.schemas.deployments import DeploymentRecord
from legato.states import StateType
from legato.store.deployments import deployment_record, deployment_run_rows, schedules_of
from legato.store.flows import FlowIds
from legato.store.state_door import StateDoor
from legato.store.tables import (
    deployment_schedules,
    deployments,
    flow_run_tags,
    flow_runs,
)

LATE_BATCH = 5_000
ID_CHUNK = 500


@dataclass(frozen=True)
class StoredSchedule:
    id: str
    schedule: dict[str, Any]
    created: datetime
    last_slot: datetime | None


@dataclass(frozen=True)
class Schedulable:
    """An active deployment and its active schedules, with the last slot each has made."""

    deployment: DeploymentRecord
    schedules: list[StoredSchedule]


@dataclass(frozen=True)
class SlotRun:
    """One slot to make a run for: its schedule, its time (epoch seconds) and its key."""

    schedule_id: str
    due: float
    idempotency_key: str


# -- reads ----------------------------------------------------------------------


def read_schedulable(conn: Connection, deployment_id: str | None = None) -> list[Schedulable]:
    """Unpaused deployments with at least one active schedule (or the one asked for,
    paused or not, with all its active schedules)."""
    query = (
        sa.select(deployment_schedules)
        .where(deployment_schedules.c.active.is_(True))
        .order_by(deployment_schedules.c.deployment_id, deployment_schedules.c.position)
    )
    if deployment_id is not None:
        query = query.where(deployment_schedules.c.deployment_id == deployment_id)
    schedule_rows = list(conn.execute(query).mappings())
    ids = list(dict.fromkeys(row["deployment_id"] for row in schedule_rows))
    if not ids:
        return []
    deployment_rows: list[Any] = []
    for start in range(0, len(ids), ID_CHUNK):
        chunk = ids[start : start + ID_CHUNK]
        where: sa.ColumnElement[bool] = deployments.c.id.in_(chunk)
        if deployment_id is None:
            where = sa.and_(where, deployments.c.paused.is_(False))
        deployment_rows.extend(conn.execute(sa.select(deployments).where(where)).mappings())
    last = _last_slots(conn, [row["id"] for row in deployment_rows])
    all_schedules = schedules_of(conn, [row["id"] for row in deployment_rows])
    by_deployment: dict[str, list[StoredSchedule]] = {}
    for row in schedule_rows:
        by_deployment.setdefault(row["deployment_id"], []).append(
            StoredSchedule(
                id=row["id"],
                schedule=row["schedule"],
                created=datetime.fromtimestamp(row["created"], UTC),
                last_slot=last.get(row["id"]),
            )
        )
    found = [
        Schedulable(deployment_record(row, all_schedules[row["id"]]), by_deployment[row["id"]])
        for row in deployment_rows
    ]
    return sorted(found, key=lambda item: item.deployment.full_name)


def _last_slots(conn: Connection, deployment_ids: list[str]) -> dict[str, datetime]:
    """The latest slot made per schedule of these deployments (through their index)."""
    last: dict[str, datetime] = {}
    for start in range(0, len(deployment_ids), ID_CHUNK):
        chunk = deployment_ids[start : start + ID_CHUNK]
        rows = conn.execute(
            sa.select(flow_runs.c.schedule_id, sa.func.max(flow_runs.c.expected_start_time))
            .where(flow_runs.c.deployment_id.in_(chunk), flow_runs.c.schedule_id.is_not(None))
            .group_by(flow_runs.c.schedule_id)
        )
        for schedule_id, slot in rows:
            if slot is not None:
                last[schedule_id] = datetime.fromtimestamp(slot, UTC)
    return last


# -- writes ---------------------------------------------------------------------


def insert_scheduled_runs(
    door: StateDoor,
    deployment: DeploymentRecord,
    slots: list[SlotRun],
    flow_ids: FlowIds,
    *,
    require_unpaused: bool,
    now: float,
) -> list[str]:
    """Make a Scheduled run for each slot (at least one) that has none yet; the ids of
    those made.

    Slots of schedules no longer active (a re-deploy since the plan) are dropped, and
    with ``require_unpaused`` all of them when the deployment was paused meanwhile
    (rolled back). Parameters are the deployment's defaults, checked when it was
    deployed.
    """
    conn = door.conn
    query = sa.select(deployments.c.paused).where(deployments.c.id == deployment.id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(read=True)
    paused = conn.execute(query).scalar()
    if paused is None:
        raise ObjectNotFound(f"no deployment with id {deployment.id!r}")
    if paused and require_unpaused:
        door.rollback()
        return []
    active = set(
        conn.execute(
            sa.select(deployment_schedules.c.id).where(
                deployment_schedules.c.deployment_id == deployment.id,
                deployment_schedules.c.active.is_(True),
            )
        ).scalars()
    )
    wanted = [slot for slot in slots if slot.schedule_id in active]
    flow_id = flow_ids.of(conn, deployment.flow_name)
    tags = list(dict.fromkeys(deployment.tags))
    made: list[str] = []
    for start in range(0, len(wanted), 1_000):
        made += _insert_slot_batch(
            door, deployment, flow_id, tags, wanted[start : start + 1_000], now
        )
    return made


def _insert_slot_batch(
    door: StateDoor,
    deployment: DeploymentRecord,
    flow_id: str,
    tags: list[str],
    slots: list[SlotRun],
    now: float,
) -> list[str]:
    built = [
        deployment_run_rows(
            deployment,
            flow_id=flow_id,
            parameters=deployment.parameters,
            tags=tags,
            due=slot.due,
            now=now,
            schedule_id=slot.schedule_id,
            idempotency_key=slot.idempotency_key,
        )
        for slot in slots
    ]
    inserted = door.create_flow_runs(
        [(item.run, item.state) for item in built], unique="idempotency_key"
    )
    if not inserted:
        return []
    made = set(inserted)
    tag_rows = [row for item in built if item.run["id"] in made for row in item.tags]
    if tag_rows:
        door.conn.execute(flow_run_tags.insert(), tag_rows)
    return inserted


def backfill_slot_runs(
    item: Schedulable, start: datetime, end: datetime, now: datetime
) -> list[SlotRun]:
    """Every slot of ``item``'s active schedules in [start, end), by time, keyed as the
    scheduler keys it (so neither duplicates the other). ``ScheduleError`` for a bad or
    too long range, or an end in the future: upcoming slots are the scheduler's."""
    from legato.schedules import schedule_from_dict
    from legato.schedules.planning import backfill_slots, slot_key

    if end.tzinfo is not None and end > now:
        raise ScheduleError(
            f"backfill end {end.isoformat()} is in the future; backfill makes runs for "
            "past slots only (the scheduler makes the upcoming ones): end it at now or before"
        )
    deployment_id = item.deployment.id
    slots = backfill_slots(
        [(s.id, schedule_from_dict(s.schedule)) for s in item.schedules], start, end
    )
    slots.sort(key=lambda slot: (slot.time, slot.schedule_id))
    return [
        SlotRun(
            slot.schedule_id,
            slot.time.timestamp(),
            slot_key(deployment_id, slot.schedule_id, slot.time),
        )
        for slot in slots
    ]


def mark_late_batch(door: StateDoor, *, before: float, now: float) -> tuple[int, int]:
    """Mark Late one batch of the Scheduled runs of deployments due before ``before``
    that no worker has started (still a SCHEDULED type, so workers still claim them);
    how many were looked at and how many were marked. Which runs are late is
    :func:`legato.orchestration.lateness.is_late`, in SQL.

    The state door's update re-checks the state name, so two servers marking at once,
    or a worker claiming the run meanwhile, never give one run two Late rows.
    """
    candidates = list(
        door.conn.execute(
            sa.select(flow_runs.c.id)
            .where(
                flow_runs.c.work_pool.is_not(None),
                flow_runs.c.state_type == StateType.SCHEDULED.value,
                flow_runs.c.expected_start_time < before,
                flow_runs.c.state_name == LATE_FROM_NAME,
            )
            .limit(LATE_BATCH)
        ).scalars()
    )
    if not candidates:
        return 0, 0
    return len(candidates), door.mark_late([str(run_id) for run_id in candidates], now)
