"""Log lines of a flow run (and of its task runs)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from legato.schemas import LogRecord
from legato.server.dependencies import UUID_PATTERN, FlowRunId, StoreDep

router = APIRouter(tags=["logs"])


@router.get("/flow_runs/{flow_run_id}/logs")
def read_logs(
    store: StoreDep,
    flow_run_id: FlowRunId,
    task_run_id: Annotated[
        str | None, Query(pattern=UUID_PATTERN, description="Only this task run's lines.")
    ] = None,
    limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
) -> list[LogRecord]:
    """The flow run's log lines, oldest first (its task runs' lines included)."""
    store.read_flow_run(flow_run_id.lower())  # 404 for an unknown flow run
    return store.read_logs(
        flow_run_id.lower(),
        task_run_id=task_run_id.lower() if task_run_id else None,
        limit=limit,
    )
