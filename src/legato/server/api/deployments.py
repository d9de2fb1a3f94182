"""Deployments: create or update, list, read, pause, resume, delete, and run one now.

A deployment is named ``flow/name``; ``GET /deployments/lookup?ref=`` also takes a
name only one flow uses, or an id. ``POST /deployments/{id}/runs`` checks the
parameters against the flow's signature before it stores anything (422 naming
the parameter) and answers with the Scheduled flow run it created.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from legato.schemas import FlowRunRecord
from legato.schemas.deployments import (
    BackfillRequest,
    BackfillResult,
    DeploymentRecord,
    DeploymentRunRequest,
    DeploymentSpec,
)
from legato.schemas.json_schema import warm_up
from legato.server.api.flow_runs import MAX_OFFSET, NO_NUL_PATTERN
from legato.server.dependencies import UUID_PATTERN, StoreDep
from legato.server.notify import notifier_for

router = APIRouter(prefix="/deployments", tags=["deployments"])
# The schema checker (jsonschema, RE2) is loaded and exercised with the server, not by
# the first deployment request: that first use holds the interpreter long enough to
# delay health.
warm_up()

DeploymentId = Annotated[str, Path(pattern=UUID_PATTERN, description="A deployment id (UUID).")]


class Deleted(BaseModel):
    unstarted_runs_deleted: int
    """Scheduled runs that had not started went with it; runs that started stay."""


@router.put("")
def deploy(store: StoreDep, spec: DeploymentSpec) -> DeploymentRecord:
    """Create the deployment ``flow_name/name``, or update it in place (same id)."""
    return store.deploy(spec)


@router.get("")
def list_deployments(
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[DeploymentRecord]:
    """Deployments by flow name, then name."""
    return store.read_deployments(limit=limit, offset=offset)


@router.get("/lookup")
def lookup_deployment(
    store: StoreDep,
    ref: Annotated[str, Query(min_length=1, max_length=600, pattern=NO_NUL_PATTERN)],
) -> DeploymentRecord:
    """By ``flow/name``, by a name only one flow uses, or by id."""
    return store.read_deployment(ref)


@router.get("/{deployment_id}")
def read_deployment(store: StoreDep, deployment_id: DeploymentId) -> DeploymentRecord:
    return store.read_deployment(deployment_id.lower())


@router.post("/{deployment_id}/pause")
def pause_deployment(store: StoreDep, deployment_id: DeploymentId) -> DeploymentRecord:
    """No new scheduled runs until resumed (runs made already stay)."""
    return store.set_deployment_paused(deployment_id.lower(), True)


@router.post("/{deployment_id}/resume")
def resume_deployment(store: StoreDep, deployment_id: DeploymentId) -> DeploymentRecord:
    return store.set_deployment_paused(deployment_id.lower(), False)


ScheduleRef = Annotated[
    str,
    Path(
        max_length=36,
        pattern=r"^[0-9a-fA-F-]+$",
        description="A schedule's id, or its position (1 for the first).",
    ),
]


@router.post("/{deployment_id}/schedules/{schedule}/pause")
def pause_schedule(
    store: StoreDep, deployment_id: DeploymentId, schedule: ScheduleRef
) -> DeploymentRecord:
    """No new runs from this schedule; its unstarted runs are removed."""
    return store.set_schedule_active(deployment_id.lower(), schedule, False)


@router.post("/{deployment_id}/schedules/{schedule}/resume")
def resume_schedule(
    store: StoreDep, deployment_id: DeploymentId, schedule: ScheduleRef
) -> DeploymentRecord:
    return store.set_schedule_active(deployment_id.lower(), schedule, True)


@router.delete("/{deployment_id}")
def delete_deployment(store: StoreDep, deployment_id: DeploymentId) -> Deleted:
    return Deleted(unstarted_runs_deleted=store.delete_deployment(deployment_id.lower()))


@router.post("/{deployment_id}/runs")
def run_deployment(
    store: StoreDep, deployment_id: DeploymentId, request: DeploymentRunRequest
) -> FlowRunRecord:
    """A run of the deployment, Scheduled for now (or ``scheduled_time``); workers
    waiting on its pool are woken."""
    record = store.create_deployment_run(deployment_id.lower(), request)
    notifier_for(store).poke(record.work_pool)
    return record


@router.post("/{deployment_id}/backfill")
def backfill_deployment(
    store: StoreDep, deployment_id: DeploymentId, request: BackfillRequest
) -> BackfillResult:
    """Runs for the past slots of its active schedules in [start, end), each due at its
    slot; slots that have a run already (from the scheduler or an earlier backfill) are
    skipped. 422 for start >= end, an end in the future, or more than 10,000 slots."""
    result = store.backfill_deployment(deployment_id.lower(), request.start, request.end)
    notifier_for(store).poke(store.read_deployment(deployment_id.lower()).work_pool)
    return result
