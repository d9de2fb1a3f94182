"""Named read queries, returning the records of :mod:`legato.schemas`."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from legato.schemas import (
    FlowRecord,
    FlowRunFilter,
    FlowRunPage,
    FlowRunRecord,
    LogPage,
    LogRecord,
    StateRecord,
    TaskRunCount,
    TaskRunInput,
    TaskRunPage,
    TaskRunRecord,
    TaskRunSummary,
)
from legato.schemas.runs import LOG_CURSOR_PATTERN, LOG_LEVELS, levels_at_or_above
from legato.schemas.task_runs import PREVIOUS_TASK_RUN_FIELDS, PreviousTaskRun
from legato.states import STATE_NAMES, StateType
from legato.store.tables import (
    flow_run_tags,
    flow_runs,
    flows,
    logs,
    state_history,
    task_run_inputs,
    task_runs,
)


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
    state = _current_state(row)
    if state.type is StateType.SCHEDULED and row["expected_start_time"] is not None:
        # A waiting run of a deployment: its state says when it is due.
        state = state.model_copy(update={"scheduled_time": _dt(row["expected_start_time"])})
    return FlowRunRecord(
        id=row["id"],
        name=row["name"],
        flow_name=row["flow_name"],
        state=state,
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
        deployment_id=row["deployment_id"],
        work_pool=row["work_pool"],
        expected_start_time=_dt(row["expected_start_time"]),
        worker_name=row["worker_name"],
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


CURSOR_PATTERN = (
    r"^[0-9]{1,16}(?:\.[0-9]{1,20})?(?:e-[0-9]{1,3})?"
    r"_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
"""``<created>_<id>``: every string of this shape is a position (no exponent that
could overflow), so the API can promise that a cursor valid by its schema works."""


def encode_cursor(created: float, run_id: str) -> str:
    """A position in the newest-first order: the last row's (created, id).

    Keyset paging: the next page starts strictly after this row whatever was added
    meanwhile, and costs the same at page 1,000 as at page 1 (an offset does not).
    ``repr`` of a float reads back exactly.
    """
    return f"{created!r}_{run_id}"


def decode_cursor(cursor: str) -> tuple[float, str]:
    if not re.match(CURSOR_PATTERN, cursor):
        raise ValueError(
            f"invalid cursor {cursor!r}: pass the next cursor of an earlier page unchanged"
        )
    created, run_id = cursor.split("_")
    return float(created), run_id.lower()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _epoch(value: datetime) -> float:
    # A naive datetime is read as UTC, as the API documents. Subtracting (rather
    # than .timestamp()) cannot overflow near year 1 or 9999.
    return ((value if value.tzinfo else value.replace(tzinfo=UTC)) - _EPOCH).total_seconds()


def flow_runs_page(
    conn: Connection,
    where: FlowRunFilter,
    *,
    limit: int,
    offset: int = 0,
    cursor: str | None = None,
) -> FlowRunPage:
    """One page of flow runs in ``where.order``: newest first by (created, id), by
    (start or due time, id), or soonest due first.

    With tags in created order, the first tag's rows in ``flow_run_tags`` drive the walk
    (its index is ordered by created) and further tags are checked per run; in the other
    orders every tag is checked per run.
    """
    created, run_id = flow_runs.c.created, flow_runs.c.id
    query = sa.select(flow_runs)
    checked = where.tags
    if where.tags and where.order == "created":
        first = flow_run_tags.alias("first_tag")
        query = query.join(
            first, sa.and_(first.c.flow_run_id == run_id, first.c.tag == where.tags[0])
        )
        created, run_id = first.c.created, first.c.flow_run_id
        checked = where.tags[1:]
    for tag in checked:
        other = flow_run_tags.alias()
        query = query.where(
            sa.exists().where(other.c.flow_run_id == flow_runs.c.id, other.c.tag == tag)
        )
    if where.flow_name is not None:
        query = query.where(flow_runs.c.flow_name == where.flow_name)
    if where.state is not None:
        query = query.where(
            state_filter(flow_runs.c.state_type, flow_runs.c.state_name, where.state)
        )
    if where.parent_flow_run_id is not None:
        query = query.where(flow_runs.c.parent_flow_run_id == where.parent_flow_run_id)
    if where.created_after is not None:
        query = query.where(created >= _epoch(where.created_after))
    if where.created_before is not None:
        query = query.where(created < _epoch(where.created_before))
    if where.due_before is not None:
        query = query.where(start_or_due < _epoch(where.due_before))
    if where.due_after is not None:
        query = query.where(
            flow_runs.c.start_time.is_(None), start_or_due >= _epoch(where.due_after)
        )
    # The key the page is ordered by; a cursor is the last row's (key, id).
    key = created if where.order == "created" else start_or_due.label("sort_key")
    if cursor is not None:
        after_key, after_id = decode_cursor(cursor)
        # The first condition alone bounds the index range; the second breaks ties.
        if where.order == "due":
            query = query.where(
                start_or_due >= after_key, sa.or_(start_or_due > after_key, run_id > after_id)
            )
        else:
            sort = created if where.order == "created" else start_or_due
            query = query.where(sort <= after_key, sa.or_(sort < after_key, run_id < after_id))
    if where.order == "created":
        query = query.order_by(created.desc(), run_id.desc())
    elif where.order == "start":
        query = query.add_columns(key).order_by(start_or_due.desc(), run_id.desc())
    else:
        query = query.add_columns(key).order_by(start_or_due.asc(), run_id.asc())
    rows = list(conn.execute(query.limit(limit + 1).offset(offset)).mappings())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor(
            last["created"] if where.order == "created" else last["sort_key"], last["id"]
        )
    return FlowRunPage(flow_runs=[_flow_run(row) for row in rows], next_cursor=next_cursor)


start_or_due = sa.func.coalesce(
    flow_runs.c.start_time, flow_runs.c.expected_start_time, flow_runs.c.created
)
"""When a run started, or is due to start (or was made, for a run with neither): what
``legato runs ls`` sorts by (no index serves it: see migration 0007)."""


def flow_runs_named(conn: Connection, name: str) -> list[Any]:
    """(id, flow_name, created) of the flow runs called ``name``, newest first (a few)."""
    query = (
        sa.select(flow_runs.c.id, flow_runs.c.flow_name, flow_runs.c.created)
        .where(flow_runs.c.name == name)
        .order_by(flow_runs.c.created.desc())
        .limit(6)
    )
    return list(conn.execute(query))


def flows_list(conn: Connection, *, limit: int, offset: int) -> list[FlowRecord]:
    query = sa.select(flows).order_by(flows.c.name).limit(limit).offset(offset)
    return [_flow(row) for row in conn.execute(query).mappings()]


def flow_by_name(conn: Connection, name: str) -> FlowRecord | None:
    row = conn.execute(sa.select(flows).where(flows.c.name == name)).mappings().first()
    return None if row is None else _flow(row)


def _flow(row: RowMapping) -> FlowRecord:
    return FlowRecord(
        id=row["id"], name=row["name"], created=datetime.fromtimestamp(row["created"], UTC)
    )


def flow_run_by_id(conn: Connection, flow_run_id: str) -> FlowRunRecord | None:
    row = conn.execute(sa.select(flow_runs).where(flow_runs.c.id == flow_run_id)).mappings().first()
    return None if row is None else _flow_run(row)


def flow_run_ids_with_prefix(conn: Connection, prefix: str) -> list[str]:
    # Ids are lower-case hex; LIKE ignores case on SQLite but not on PostgreSQL.
    prefix = prefix.strip().lower()
    query = sa.select(flow_runs.c.id).where(flow_runs.c.id.startswith(prefix, autoescape=True))
    return list(conn.execute(query.limit(6)).scalars())


def _task_runs(conn: Connection, where: Any) -> list[TaskRunRecord]:
    return _task_run_records(conn, _task_run_rows(conn, where))


def _task_run_rows(
    conn: Connection,
    where: Any,
    *,
    after: tuple[float, str] | None = None,
    limit: int | None = None,
) -> list[RowMapping]:
    """Task-run rows in creation order, from just after the (created, id) ``after``."""
    query = sa.select(task_runs).where(where)
    if after is not None:
        created, run_id = after
        # The first condition alone bounds the index range; the second breaks ties.
        query = query.where(
            task_runs.c.created >= created,
            sa.or_(task_runs.c.created > created, task_runs.c.id > run_id),
        )
    query = query.order_by(task_runs.c.created, task_runs.c.id)
    if limit is not None:
        query = query.limit(limit)
    return list(conn.execute(query).mappings())


def _task_run_records(conn: Connection, rows: list[RowMapping]) -> list[TaskRunRecord]:
    """The records of ``rows``, with their graph edges."""
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


def task_runs_page(
    conn: Connection, flow_run_id: str, *, limit: int, cursor: str | None = None
) -> TaskRunPage:
    """One page of a flow run's task runs in creation order, keyset on (created, id):
    page 100 of a run with 100,000 task runs costs what page 1 does."""
    after = decode_cursor(cursor) if cursor is not None else None
    rows = _task_run_rows(
        conn, task_runs.c.flow_run_id == flow_run_id, after=after, limit=limit + 1
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1]["created"], rows[-1]["id"])
    found = _task_run_records(conn, rows)
    return TaskRunPage(task_runs=found, next_cursor=next_cursor)


_DYNAMIC_SUFFIX = re.compile(r"-[0-9]+$")


def task_run_summary(conn: Connection, flow_run_id: str) -> TaskRunSummary:
    """The flow run's task runs counted by task and state, grouped in SQL (a run with
    100,000 task runs answers a few rows)."""
    query = (
        sa.select(
            task_runs.c.task_key,
            task_runs.c.state_type,
            task_runs.c.state_name,
            sa.func.count().label("n"),
            sa.func.min(task_runs.c.name).label("name"),
            sa.func.min(task_runs.c.created).label("first"),
        )
        .where(task_runs.c.flow_run_id == flow_run_id)
        .group_by(task_runs.c.task_key, task_runs.c.state_type, task_runs.c.state_name)
    )
    groups = list(conn.execute(query))
    first: dict[str, float] = {}
    names: dict[str, str] = {}
    for group in groups:
        first[group.task_key] = min(first.get(group.task_key, group.first), group.first)
        names[group.task_key] = min(names.get(group.task_key, group.name), group.name)
    groups.sort(key=lambda g: (first[g.task_key], g.task_key, g.state_type, g.state_name))
    return TaskRunSummary(
        flow_run_id=flow_run_id,
        task_runs=sum(group.n for group in groups),
        counts=[
            TaskRunCount(
                task=_DYNAMIC_SUFFIX.sub("", names[group.task_key]),
                task_key=group.task_key,
                state_type=StateType(group.state_type),
                state_name=group.state_name,
                count=group.n,
            )
            for group in groups
        ],
    )


def previous_task_runs(conn: Connection, flow_run_id: str) -> list[PreviousTaskRun]:
    """The task runs a flow run's earlier attempts left (what a resume reuses)."""
    columns = [task_runs.c[name] for name in PREVIOUS_TASK_RUN_FIELDS]
    rows = conn.execute(sa.select(*columns).where(task_runs.c.flow_run_id == flow_run_id))
    return [PreviousTaskRun.from_stored(row) for row in rows.mappings()]


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


