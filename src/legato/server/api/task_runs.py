"""Task runs: read one and its state history."""

from __future__ import annotations

from fastapi import APIRouter

from legato.schemas import StateRecord, TaskRunRecord
from legato.server.dependencies import StoreDep, TaskRunId

router = APIRouter(prefix="/task_runs", tags=["task runs"])


@router.get("/{task_run_id}")
def read_task_run(store: StoreDep, task_run_id: TaskRunId) -> TaskRunRecord:
    return store.read_task_run(task_run_id.lower())


@router.get("/{task_run_id}/state_history")
def read_state_history(store: StoreDep, task_run_id: TaskRunId) -> list[StateRecord]:
    """The task run's states, oldest first."""
    store.read_task_run(task_run_id.lower())  # 404 for an unknown task run
    return store.read_state_history(task_run_id.lower())
