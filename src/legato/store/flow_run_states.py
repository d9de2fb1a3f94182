"""Writing a flow run's state: its row's current-state columns and a history row, in
the caller's transaction. One place for what every state change of a flow run writes
(the store's checked proposals, the reaper's crashes and retries)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from legato.states import State
from legato.store.tables import flow_runs, state_history


def history_row(flow_run_id: str, task_run_id: str | None, state: State) -> dict[str, Any]:
    return {
        "flow_run_id": flow_run_id,
        "task_run_id": task_run_id,
        "type": state.type.value,
        "name": state.name,
        "message": state.message,
        "timestamp": state.timestamp,
        "scheduled_time": state.scheduled_time,
    }


def write_flow_run_state(
    conn: Connection, flow_run_id: str, state: State, fields: dict[str, Any] | None = None
) -> None:
    """Set the run's state (and ``fields``, other columns) and append it to its history.
    The caller has checked the transition and holds the row."""
    conn.execute(
        flow_runs.update()
        .where(flow_runs.c.id == flow_run_id)
        .values(
            state_type=state.type.value,
            state_name=state.name,
            state_message=state.message,
            state_timestamp=state.timestamp,
            **(fields or {}),
        )
    )
    conn.execute(state_history.insert().values(**history_row(flow_run_id, None, state)))