def task_state_histories(
    conn: Connection, flow_run_id: str, task_run_ids: list[str] | None = None
) -> dict[str, list[StateRecord]]:
    """The state history of every task run of a flow run, in one query; or of the task
    runs ``task_run_ids`` of it (a page of them), a few hundred per query."""
    histories: dict[str, list[StateRecord]] = defaultdict(list)
    if task_run_ids is None:
        where = [state_history.c.task_run_id.is_not(None)]
        chunks: list[list[str] | None] = [None]
    else:
        chunks = [task_run_ids[i : i + 500] for i in range(0, len(task_run_ids), 500)]
    for chunk in chunks:
        if chunk is not None:
            where = [state_history.c.task_run_id.in_(chunk)]
        rows = conn.execute(
            sa.select(state_history)
            .where(state_history.c.flow_run_id == flow_run_id, *where)
            .order_by(state_history.c.id)
        )
        for row in rows:
            histories[row.task_run_id].append(_history_record(row))
    return dict(histories)


LOG_PAGE_TEXT = 4_000_000
"""Message characters a log page holds past its first line: a page is bounded in bytes
as well as lines, whatever the lines' length."""


def logs_page(
    conn: Connection,
    flow_run_id: str,
    *,
    task_run_id: str | None = None,
    level: str | int | None = None,
    limit: int,
    cursor: str | None = None,
) -> LogPage:
    """One page of a flow run's log lines in the order stored, keyset on the line id.

    The rows are fetched as they are read (a server-side cursor on PostgreSQL) and the
    page ends at ``limit`` lines or ``LOG_PAGE_TEXT`` characters, so reading a run that
    printed a million lines holds one bounded page in memory, never the run.
    """
    query = sa.select(logs, task_runs.c.name.label("task_run_name")).select_from(
        logs.outerjoin(task_runs, task_runs.c.id == logs.c.task_run_id)
    )
    if task_run_id is None:
        query = query.where(logs.c.flow_run_id == flow_run_id)
    else:
        # One task run's lines walk (task_run_id, id); the flow run is checked per line,
        # through an expression that keeps SQLite from walking the whole run's index.
        query = query.where(
            logs.c.task_run_id == task_run_id,
            sa.func.coalesce(logs.c.flow_run_id, "") == flow_run_id,
        )
    return _log_page(conn, query, level=level, limit=limit, cursor=cursor)


