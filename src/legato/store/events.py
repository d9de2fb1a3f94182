"""Storing, reading and pruning events, and projecting state changes into them.

Events are numbered by ``seq`` in the order they are stored: the cursor of reads and of
the live stream. A cursor is only safe if no event can appear behind it later, so on
PostgreSQL every transaction that stores events takes one advisory lock first and holds
it to its commit: seqs are then committed in the order they were handed out. (SQLite
has one writer at a time anyway.) Keep event writes at the end of a transaction.

State changes are not written as events by the transaction that makes them: that would
double the rows a flow's task runs cost. ``state_history`` is the outbox; the server's
event service turns new rows into events (:func:`project_states`) a moment later, and
any reader that wants them now runs one projection pass first. The pass is idempotent
(an event's id comes from its state change), so a crash mid-pass loses nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from legato.event_rules.patterns import is_literal, literal_prefix, matches_any
from legato.event_rules.projection import advance
from legato.event_rules.state_events import NewEvent, StoredState, state_event
from legato.schemas.events import RESOURCE_ID, RESOURCE_ROLE, EventFilter, EventRecord
from legato.store.database import insert_if_absent
from legato.store.tables import (
    deployments,
    event_cursors,
    event_resources,
    events,
    flow_runs,
    state_history,
    task_runs,
)
from legato.text import loads_json

EVENTS_LOCK = 7461627
"""The PostgreSQL advisory lock every event-storing transaction holds to its commit."""

STATES_CURSOR = "state_history"
PROJECTION_BATCH = 1000
SCAN_CHUNK = 500
MAX_SCANNED = 20_000
"""Most rows one filtered read looks at before it answers with what it found and a
cursor to go on from (filters on labels are checked in Python)."""


def lock_events(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({EVENTS_LOCK})")


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def insert_events(
    conn: Connection, new: Sequence[NewEvent], *, received: float | None = None
) -> list[int]:
    """Store the events whose ids are not stored yet; the seqs given to those stored,
    in order. Takes the events lock (see the module docstring)."""
    if not new:
        return []
    lock_events(conn)
    received = time.time() if received is None else received
    unique: dict[str, NewEvent] = {}
    for event in new:
        unique.setdefault(event.id, event)
    ids = list(unique)
    known: set[str] = set()
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        known.update(conn.execute(sa.select(events.c.id).where(events.c.id.in_(chunk))).scalars())
    fresh = [event for event in unique.values() if event.id not in known]
    if not fresh:
        return []
    conn.execute(
        events.insert(),
        [
            {
                "id": event.id,
                "event": event.event,
                "occurred": event.occurred,
                "received": received,
                "resource_id": event.resource_id,
                "resource": _json(event.resource),
                "related": _json(event.related),
                "payload": _json(event.payload),
            }
            for event in fresh
        ],
    )
    seqs: dict[str, int] = {}
    fresh_ids = [event.id for event in fresh]
    for start in range(0, len(fresh_ids), 900):
        chunk = fresh_ids[start : start + 900]
        query = sa.select(events.c.id, events.c.seq).where(events.c.id.in_(chunk))
        seqs.update({str(row.id): int(row.seq) for row in conn.execute(query)})
    related_rows = [
        {
            "seq": seqs[event.id],
            "resource_id": labels[RESOURCE_ID],
            "role": labels.get(RESOURCE_ROLE, ""),
        }
        for event in fresh
        for labels in event.related
    ]
    if related_rows:
        conn.execute(event_resources.insert(), related_rows)
    return sorted(seqs[event.id] for event in fresh)


def latest_seq(conn: Connection) -> int:
    latest = conn.execute(sa.select(sa.func.max(events.c.seq))).scalar()
    return int(latest) if latest is not None else 0


# -- reading -------------------------------------------------------------------------


def _like(pattern: str) -> str:
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


def _pattern_clause(column: sa.ColumnElement[str], patterns: Iterable[str]) -> Any:
    """SQL that keeps every value matching one of ``patterns`` (and, on SQLite, whose LIKE
    ignores case, maybe a few more: the exact check is made in Python after)."""
    clauses = []
    for pattern in patterns:
        if is_literal(pattern):
            clauses.append(column == pattern)
        elif literal_prefix(pattern) or pattern.strip("*"):
            clauses.append(column.like(_like(pattern), escape="\\"))
        else:
            clauses.append(sa.true())
    return sa.or_(*clauses)


def _label_filter(spec: str) -> tuple[str, str] | None:
    key, sep, value = spec.partition("=")
    return (key, value) if sep else None


def _resource_matches(filt: EventFilter, record: EventRecord) -> bool:
    for spec in filt.resources:
        label = _label_filter(spec)
        if label is None:
            if matches_any([spec], record.resource_id):
                return True
        elif label[0] in record.resource and matches_any([label[1]], record.resource[label[0]]):
            return True
    return False


def _keeps(filt: EventFilter, record: EventRecord) -> bool:
    if filt.names and not matches_any(filt.names, record.event):
        return False
    if filt.resources and not _resource_matches(filt, record):
        return False
    if filt.related:
        ids = [labels.get(RESOURCE_ID, "") for labels in record.related]
        if not any(matches_any(filt.related, one) for one in ids):
            return False
    return True


def _record(row: Any) -> EventRecord:
    return EventRecord(
        seq=row.seq,
        id=row.id,
        event=row.event,
        occurred=datetime.fromtimestamp(row.occurred, UTC),
        received=datetime.fromtimestamp(row.received, UTC),
        resource=loads_json(row.resource),
        related=loads_json(row.related),
        payload=loads_json(row.payload),
    )


def read_events(
    conn: Connection, filt: EventFilter, *, limit: int
) -> tuple[list[EventRecord], int | None, bool]:
    """One page of events matching ``filt`` in seq order (newest first if asked): the
    events, the seq of the last row looked at (the cursor to go on from; None if none
    was), and whether more may follow it."""
    where: list[Any] = []
    if filt.names:
        where.append(_pattern_clause(events.c.event, filt.names))
    id_patterns = [spec for spec in filt.resources if _label_filter(spec) is None]
    if id_patterns and len(id_patterns) == len(filt.resources):
        where.append(_pattern_clause(events.c.resource_id, id_patterns))
    if filt.related:
        related_seqs = sa.select(event_resources.c.seq).where(
            _pattern_clause(event_resources.c.resource_id, filt.related)
        )
        where.append(events.c.seq.in_(related_seqs))
    if filt.since is not None:
        where.append(events.c.occurred >= filt.since)
    if filt.until is not None:
        where.append(events.c.occurred < filt.until)
    order = events.c.seq.desc() if filt.newest_first else events.c.seq.asc()
    after, before = filt.after_seq, filt.before_seq
    found: list[EventRecord] = []
    scanned = 0
    last_seq: int | None = None
    while True:
        bounds = list(where)
        if after is not None:
            bounds.append(events.c.seq > after)
        if before is not None:
            bounds.append(events.c.seq < before)
        chunk_size = SCAN_CHUNK if _post_filtered(filt) else min(SCAN_CHUNK, limit - len(found))
        rows = conn.execute(
            sa.select(events).where(*bounds).order_by(order).limit(chunk_size)
        ).all()
        for row in rows:
            scanned += 1
            last_seq = int(row.seq)
            record = _record(row)
            if _keeps(filt, record):
                found.append(record)
                if len(found) >= limit:
                    return found, last_seq, True
        if len(rows) < chunk_size:
            return found, last_seq, False
        if scanned >= MAX_SCANNED:
            return found, last_seq, True
        if filt.newest_first:
            before = last_seq
        else:
            after = last_seq


def _post_filtered(filt: EventFilter) -> bool:
    """Whether rows the SQL keeps may still be dropped in Python (label filters)."""
    return any(_label_filter(spec) is not None for spec in filt.resources)


def read_event(conn: Connection, event_id: str) -> EventRecord | None:
    row = conn.execute(sa.select(events).where(events.c.id == event_id)).first()
    return _record(row) if row is not None else None


# -- pruning -------------------------------------------------------------------------


def delete_events_before(conn: Connection, cutoff: float, *, limit: int = 5000) -> int:
    """Delete up to ``limit`` events that occurred before ``cutoff`` (and their related
    rows); how many went. The caller repeats until it gets 0, a transaction each time,
    so a large backlog never holds the write lock long."""
    seqs = list(
        conn.execute(
            sa.select(events.c.seq).where(events.c.occurred < cutoff).limit(limit)
        ).scalars()
    )
    for start in range(0, len(seqs), 900):
        chunk = seqs[start : start + 900]
        conn.execute(event_resources.delete().where(event_resources.c.seq.in_(chunk)))
        conn.execute(events.delete().where(events.c.seq.in_(chunk)))
    return len(seqs)


# -- the projection of state changes ---------------------------------------------------


def read_cursor(conn: Connection, name: str, *, lock: bool = False) -> int:
    query = sa.select(event_cursors.c.position).where(event_cursors.c.name == name)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    position = conn.execute(query).scalar()
    return int(position) if position is not None else 0


def write_cursor(conn: Connection, name: str, position: int, *, now: float) -> None:
    updated = conn.execute(
        event_cursors.update()
        .where(event_cursors.c.name == name)
        .values(position=position, updated=now)
    )
    if updated.rowcount == 0:
        row = {"name": name, "position": position, "updated": now}
        if not insert_if_absent(conn, event_cursors, row, ["name"]):
            conn.execute(  # made by another server a moment ago
                event_cursors.update().where(event_cursors.c.name == name).values(row)
            )


def _tags(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = loads_json(value)
    if not isinstance(value, list):
        return ()
    return tuple(str(tag) for tag in value)


def states_waiting(conn: Connection) -> bool:
    """Whether any state change is stored after the projection's cursor (a read: the
    event service asks before it opens a write transaction for nothing)."""
    cursor = read_cursor(conn, STATES_CURSOR)
    query = sa.select(state_history.c.id).where(state_history.c.id > cursor).limit(1)
    return conn.execute(query).first() is not None


def unprojected_states(conn: Connection, after_id: int, limit: int) -> list[StoredState]:
    """The state changes stored after ``after_id`` (in id order), with their runs'
    names, flow, deployment, work pool, tags and the state each came from."""
    history = state_history.alias("h")
    query = (
        sa.select(
            history,
            task_runs.c.name.label("task_run_name"),
            task_runs.c.tags.label("task_tags"),
            flow_runs.c.name.label("flow_run_name"),
            flow_runs.c.flow_id,
            flow_runs.c.flow_name,
            flow_runs.c.deployment_id,
            flow_runs.c.work_pool,
            flow_runs.c.tags.label("flow_tags"),
            deployments.c.name.label("deployment_name"),
        )
        .select_from(
            history.outerjoin(task_runs, task_runs.c.id == history.c.task_run_id)
            .outerjoin(flow_runs, flow_runs.c.id == history.c.flow_run_id)
            .outerjoin(deployments, deployments.c.id == flow_runs.c.deployment_id)
        )
        .where(history.c.id > after_id)
        .order_by(history.c.id)
        .limit(limit)
    )
    rows = conn.execute(query).all()
    if not rows:
        return []
    priors = _prior_states(conn, rows)
    found: list[StoredState] = []
    for row in rows:
        is_task = row.task_run_id is not None
        key = ("t", row.task_run_id) if is_task else ("f", row.flow_run_id)
        prior = priors.get(key)
        found.append(
            StoredState(
                history_id=int(row.id),
                flow_run_id=row.flow_run_id,
                task_run_id=row.task_run_id,
                type=row.type,
                name=row.name,
                message=row.message,
                timestamp=float(row.timestamp),
                run_name=row.task_run_name if is_task else row.flow_run_name,
                flow_id=row.flow_id,
                flow_name=row.flow_name,
                deployment_id=row.deployment_id,
                deployment_name=(
                    f"{row.flow_name}/{row.deployment_name}" if row.deployment_name else None
                ),
                work_pool=row.work_pool,
                tags=_tags(row.task_tags if is_task else row.flow_tags),
                prior_type=prior[0] if prior else None,
                prior_name=prior[1] if prior else None,
            )
        )
        priors[key] = (row.type, row.name)
    return found


def _prior_states(conn: Connection, rows: Sequence[Any]) -> dict[tuple[str, str], tuple[str, str]]:
    """The state each run of ``rows`` was in before the first of them: the latest of its
    history rows stored before the batch."""
    first_id = min(int(row.id) for row in rows)
    task_ids = sorted({row.task_run_id for row in rows if row.task_run_id is not None})
    flow_ids = sorted(
        {row.flow_run_id for row in rows if row.task_run_id is None and row.flow_run_id}
    )
    priors: dict[tuple[str, str], tuple[str, str]] = {}
    for kind, ids, column, extra in (
        ("t", task_ids, state_history.c.task_run_id, []),
        ("f", flow_ids, state_history.c.flow_run_id, [state_history.c.task_run_id.is_(None)]),
    ):
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            latest = (
                sa.select(sa.func.max(state_history.c.id))
                .where(column.in_(chunk), state_history.c.id < first_id, *extra)
                .group_by(column)
            )
            query = sa.select(
                column.label("run_id"), state_history.c.type, state_history.c.name
            ).where(state_history.c.id.in_(latest))
            for found in conn.execute(query):
                priors[(kind, str(found.run_id))] = (found.type, found.name)
    return priors


def project_states(
    conn: Connection,
    gaps: dict[int, float],
    *,
    now: float | None = None,
    gap_wait: float = 0.0,
    limit: int = PROJECTION_BATCH,
) -> tuple[int, bool]:
    """One projection step in the caller's write transaction: up to ``limit`` state
    changes after the cursor made events, the cursor moved. Returns how many events
    were stored and whether more changes may be waiting (go on at once)."""
    now = time.time() if now is None else now
    cursor = read_cursor(conn, STATES_CURSOR, lock=True)
    states = unprojected_states(conn, cursor, limit)
    if not states:
        return 0, False
    stored = insert_events(conn, [state_event(state) for state in states], received=now)
    position = advance(
        cursor, [state.history_id for state in states], gaps, now=now, gap_wait=gap_wait
    )
    if position != cursor:
        write_cursor(conn, STATES_CURSOR, position, now=now)
    return len(stored), len(states) == limit and position != cursor
