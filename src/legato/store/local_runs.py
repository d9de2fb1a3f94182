"""Local runs whose process died: found on their host, marked Crashed, made retryable.

A flow run called from code (``python my_flow.py``, no worker) records the process
that runs it (:mod:`legato.processes`). Nobody heartbeats it, so when that process is
killed outright (kill -9, the OOM killer) the run would stay Running forever, and
``legato runs retry`` would refuse it. Any legato command or server on the same host
calls :meth:`legato.store.Store.reap_gone_local_runs`: one indexed query for the unfinished
local runs of the host, a look-up of each one's process, and for each whose process is
gone the same crash as a dead worker's run (Crashed, or Cancelled if it was
Cancelling; rescheduled if its deployment retries it), with its unfinished task runs
ending the same way. Runs of other hosts are never touched: a pid means nothing there.

The crash is written on the locked row after checking that it still names the same
process and is still unfinished and held by no worker, so a run that was retried by
another process meanwhile (which records itself) is left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from legato.processes import NON_FINAL_VALUES
from legato.states import State, StateType
from legato.store.reaping import CrashOutcome, crash_locked
from legato.store.state_door import StateDoor
from legato.store.tables import flow_runs

_PROCESS_COLUMNS = ("process_host", "process_pid", "process_started")


def read_local_runs(conn: Connection, host: str) -> list[dict[str, Any]]:
    """The unfinished runs held by no worker whose process was recorded on ``host``
    (one query on the (process_host, state_type) index)."""
    rows = conn.execute(
        sa.select(
            flow_runs.c.id,
            flow_runs.c.state_type,
            flow_runs.c.worker_name,
            *(flow_runs.c[name] for name in _PROCESS_COLUMNS),
        ).where(
            flow_runs.c.process_host == host,
            flow_runs.c.state_type.in_(NON_FINAL_VALUES),
            flow_runs.c.worker_name.is_(None),
        )
    ).mappings()
    return [dict(row) for row in rows]


def crash_local_run(
    door: StateDoor, recorded: Mapping[str, Any], message: str, now: float
) -> CrashOutcome | None:
    """Crash the local run ``recorded`` (its id and process columns as read) and its
    unfinished task runs, if the row still names that process, is unfinished and is
    held by no worker; None (rolled back, nothing written) otherwise."""
    flow_run_id = str(recorded["id"])
    # Every column: the crash shared with workers' runs reads what it needs.
    query = sa.select(flow_runs).where(flow_runs.c.id == flow_run_id)
    if door.conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    row = door.conn.execute(query).first()
    unchanged = (
        row is not None
        and row.state_type in NON_FINAL_VALUES
        and row.worker_name is None
        and all(getattr(row, name) == recorded[name] for name in _PROCESS_COLUMNS)
    )
    if not unchanged:
        door.rollback()
        return None
    outcome = crash_locked(door, flow_run_id, row, message, now)
    ending = StateType.CANCELLED if outcome.state_name == "Cancelled" else StateType.CRASHED
    door.end_task_runs(
        flow_run_id,
        State(ending, ending.value.title(), f"the flow run crashed: {message}", now),
        NON_FINAL_VALUES,
    )
    if outcome.state_name == "AwaitingRetry":  # rescheduled: no process runs it now
        door.conn.execute(
            flow_runs.update()
            .where(flow_runs.c.id == flow_run_id)
            .values(dict.fromkeys(_PROCESS_COLUMNS))
        )
    return outcome
