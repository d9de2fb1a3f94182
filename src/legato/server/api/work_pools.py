"""What workers call: claim due runs of a pool, and heartbeat the runs they hold.

``POST /work_pools/{pool}/claim`` answers with the runs it moved to Pending for
that worker (none when nothing is due or the pool is paused); the server's clock
decides what is due. With ``wait`` (seconds, at most 30) a claim that finds nothing
waits until a run of the pool is made or falls due (see :mod:`legato.server.notify`),
so an idle worker starts a triggered run at once instead of on its next poll. ``POST /workers/heartbeat`` answers with each held run's
state type; ``POST /workers/held_states`` answers the same without writing, and a
worker asks it twice a second, so that it learns of a cancel within half a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from legato.schemas.claims import ClaimedFlowRun
from legato.schemas.concurrency import WorkPoolLimit, WorkPoolRecord, WorkPoolSpec
from legato.schemas.deployments import NAME_PATTERN
from legato.server.dependencies import UUID_PATTERN, StoreDep
from legato.server.errors import ErrorBody
from legato.server.notify import notifier_for
from legato.store.wakeups import next_due_time
from legato.store.work_pools import WorkPoolExists

router = APIRouter(tags=["workers"])

MAX_CLAIM_WAIT = 30.0
"""Longest a claim waits; a worker asks again after it (and proxies keep the line open)."""
DISCONNECT_CHECK = 1.0
RETRY_WHILE_DUE = 1.0
"""How often a waiting claim looks again while runs are due but it got none (the pool is
paused, or another worker holds them)."""

WorkerName = Annotated[str, Field(min_length=1, max_length=255, pattern=NAME_PATTERN)]
PoolName = Annotated[
    str, Path(min_length=1, max_length=255, pattern=NAME_PATTERN, description="A work pool name.")
]


class ClaimRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    worker_name: WorkerName
    limit: Annotated[int, Field(ge=1, le=1000)] = 1
    wait: Annotated[float, Field(ge=0, le=MAX_CLAIM_WAIT)] = 0.0
    """Seconds to wait for a due run when none is due now (0: answer at once)."""


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
async def claim_flow_runs(
    store: StoreDep, pool: PoolName, request: ClaimRequest, http: Request
) -> list[ClaimedFlowRun]:
    """Due Scheduled or Late runs of ``pool``, earliest first, now Pending and held by
    ``worker_name``; each run is handed to one worker only, with the token of this
    attempt (for the worker to hand to the run's process, never to show). With ``wait``, an empty
    answer comes only after that many seconds without a run falling due."""
    claim = functools.partial(store.claim_flow_runs, pool, request.worker_name, request.limit)
    if request.wait <= 0:
        return await run_in_threadpool(claim)
    notifier = notifier_for(store)
    deadline = time.monotonic() + request.wait
    while True:
        # Subscribed before claiming: a run made between the claim and the sleep wakes it.
        with notifier.subscription(pool) as poked:
            runs = await run_in_threadpool(claim)
            remaining = deadline - time.monotonic()
            if runs or remaining <= 0:
                return runs
            due = await run_in_threadpool(next_due_time, store, pool)
            if due is not None:
                until_due = due - time.time()
                remaining = min(remaining, until_due + 0.005 if until_due > 0 else RETRY_WHILE_DUE)
            if not await _sleep_unless_gone(poked, remaining, http):
                return []  # the worker is gone: claiming now would strand the runs


async def _sleep_unless_gone(poked: asyncio.Event, seconds: float, http: Request) -> bool:
    """Sleep until poked or ``seconds`` pass; False as soon as the client has gone away
    (looked at every second, so a stopped worker does not hold up the server's shutdown)."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(poked.wait(), min(left, DISCONNECT_CHECK))
            return True
        if await http.is_disconnected():
            return False


@router.post("/workers/heartbeat")
def heartbeat(store: StoreDep, request: HeartbeatRequest) -> HeartbeatAnswer:
    ids = [run_id.lower() for run_id in request.flow_run_ids]
    return HeartbeatAnswer(states=store.heartbeat(ids, request.worker_name))


class WorkerAnnouncement(BaseModel):
    worker_name: WorkerName
    pool: Annotated[str, Field(min_length=1, max_length=255, pattern=NAME_PATTERN)]
    status: Literal["started", "stopped"]


@router.post("/workers/announce", status_code=204)
def announce_worker(store: StoreDep, request: WorkerAnnouncement) -> None:
    """A worker started or stopped: the event ``legato.worker.started``/``stopped``
    (automations can watch for it)."""
    from legato.event_rules.resource_events import worker_event

    store.events.emit_new([worker_event(request.status, request.worker_name, request.pool)])


@router.post("/workers/held_states")
def held_states(store: StoreDep, request: HeartbeatRequest) -> HeartbeatAnswer:
    """What ``/workers/heartbeat`` answers, changing nothing: a worker asks it twice a
    second for the runs it holds, so that it stops a cancelled run at once."""
    ids = [run_id.lower() for run_id in request.flow_run_ids]
    return HeartbeatAnswer(states=store.held_states(ids, request.worker_name))


# -- work pools and their concurrency limits ------------------------------------------


@router.get("/work_pools")
def read_work_pools(store: StoreDep) -> list[WorkPoolRecord]:
    """Every work pool by name, with its limit and its number of active runs."""
    return store.read_work_pools()


@router.post("/work_pools", status_code=201, responses={409: {"model": ErrorBody}})
def create_work_pool(store: StoreDep, spec: WorkPoolSpec) -> WorkPoolRecord:
    """A new pool (409 if one has that name: change its limit instead)."""
    try:
        return store.create_work_pool(spec.name, spec.concurrency_limit)
    except WorkPoolExists as exc:
        raise HTTPException(409, str(exc)) from None


@router.put("/work_pools/{pool}/concurrency_limit")
def set_work_pool_limit(store: StoreDep, pool: PoolName, body: WorkPoolLimit) -> WorkPoolRecord:
    """Most runs of the pool in Pending, Running or Cancelling at once (null: no limit);
    runs beyond it stay Scheduled until a slot frees."""
    return store.set_work_pool_limit(pool, body.concurrency_limit)


@router.post("/work_pools/{pool}/pause")
def pause_work_pool(store: StoreDep, pool: PoolName) -> WorkPoolRecord:
    """Workers stop claiming the pool's runs (they wait, Scheduled or Late)."""
    return store.set_work_pool_paused(pool, True)


@router.post("/work_pools/{pool}/resume")
def resume_work_pool(store: StoreDep, pool: PoolName) -> WorkPoolRecord:
    return store.set_work_pool_paused(pool, False)
