"""Automations in the store: their specs, their buckets, firings and actions, the
evaluator's cursor and the lease that makes one server at a time evaluate them.

Exactly once: the evaluator writes the buckets it changed, the firings and the action
rows of each firing, and its cursor in one transaction (:func:`record_pass`). A server
killed before that commit evaluates the same events again from the old cursor with the
old buckets, so nothing fires twice and nothing is lost; one killed after it finds the
actions pending. An action is run by whoever holds its lease; the actions that create
something (a run) carry an idempotency key made of their firing, so one run twice
(its executor died between doing it and saying so) still makes one thing.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from legato.errors import LegatoError, ObjectNotFound
from legato.event_rules.resource_events import automation_event
from legato.event_rules.triggers import Bucket, Buckets, Firing
from legato.schemas.automations import (
    ActionRecord,
    AutomationRecord,
    AutomationSpec,
    FiringRecord,
)
from legato.store.database import Database, insert_if_absent
from legato.store.events import insert_events
from legato.store.tables import (
    automation_actions,
    automation_buckets,
    automation_firings,
    automations,
    event_cursors,
    service_leases,
)
from legato.text import loads_json


class AutomationExists(LegatoError):
    """An automation of that name is stored already."""


def _when(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


def _record(row: Any) -> AutomationRecord:
    return AutomationRecord(
        id=row.id,
        spec=AutomationSpec.model_validate_json(row.spec),
        created=datetime.fromtimestamp(row.created, UTC),
        updated=datetime.fromtimestamp(row.updated, UTC),
        last_fired=_when(row.last_fired),
    )


def _spec_text(spec: AutomationSpec) -> str:
    return spec.model_dump_json()


def save_automation(conn: Connection, spec: AutomationSpec, *, replace: bool) -> tuple[str, bool]:
    """Store ``spec``: a new automation, or (``replace``) the one of that name updated in
    place, keeping what its unchanged triggers counted. Its id, and whether it is new."""
    now = time.time()
    found = conn.execute(sa.select(automations.c.id).where(automations.c.name == spec.name)).first()
    if found is not None:
        if not replace:
            raise AutomationExists(
                f"an automation named {spec.name!r} exists already; change it with "
                "'legato automation create -f FILE --update' or delete it first"
            )
        conn.execute(
            automations.update()
            .where(automations.c.id == found.id)
            .values(spec=_spec_text(spec), enabled=spec.enabled, updated=now)
        )
        from legato.event_rules.triggers import event_triggers

        kept = {t.id for t in event_triggers(spec.trigger)} | _composite_ids(spec)
        conn.execute(
            automation_buckets.delete().where(
                automation_buckets.c.automation_id == found.id,
                automation_buckets.c.trigger_id.not_in(kept),
            )
        )
        return str(found.id), False
    automation_id = str(uuid.uuid4())
    inserted = insert_if_absent(
        conn,
        automations,
        {
            "id": automation_id,
            "name": spec.name,
            "spec": _spec_text(spec),
            "enabled": spec.enabled,
            "created": now,
            "updated": now,
            "last_fired": None,
        },
        ["name"],
    )
    if not inserted:
        raise AutomationExists(f"an automation named {spec.name!r} was just made by another client")
    return automation_id, True


def _composite_ids(spec: AutomationSpec) -> set[str]:
    ids: set[str] = set()
    stack: list[Any] = [spec.trigger]
    while stack:
        trigger = stack.pop()
        ids.add(trigger.id)
        stack.extend(getattr(trigger, "triggers", ()))
    return ids


def _find(conn: Connection, reference: str) -> Any:
    row = conn.execute(
        sa.select(automations).where(
            sa.or_(automations.c.id == reference, automations.c.name == reference)
        )
    ).first()
    if row is None:
        raise ObjectNotFound(f"no automation named {reference!r} (legato automation ls lists them)")
    return row


def read_automation(conn: Connection, reference: str) -> AutomationRecord:
    return _record(_find(conn, reference))


def read_automations(conn: Connection) -> list[AutomationRecord]:
    rows = conn.execute(sa.select(automations).order_by(automations.c.name)).all()
    return [_record(row) for row in rows]


def enabled_automations(conn: Connection) -> list[AutomationRecord]:
    rows = conn.execute(
        sa.select(automations).where(automations.c.enabled.is_(True)).order_by(automations.c.id)
    ).all()
    return [_record(row) for row in rows]


def set_enabled(conn: Connection, reference: str, enabled: bool) -> str:
    row = _find(conn, reference)
    spec = AutomationSpec.model_validate_json(row.spec).model_copy(update={"enabled": enabled})
    conn.execute(
        automations.update()
        .where(automations.c.id == row.id)
        .values(enabled=enabled, spec=_spec_text(spec), updated=time.time())
    )
    if not enabled:  # paused: what it counted is forgotten, a resume starts afresh
        conn.execute(
            automation_buckets.delete().where(automation_buckets.c.automation_id == row.id)
        )
    return str(row.id)


def delete_automation(conn: Connection, reference: str) -> str:
    row = _find(conn, reference)
    for table in (automation_buckets, automation_actions, automation_firings):
        conn.execute(table.delete().where(table.c.automation_id == row.id))
    conn.execute(automations.delete().where(automations.c.id == row.id))
    return str(row.id)


# -- the evaluator -------------------------------------------------------------------


def take_lease(conn: Connection, name: str, holder: str, *, ttl: float, now: float) -> bool:
    """Take or renew the lease ``name`` for ``holder`` if it is free, expired or its own."""
    updated = conn.execute(
        service_leases.update()
        .where(
            service_leases.c.name == name,
            sa.or_(service_leases.c.holder == holder, service_leases.c.expires < now),
        )
        .values(holder=holder, expires=now + ttl)
    )
    if updated.rowcount:
        return True
    return insert_if_absent(
        conn, service_leases, {"name": name, "holder": holder, "expires": now + ttl}, ["name"]
    )


def drop_lease(conn: Connection, name: str, holder: str) -> None:
    conn.execute(
        service_leases.delete().where(
            service_leases.c.name == name, service_leases.c.holder == holder
        )
    )


def read_position(conn: Connection, name: str) -> int | None:
    position = conn.execute(
        sa.select(event_cursors.c.position).where(event_cursors.c.name == name)
    ).scalar()
    return int(position) if position is not None else None


def write_position(conn: Connection, name: str, position: int, now: float) -> None:
    updated = conn.execute(
        event_cursors.update()
        .where(event_cursors.c.name == name)
        .values(position=position, updated=now)
    )
    if not updated.rowcount:
        row = {"name": name, "position": position, "updated": now}
        if not insert_if_absent(conn, event_cursors, row, ["name"]):
            conn.execute(event_cursors.update().where(event_cursors.c.name == name).values(row))


def load_buckets(conn: Connection) -> dict[str, Buckets]:
    """Every stored bucket, by automation id."""
    found: dict[str, Buckets] = {}
    for row in conn.execute(sa.select(automation_buckets)):
        bucket = Bucket(
            trigger_id=row.trigger_id,
            key=row.key,
            start=row.start,
            end=row.end,
            count=row._mapping["count"],
            triggered=bool(row.triggered),
            event_ids=tuple(loads_json(row.event_ids)),
        )
        found.setdefault(row.automation_id, {})[(row.trigger_id, row.key)] = bucket
    return found


@dataclass(frozen=True)
class NewFiring:
    """A firing to store, with the actions it runs (already chosen by kind)."""

    automation_id: str
    firing: Firing
    actions: Sequence[Mapping[str, Any]]
    event: Mapping[str, Any] | None
    suppressed: int = 0


def record_pass(
    conn: Connection,
    *,
    changed: Mapping[str, Iterable[tuple[tuple[str, str], Bucket | None]]],
    firings: Sequence[NewFiring],
    positions: Mapping[str, int],
    now: float,
) -> list[str]:
    """One evaluation pass, in the caller's transaction: the buckets it changed (None:
    gone), its firings with their actions, and the cursor. The firing ids."""
    for automation_id, buckets in changed.items():
        for (trigger_id, key), bucket in buckets:
            conn.execute(
                automation_buckets.delete().where(
                    automation_buckets.c.automation_id == automation_id,
                    automation_buckets.c.trigger_id == trigger_id,
                    automation_buckets.c.key == key,
                )
            )
            if bucket is not None:
                conn.execute(
                    automation_buckets.insert().values(
                        automation_id=automation_id,
                        trigger_id=trigger_id,
                        key=key,
                        start=bucket.start,
                        end=bucket.end,
                        count=bucket.count,
                        triggered=bucket.triggered,
                        event_ids=json.dumps(list(bucket.event_ids)),
                    )
                )
    ids = []
    for new in firings:
        firing_id = str(uuid.uuid4())
        ids.append(firing_id)
        conn.execute(
            automation_firings.insert().values(
                id=firing_id,
                automation_id=new.automation_id,
                kind=new.firing.kind,
                trigger_id=new.firing.trigger_id,
                key=new.firing.key,
                at=new.firing.at,
                late=new.firing.late,
                event_ids=json.dumps(list(new.firing.event_ids)),
                event=json.dumps(new.event) if new.event is not None else None,
                suppressed=new.suppressed,
                created=now,
            )
        )
        for position, action in enumerate(new.actions):
            conn.execute(
                automation_actions.insert().values(
                    id=str(uuid.uuid4()),
                    firing_id=firing_id,
                    automation_id=new.automation_id,
                    position=position,
                    action=json.dumps(action),
                    status="pending",
                    attempts=0,
                    created=now,
                )
            )
        if new.firing.kind == "triggered":
            conn.execute(
                automations.update()
                .where(automations.c.id == new.automation_id)
                .values(last_fired=new.firing.at)
            )
    for name, position in positions.items():
        write_position(conn, name, position, now)
    return ids


def last_firing_time(conn: Connection, automation_id: str) -> float | None:
    return conn.execute(
        sa.select(sa.func.max(automation_firings.c.at)).where(
            automation_firings.c.automation_id == automation_id,
            automation_firings.c.kind == "triggered",
        )
    ).scalar()


# -- actions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class HeldAction:
    id: str
    firing_id: str
    automation_id: str
    position: int
    action: dict[str, Any]
    attempts: int
    event: dict[str, Any] | None
    firing_at: float
    firing_kind: str
    firing_key: str
    firing_suppressed: int


def has_open_actions(conn: Connection) -> bool:
    """Whether any action is pending or running (a read, before a claim's write)."""
    query = (
        sa.select(automation_actions.c.id)
        .where(automation_actions.c.status.in_(("pending", "running")))
        .limit(1)
    )
    return conn.execute(query).first() is not None


def claim_actions(
    conn: Connection, *, now: float, lease: float, limit: int = 20
) -> list[HeldAction]:
    """Pending actions (and running ones whose executor's lease ran out), leased to the
    caller, oldest first."""
    query = (
        sa.select(automation_actions.c.id)
        .where(
            sa.or_(
                sa.and_(
                    automation_actions.c.status == "pending",
                    sa.or_(
                        automation_actions.c.lease_until.is_(None),
                        automation_actions.c.lease_until <= now,
                    ),
                ),
                sa.and_(
                    automation_actions.c.status == "running",
                    automation_actions.c.lease_until < now,
                ),
            )
        )
        .order_by(automation_actions.c.created, automation_actions.c.position)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(conn.execute(query).scalars())
    if not ids:
        return []
    conn.execute(
        automation_actions.update()
        .where(automation_actions.c.id.in_(ids))
        .values(
            status="running",
            lease_until=now + lease,
            attempts=automation_actions.c.attempts + 1,
        )
    )
    rows = conn.execute(
        sa.select(
            automation_actions,
            automation_firings.c.event,
            automation_firings.c.at.label("firing_at"),
            automation_firings.c.kind.label("firing_kind"),
            automation_firings.c.key.label("firing_key"),
            automation_firings.c.suppressed.label("firing_suppressed"),
        )
        .select_from(
            automation_actions.join(
                automation_firings, automation_firings.c.id == automation_actions.c.firing_id
            )
        )
        .where(automation_actions.c.id.in_(ids))
        .order_by(automation_actions.c.created, automation_actions.c.position)
    ).all()
    return [
        HeldAction(
            id=row.id,
            firing_id=row.firing_id,
            automation_id=row.automation_id,
            position=row.position,
            action=json.loads(row.action),
            attempts=row.attempts,
            event=json.loads(row.event) if row.event else None,
            firing_at=row.firing_at,
            firing_kind=row.firing_kind,
            firing_key=row.firing_key,
            firing_suppressed=row.firing_suppressed,
        )
        for row in rows
    ]


def finish_action(
    conn: Connection,
    action_id: str,
    *,
    status: str,
    error: str | None = None,
    result: Mapping[str, Any] | None = None,
    now: float,
) -> None:
    conn.execute(
        automation_actions.update()
        .where(automation_actions.c.id == action_id)
        .values(
            status=status,
            error=error,
            result=json.dumps(result) if result is not None else None,
            finished=now,
            lease_until=None,
        )
    )


def retry_action_later(conn: Connection, action_id: str, *, at: float, error: str) -> None:
    """Back to pending, not to be claimed before ``at`` (a delivery that may work later)."""
    conn.execute(
        automation_actions.update()
        .where(automation_actions.c.id == action_id)
        .values(status="pending", lease_until=at, error=error)
    )


def read_firings(conn: Connection, reference: str, *, limit: int = 20) -> list[FiringRecord]:
    """The newest firings of an automation, each with its actions' outcomes."""
    automation_id = _find(conn, reference).id
    rows = conn.execute(
        sa.select(automation_firings)
        .where(automation_firings.c.automation_id == automation_id)
        .order_by(automation_firings.c.created.desc(), automation_firings.c.at.desc())
        .limit(limit)
    ).all()
    if not rows:
        return []
    actions: dict[str, list[ActionRecord]] = {}
    found = conn.execute(
        sa.select(automation_actions)
        .where(automation_actions.c.firing_id.in_([row.id for row in rows]))
        .order_by(automation_actions.c.position)
    )
    for action in found:
        spec = json.loads(action.action)
        actions.setdefault(action.firing_id, []).append(
            ActionRecord(
                position=action.position,
                type=str(spec.get("type")),
                status=action.status,
                attempts=action.attempts,
                error=action.error,
                result=json.loads(action.result) if action.result else None,
                finished=_when(action.finished),
            )
        )
    return [
        FiringRecord(
            id=row.id,
            kind=row.kind,
            at=datetime.fromtimestamp(row.at, UTC),
            late=bool(row.late),
            key=row.key,
            event_ids=loads_json(row.event_ids),
            suppressed=row.suppressed,
            actions=actions.get(row.id, []),
        )
        for row in rows
    ]


class AutomationStore:
    """``store.automations``: the functions above, each in its own transaction."""

    def __init__(self, db: Database):
        self.db = db

    def save(self, spec: AutomationSpec, *, replace: bool = False) -> tuple[AutomationRecord, bool]:
        """Store ``spec`` (``replace``: update the one of that name); its record, and
        whether it is new. Its change is an event (``legato.automation.*``)."""
        with self.db.writing() as conn:
            automation_id, made = save_automation(conn, spec, replace=replace)
            record = read_automation(conn, automation_id)
            insert_events(conn, [automation_event("created" if made else "updated", record)])
        return record, made

    def read(self, reference: str) -> AutomationRecord:
        with self.db.reading() as conn:
            return read_automation(conn, reference)

    def read_all(self) -> list[AutomationRecord]:
        with self.db.reading() as conn:
            return read_automations(conn)

    def set_enabled(self, reference: str, enabled: bool) -> AutomationRecord:
        with self.db.writing() as conn:
            automation_id = set_enabled(conn, reference, enabled)
            record = read_automation(conn, automation_id)
            action = "resumed" if enabled else "paused"
            insert_events(conn, [automation_event(action, record)])
        return record

    def delete(self, reference: str) -> None:
        with self.db.writing() as conn:
            record = read_automation(conn, reference)
            delete_automation(conn, record.id)
            insert_events(conn, [automation_event("deleted", record)])

    def firings(self, reference: str, *, limit: int = 20) -> list[FiringRecord]:
        with self.db.reading() as conn:
            return read_firings(conn, reference, limit=limit)
