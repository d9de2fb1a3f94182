"""May a worker claim this run now: its state, its time, its pool and its deployment.

A run is claimable when it is Scheduled or Late and due, or AwaitingRetry held by no
worker (a crashed run rescheduled for any worker; an in-process retry's AwaitingRetry
belongs to the process retrying). A paused work pool hands out nothing; a pool's and
a deployment's concurrency limits cap how many of their runs are active at once
(:mod:`legato.orchestration.limits`). A paused deployment's runs are claimed: pausing
stops the scheduler from making runs, and a run that exists was asked for.

The store selects candidates with the same rule in SQL (its indexes find the due runs
of a pool), then applies :func:`choose_claims` to the rows it locked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from legato.orchestration.limits import room, rooms
from legato.states import StateType

CLAIMABLE_STATE_NAMES = ("Scheduled", "Late")
"""Scheduled-type states any worker may start."""
UNHELD_RETRY_NAME = "AwaitingRetry"
"""A Scheduled-type state a worker may start only while no worker holds the run."""


@dataclass(frozen=True, slots=True)
class ClaimCandidate:
    """A flow run as a claim sees it."""

    id: str
    state_type: StateType
    state_name: str
    expected_start_time: float | None
    worker_name: str | None = None
    deployment_id: str | None = None


@dataclass(frozen=True, slots=True)
class PoolLimits:
    """A work pool as a claim sees it (a pool nobody created: no limit, not paused)."""

    paused: bool = False
    limit: int | None = None
    active: int = 0
    """Its runs in Pending, Running or Cancelling."""


def is_claimable(run: ClaimCandidate, *, now: float) -> bool:
    """Whether the run's state lets a worker start it, and it is due by ``now``."""
    if run.state_type is not StateType.SCHEDULED:
        return False
    unheld_retry = run.state_name == UNHELD_RETRY_NAME and run.worker_name is None
    if run.state_name not in CLAIMABLE_STATE_NAMES and not unheld_retry:
        return False
    return run.expected_start_time is not None and run.expected_start_time <= now


def claim_budget(pool: PoolLimits, wanted: int) -> int:
    """How many runs one claim asking for ``wanted`` may take from the pool."""
    if pool.paused or wanted < 1:
        return 0
    free = room(pool.limit, pool.active)
    return wanted if free is None else min(wanted, free)


def choose_claims(
    candidates: Sequence[ClaimCandidate],
    *,
    now: float,
    budget: int,
    deployment_limits: Mapping[str, int],
    deployment_active: Mapping[str, int],
) -> list[str]:
    """The ids to claim out of ``candidates`` (earliest first): claimable ones, at most
    ``budget`` (see :func:`claim_budget`), and no more of a limited deployment's runs
    than it has room for."""
    free = rooms(deployment_limits, deployment_active)
    chosen: list[str] = []
    for run in candidates:
        if len(chosen) >= budget:
            break
        if not is_claimable(run, now=now):
            continue
        if run.deployment_id is not None and run.deployment_id in free:
            if free[run.deployment_id] < 1:
                continue
            free[run.deployment_id] -= 1
        chosen.append(run.id)
    return chosen
