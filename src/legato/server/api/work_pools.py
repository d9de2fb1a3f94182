"""What workers call: claim due runs of a pool, and heartbeat the runs they hold.

``POST /work_pools/{pool}/claim`` answers with the runs it moved to Pending for
that worker (none when nothing is due or the pool is paused); the server's clock
decides what is due. ``POST /workers/heartbeat`` answers with each held run's
state type, so a worker learns of a cancel on its next heartbeat.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from legato.schemas import FlowRunRecord
from legato.schemas.deployments import NAME_PATTERN
from legato.server.dependencies import UUID_PATTERN, StoreDep

router = APIRouter(tags=["workers"])

WorkerName = Annotated[str, Field(min_length=1, max_length=255, pattern=NAME_PATTERN)]
PoolName = Annotated[
    str, Path(min_length=1, max_length=255, pattern=NAME_PATTERN, description="A work pool name.")
]


class ClaimRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    worker_name: WorkerName
    limit: Annotated[int, Field(ge=1, le=1000)] = 1


class HeartbeatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    worker_name: WorkerName
    flow_run_ids: Annotated[
        list[Annotated[str, Field(pattern=UUID_PATTERN)]], Field(max_length=10_000)
    ] = []


class HeartbeatAnswer(BaseModel):
    states: dict[str, str]
    """State type of each run the worker holds, by id (runs it does not hold are left out)."""


@router.post("/work_pools/{pool}/claim")
def claim_flow_runs(store: StoreDep, pool: PoolName, request: ClaimRequest) -> list[FlowRunRecord]:
    """Due Scheduled or Late runs of ``pool``, earliest first, now Pending and held by
    ``worker_name``; each run is handed to one worker only."""
    return store.claim_flow_runs(pool, request.worker_name, request.limit)


@router.post("/workers/heartbeat")
def heartbeat(store: StoreDep, request: HeartbeatRequest) -> HeartbeatAnswer:
    ids = [run_id.lower() for run_id in request.flow_run_ids]
    return HeartbeatAnswer(states=store.heartbeat(ids, request.worker_name))