def decode_log_cursor(cursor: str) -> int:
    if not re.match(LOG_CURSOR_PATTERN, cursor):
        raise ValueError(
            f"invalid cursor {cursor!r}: pass the next cursor of an earlier page unchanged"
        )
    return int(cursor)


# -- standalone task runs (called outside any flow) --------------------------------------


def standalone_task_runs_page(
    conn: Connection, *, limit: int, cursor: str | None = None
) -> TaskRunPage:
    """One page of the task runs that have no flow run, newest first, keyset on
    (created, id): the index on (flow_run_id, created, id) serves ``IS NULL`` too."""
    created, run_id = task_runs.c.created, task_runs.c.id
    query = sa.select(task_runs).where(task_runs.c.flow_run_id.is_(None))
    if cursor is not None:
        after_key, after_id = decode_cursor(cursor)
        # The first condition alone bounds the index range; the second breaks ties.
        query = query.where(created <= after_key, sa.or_(created < after_key, run_id < after_id))
    query = query.order_by(created.desc(), run_id.desc()).limit(limit + 1)
    rows = list(conn.execute(query).mappings())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1]["created"], rows[-1]["id"])
    return TaskRunPage(task_runs=_task_run_records(conn, rows), next_cursor=next_cursor)


def task_run_ids_with_prefix(conn: Connection, prefix: str) -> list[str]:
    """Up to six ids of task runs (of flows or not) starting with ``prefix``."""
    prefix = prefix.strip().lower()
    query = sa.select(task_runs.c.id).where(task_runs.c.id.startswith(prefix, autoescape=True))
    return list(conn.execute(query.limit(6)).scalars())


