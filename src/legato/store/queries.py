"""Named read queries, returning the records of :mod:`legato.schemas`."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from legato.schemas import (
    FlowRunRecord,
    LogRecord,
    StateRecord,
    TaskRunInput,
    TaskRunRecord,
)
from legato.states import STATE_NAMES, StateType
from legato.store.tables import flow_runs, logs, state_history, task_run_inputs, task_runs


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _duration(row: RowMapping) -> float | None:
    if row["start_time"] is None or row["end_time"] is None:
        return None
    return round(float(row["end_time"]) - float(row["start_time"]), 6)


def _current_state(row: RowMapping) -> StateRecord:
    return StateRecord(
        type=StateType(row["state_type"]),
        name=row["state_name"],
        message=row["state_message"],
        timestamp=datetime.fromtimestamp(row["state_timestamp"], UTC),
    )


def _flow_run(row: RowMapping) -> FlowRunRecord:
    return FlowRunRecord(
        id=row["id"],
        name=row["name"],
        flow_name=row["flow_name"],
        state=_current_state(row),
        parameters=row["parameters"] or {},
        tags=row["tags"] or [],
        run_count=row["run_count"],
        parent_flow_run_id=row["parent_flow_run_id"],
        parent_task_run_id=row["parent_task_run_id"],
        entrypoint=row["entrypoint"],
        created=datetime.fromtimestamp(row["created"], UTC),
        start_time=_dt(row["start_time"]),
        end_time=_dt(row["end_time"]),
        duration_seconds=_duration(row),
    )


def state_filter(column_type: Any, column_name: Any, state: str) -> Any:
    """Match a state given as a type (``FAILED``) or a name (``TimedOut``), any case."""
    wanted = state.strip()
    names = {name.lower(): name for name in STATE_NAMES}
    if wanted.upper() in StateType.__members__:
        return column_type == wanted.upper()
    if wanted.lower() in names:
        return column_name == names[wanted.lower()]
    raise ValueError(
        f"unknown state {state!r}; use a state type ({', '.join(t.value for t in StateType)}) "
        f"or a state name ({', '.join(STATE_NAMES)})"
    )


def flow_runs_list(
    conn: Connection,
    *,
    flow_name: str | None,
    state: str | None,
    parent_flow_run_id: str | None,
    limit: int,
    offset: int,
) -> list[FlowRunRecord]:
    query = sa.select(flow_runs)
    if flow_name is not None:
        query = query.where(flow_runs.c.flow_name == flow_name)
    if state is not None:
        query = query.where(state_filter(flow_runs.c.state_type, flow_runs.c.state_name, state))
    if parent_flow_run_id is not None:
        query = query.where(flow_runs.c.parent_flow_run_id == parent_flow_run_id)
    query = query.order_by(flow_runs.c.created.desc(), flow_runs.c.id.desc())
    query = query.limit(limit).offset(offset)
    return [_flow_run(row) for row in conn.execute(query).mappings()]


def flow_run_by_id(conn: Connection, flow_run_id: str) -> FlowRunRecord | None:
    row = conn.execute(sa.select(flow_runs).where(flow_runs.c.id == flow_run_id)).mappings().first()
    return None if row is None else _flow_run(row)


def flow_run_ids_with_prefix(conn: Connection, prefix: str) -> list[str]:
    # Ids are lower-case hex; LIKE ignores case on SQLite but not on PostgreSQL.
    prefix = prefix.strip().lower()
    query = sa.select(flow_runs.c.id).where(flow_runs.c.id.startswith(prefix, autoescape=True))
    return list(conn.execute(query.limit(2)).scalars())


def _task_runs(conn: Connection, where: Any) -> list[TaskRunRecord]:
    rows = list(
        conn.execute(
            sa.select(task_runs).where(where).order_by(task_runs.c.created, task_runs.c.id)
        ).mappings()
    )
    if not rows:
        return []
    edges: dict[str, list[TaskRunInput]] = defaultdict(list)
    ids = [row["id"] for row in rows]
    for chunk_start in range(0, len(ids), 900):
        chunk = ids[chunk_start : chunk_start + 900]
        for edge in conn.execute(
            sa.select(
                task_run_inputs.c.task_run_id,
                task_run_inputs.c.parameter,
                task_run_inputs.c.upstream_id,
            )
            .where(task_run_inputs.c.task_run_id.in_(chunk))
            .order_by(task_run_inputs.c.id)
        ):
            edges[edge.task_run_id].append(
                TaskRunInput(parameter=edge.parameter, upstream_id=edge.upstream_id)
            )
    records = []
    for row in rows:
        inputs = edges.get(row["id"], [])
        records.append(
            TaskRunRecord(
                id=row["id"],
                flow_run_id=row["flow_run_id"],
                name=row["name"],
                task_key=row["task_key"],
                dynamic_key=row["dynamic_key"],
                state=_current_state(row),
                run_count=row["run_count"],
                tags=row["tags"] or [],
                start_time=_dt(row["start_time"]),
                end_time=_dt(row["end_time"]),
                duration_seconds=_duration(row),
                created=datetime.fromtimestamp(row["created"], UTC),
                cache_key=row["cache_key"],
                result_key=row["result_key"],
                upstream_ids=list(dict.fromkeys(edge.upstream_id for edge in inputs)),
                inputs=inputs,
                subflow_run_id=row["subflow_run_id"],
            )
        )
    return records


def task_runs_of(conn: Connection, flow_run_id: str) -> list[TaskRunRecord]:
    return _task_runs(conn, task_runs.c.flow_run_id == flow_run_id)


def task_run_by_id(conn: Connection, task_run_id: str) -> TaskRunRecord | None:
    found = _task_runs(conn, task_runs.c.id == task_run_id)
    return found[0] if found else None


def run_exists(conn: Connection, run_id: str) -> bool:
    for table in (flow_runs, task_runs):
        if conn.execute(sa.select(table.c.id).where(table.c.id == run_id)).first():
            return True
    return False


def _history_record(row: Any) -> StateRecord:
    return StateRecord(
        type=StateType(row.type),
        name=row.name,
        message=row.message,
        timestamp=datetime.fromtimestamp(row.timestamp, UTC),
        scheduled_time=_dt(row.scheduled_time),
    )


def state_history_of(conn: Connection, run_id: str) -> list[StateRecord]:
    """The history of a task run, or of a flow run (its own states, not its tasks')."""
    is_task = conn.execute(sa.select(task_runs.c.id).where(task_runs.c.id == run_id)).first()
    if is_task:
        where = state_history.c.task_run_id == run_id
    else:
        where = sa.and_(
            state_history.c.flow_run_id == run_id, state_history.c.task_run_id.is_(None)
        )
    rows = conn.execute(sa.select(state_history).where(where).order_by(state_history.c.id))
    return [_history_record(row) for row in rows]


def task_state_histories(conn: Connection, flow_run_id: str) -> dict[str, list[StateRecord]]:
    """The state history of every task run of a flow run, in one query."""
    rows = conn.execute(
        sa.select(state_history)
        .where(state_history.c.flow_run_id == flow_run_id, state_history.c.task_run_id.is_not(None))
        .order_by(state_history.c.id)
    )
    histories: dict[str, list[StateRecord]] = defaultdict(list)
    for row in rows:
        histories[row.task_run_id].append(_history_record(row))
    return dict(histories)


def logs_of(
    conn: Connection, flow_run_id: str, *, task_run_id: str | None, limit: int | None
) -> list[LogRecord]:
    query = sa.select(logs).where(logs.c.flow_run_id == flow_run_id)
    if task_run_id is not None:
        query = query.where(logs.c.task_run_id == task_run_id)
    query = query.order_by(logs.c.timestamp, logs.c.id)
    if limit is not None:
        query = query.limit(limit)
    return [
        LogRecord(
            timestamp=datetime.fromtimestamp(row.timestamp, UTC),
            level=row.level,
            logger=row.logger,
            message=row.message,
            flow_run_id=row.flow_run_id,
            task_run_id=row.task_run_id,
        )
        for row in conn.execute(query)
    ]
