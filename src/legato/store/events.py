"""Storing, reading and pruning events.

The event feed has two sources. Events stored as such (sent by clients and webhooks,
deployment and work-pool changes) are rows of ``events``, numbered by ``seq`` in the
order stored. A run's state changes are not copied: each ``state_history`` row *is* an
event (``legato.flow-run.Failed`` and so on, :mod:`legato.event_rules.state_events`),
made when it is read. Copying them would cost every task three more rows and the JSON
to fill them - measured, it more than doubled a flow's overhead in client mode - while
most are never read. A read merges the two sources by time, each in its own order, and
its cursor is the place reached in both (:class:`~legato.schemas.events.EventCursor`).

A cursor is only safe if nothing can appear behind it later, so on PostgreSQL every
transaction that stores events takes one advisory lock first and holds it to its
commit: seqs are then committed in the order they were handed out (SQLite has one
writer at a time anyway). Keep event writes at the end of a transaction. State ids can
commit out of order on PostgreSQL; a reader that must see every one reads up to a
horizon (``state_horizon``: the automation service's, a second behind).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from legato.event_rules.patterns import is_literal, literal_prefix, matches, matches_any
from legato.event_rules.state_events import NewEvent, StoredState, state_event
from legato.schemas.events import (
    RESOURCE_ID,
    RESOURCE_ROLE,
    EventCursor,
    EventFilter,
    EventRecord,
)
from legato.store.tables import (
    deployments,
    event_resources,
    events,
    flow_runs,
    state_history,
    task_runs,
)
from legato.text import loads_json

EVENTS_LOCK = 7461627
"""The PostgreSQL advisory lock every event-storing transaction holds to its commit."""

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


def latest_cursor(conn: Connection) -> EventCursor:
    """The place after every event stored now (where a live stream from now starts)."""
    seq = conn.execute(sa.select(sa.func.max(events.c.seq))).scalar()
    state = conn.execute(sa.select(sa.func.max(state_history.c.id))).scalar()
    return EventCursor(int(seq or 0), int(state or 0))


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
        elif pattern.strip("*"):
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
            if matches(spec, record.resource_id):
                return True
        elif label[0] in record.resource and matches(label[1], record.resource[label[0]]):
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


def _could_match(pattern: str, prefix: str) -> bool:
    """Whether ``pattern`` may match some text starting with ``prefix``."""
    literal = literal_prefix(pattern)
    if literal.startswith(prefix):
        return is_literal(pattern) is False or len(literal) >= len(prefix)
    return prefix.startswith(literal) and not is_literal(pattern)


# The two sources of the feed: what each can hold, the SQL that narrows each by a filter.

_STATE_PREFIXES = {"flow-run": "legato.flow-run.", "task-run": "legato.task-run."}


def _state_kinds(filt: EventFilter) -> set[str]:
    """Which kinds of state events (flow-run, task-run) ``filt`` may keep."""
    kinds = set(_STATE_PREFIXES)
    if filt.names:
        kinds = {k for k in kinds if any(_could_match(n, _STATE_PREFIXES[k]) for n in filt.names)}
    ids = [spec for spec in filt.resources if _label_filter(spec) is None]
    if ids and len(ids) == len(filt.resources):
        kinds = {k for k in kinds if any(_could_match(i, _STATE_PREFIXES[k]) for i in ids)}
    return kinds


def _state_where(filt: EventFilter, kinds: set[str]) -> list[Any]:
    history = state_history
    where: list[Any] = []
    if kinds == {"flow-run"}:
        where.append(history.c.task_run_id.is_(None))
    elif kinds == {"task-run"}:
        where.append(history.c.task_run_id.is_not(None))
    ids = [spec for spec in filt.resources if _label_filter(spec) is None]
    if ids and len(ids) == len(filt.resources) and all(is_literal(i) for i in ids):
        exact = []
        for resource_id in ids:
            kind, _, run_id = resource_id.removeprefix("legato.").partition(".")
            if kind == "flow-run":
                exact.append(
                    sa.and_(history.c.flow_run_id == run_id, history.c.task_run_id.is_(None))
                )
            elif kind == "task-run":
                exact.append(history.c.task_run_id == run_id)
        where.append(sa.or_(*exact) if exact else sa.false())
    if filt.related and all(is_literal(r) for r in filt.related):
        related: list[Any] = []
        for resource_id in filt.related:
            kind, _, value = resource_id.removeprefix("legato.").partition(".")
            column = {
                "flow-run": history.c.flow_run_id,
                "flow": flow_runs.c.flow_id,
                "deployment": flow_runs.c.deployment_id,
                "work-pool": flow_runs.c.work_pool,
            }.get(kind)
            if column is None or not resource_id.startswith("legato."):
                related = []  # a tag, or another system's resource: checked in Python
                break
            related.append(column == value)
        if related:
            where.append(sa.or_(*related))
    if filt.since is not None:
        where.append(history.c.timestamp >= filt.since)
    if filt.until is not None:
        where.append(history.c.timestamp < filt.until)
    return where


def _event_where(filt: EventFilter) -> list[Any]:
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
    return where


def _stored_record(row: Any) -> tuple[float, int, EventRecord]:
    return (
        float(row.occurred),
        int(row.seq),
        # Rows legato wrote and read back: built without validating them again (a live
        # stream reads thousands a second).
        EventRecord.model_construct(
            cursor="",
            id=uuid.UUID(row.id),
            event=row.event,
            occurred=datetime.fromtimestamp(row.occurred, UTC),
            received=datetime.fromtimestamp(row.received, UTC),
            resource=loads_json(row.resource),
            related=loads_json(row.related),
            payload=loads_json(row.payload),
        ),
    )


def _state_record(state: StoredState) -> tuple[float, int, EventRecord]:
    new = state_event(state)
    moment = datetime.fromtimestamp(new.occurred, UTC)
    record = EventRecord.model_construct(
        cursor="",
        id=uuid.UUID(new.id),
        event=new.event,
        occurred=moment,
        received=moment,
        resource=new.resource,
        related=new.related,
        payload=new.payload,
    )
    return new.occurred, state.history_id, record


def read_events(
    conn: Connection, filt: EventFilter, *, limit: int, state_horizon: int | None = None
) -> tuple[list[EventRecord], EventCursor, bool]:
    """One page of the events ``filt`` keeps, oldest first (newest first if asked): the
    events (each with its cursor), the place reached (go on from it), and whether more
    may follow."""
    newest_first = filt.newest_first
    start = filt.before if newest_first else filt.after
    if start is None:
        # Past the last of each (a state id is a 32-bit integer on PostgreSQL).
        start = EventCursor(2**62, 2**31 - 1) if newest_first else EventCursor(0, 0)
    seq, state = start
    kinds = _state_kinds(filt)
    event_where = _event_where(filt)
    state_where = _state_where(filt, kinds) if kinds else []
    if state_horizon is not None:
        state_where.append(state_history.c.id <= state_horizon)
    chunk = min(SCAN_CHUNK, max(2 * limit, 20))
    found: list[EventRecord] = []
    scanned = 0
    while True:
        seq_bound = events.c.seq < seq if newest_first else events.c.seq > seq
        stored_rows = conn.execute(
            sa.select(events)
            .where(*event_where, seq_bound)
            .order_by(events.c.seq.desc() if newest_first else events.c.seq)
            .limit(chunk)
        ).all()
        stored = [_stored_record(row) for row in stored_rows]
        states: list[tuple[float, int, EventRecord]] = []
        state_rows: Sequence[Any] = []
        if kinds:
            bound = state_history.c.id < state if newest_first else state_history.c.id > state
            state_rows = conn.execute(
                _state_query([*state_where, bound], newest_first, chunk)
            ).all()
            states = [_state_record(one) for one in stored_states(conn, state_rows)]
            if newest_first:
                states.reverse()
        more_stored = len(stored_rows) == chunk
        more_states = len(state_rows) == chunk
        i = j = 0
        while i < len(stored) or j < len(states):
            if (i == len(stored) and more_stored) or (j == len(states) and more_states):
                break  # a source's chunk ran out before its rows did: read on from here
            take_stored = j == len(states) or (
                i < len(stored)
                and (stored[i][0] >= states[j][0] if newest_first else stored[i][0] <= states[j][0])
            )
            if take_stored:
                _, seq, record = stored[i]
                i += 1
            else:
                _, state, record = states[j]
                j += 1
            scanned += 1
            if _keeps(filt, record):
                record.cursor = EventCursor(seq, state).text()
                found.append(record)
                if len(found) >= limit:
                    return found, EventCursor(seq, state), True
        if not more_stored and not more_states:
            return found, EventCursor(seq, state), False
        if scanned >= MAX_SCANNED:
            return found, EventCursor(seq, state), True


def _tags(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = loads_json(value)
    if not isinstance(value, list):
        return ()
    return tuple(str(tag) for tag in value)


def _state_query(where: list[Any], newest_first: bool, limit: int) -> Any:
    history = state_history
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
        .where(*where)
        .order_by(history.c.id.desc() if newest_first else history.c.id)
        .limit(limit)
    )
    return query


def stored_states(conn: Connection, rows: Sequence[Any]) -> list[StoredState]:
    """History rows (of :func:`_state_query`) with their runs' names, flow, deployment,
    work pool, tags and the state each came from."""
    if not rows:
        return []
    rows = sorted(rows, key=lambda row: int(row.id))
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
