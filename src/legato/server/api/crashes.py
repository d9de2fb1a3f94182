"""What a worker calls when a flow-run process it launched ended without a final state.

``POST /flow_runs/{id}/crash`` marks the run Crashed (Cancelled if it was Cancelling)
and reschedules it when its deployment's retries allow, exactly as the server's reaper
does for a worker that stopped heartbeating (:mod:`legato.store.reaping`). Only the
worker holding the run may crash it; for a run it no longer holds (it finished, or was
reaped and claimed by another worker) the answer is ``state_name: null`` and nothing
changes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from legato.schemas.deployments import NAME_PATTERN
from legato.server.dependencies import FlowRunId, StoreDep

router = APIRouter(tags=["workers"])


class CrashRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    worker_name: Annotated[str, Field(min_length=1, max_length=255, pattern=NAME_PATTERN)]
    message: Annotated[str, Field(min_length=1, max_length=10_000)]
    """How the run's process ended, for the Crashed state's message."""


class CrashAnswer(BaseModel):
    state_name: str | None
    """Crashed, AwaitingRetry (crashed and rescheduled) or Cancelled; null: left alone."""
    crashes: int = 0
    retries: int = 0
    message: str | None = None


@router.post("/flow_runs/{flow_run_id}/crash")
def crash_flow_run(store: StoreDep, flow_run_id: FlowRunId, request: CrashRequest) -> CrashAnswer:
    """End a run whose process died under its worker: Crashed, then Scheduled again
    (AwaitingRetry) while its deployment's retries allow; Cancelled if it was Cancelling."""
    outcome = store.crash_flow_run(
        flow_run_id.lower(), request.message, worker_name=request.worker_name
    )
    if outcome is None:
        return CrashAnswer(state_name=None)
    if outcome.state_name == "AwaitingRetry" and outcome.work_pool:
        from legato.server.notify import notifier_for

        notifier_for(store).poke(outcome.work_pool)
    return CrashAnswer(
        state_name=outcome.state_name,
        crashes=outcome.crashes,
        retries=outcome.retries,
        message=outcome.message,
    )