def standalone_task_runs_named(conn: Connection, name: str) -> list[Any]:
    """(id, created) of the standalone task runs called ``name``, newest first (a few).

    Only task runs with no flow run: inside flows, names like ``add-0`` repeat in
    every run and would never pick one out."""
    query = (
        sa.select(task_runs.c.id, task_runs.c.created)
        .where(task_runs.c.flow_run_id.is_(None), task_runs.c.name == name)
        .order_by(task_runs.c.created.desc())
        .limit(6)
    )
    return list(conn.execute(query))


def task_run_logs_page(
    conn: Connection,
    task_run_id: str,
    *,
    level: str | int | None = None,
    limit: int,
    cursor: str | None = None,
) -> LogPage:
    """One page of one task run's log lines in the order stored, keyset on the line id
    (walks the index on (task_run_id, id)); for a task run with or without a flow run.
    Bounded like :func:`logs_page`."""
    query = (
        sa.select(logs, task_runs.c.name.label("task_run_name"))
        .select_from(logs.outerjoin(task_runs, task_runs.c.id == logs.c.task_run_id))
        .where(logs.c.task_run_id == task_run_id)
    )
    return _log_page(conn, query, level=level, limit=limit, cursor=cursor)


def _log_page(
    conn: Connection, query: Any, *, level: str | int | None, limit: int, cursor: str | None
) -> LogPage:
    kept = levels_at_or_above(level)
    if kept is not None:
        # A level legato cannot rank (a custom one) is shown rather than hidden.
        query = query.where(sa.or_(logs.c.level.in_(kept), logs.c.level.not_in(list(LOG_LEVELS))))
    if cursor is not None:
        # Bound as a BIGINT: a cursor past the column's range (int4 on PostgreSQL) then
        # finds no line instead of failing the query ("integer out of range").
        query = query.where(logs.c.id > sa.literal(decode_log_cursor(cursor), sa.BigInteger))
    query = query.order_by(logs.c.id).limit(limit + 1).execution_options(yield_per=256)
    lines: list[LogRecord] = []
    text = 0
    more = False
    result = conn.execute(query)
    try:
        for row in result:
            if len(lines) == limit or (lines and text + len(row.message) > LOG_PAGE_TEXT):
                more = True
                break
            text += len(row.message)
            lines.append(
                LogRecord(
                    timestamp=datetime.fromtimestamp(row.timestamp, UTC),
                    level=row.level,
                    logger=row.logger,
                    message=row.message,
                    flow_run_id=row.flow_run_id,
                    task_run_id=row.task_run_id,
                    task_run_name=row.task_run_name,
                    id=row.id,
                )
            )
    finally:
        result.close()
    return LogPage(logs=lines, next_cursor=str(lines[-1].id) if more else None)
