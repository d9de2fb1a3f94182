"""Workers claiming due runs of their pool, and keeping their claims alive.

A claim moves due Scheduled (or Late) runs of one work pool to Pending and names
the worker that holds them, all in one write transaction, so two workers never
get the same run. On PostgreSQL the due rows are selected ``FOR UPDATE SKIP
LOCKED``: concurrent claimers lock disjoint rows and none waits for another. On
SQLite the write transaction is already exclusive (``BEGIN IMMEDIATE``), so the
select-then-update is done by one writer at a time.

A claim never takes a run that would put more than the concurrency limit of its
work pool or of its deployment in Pending, Running or Cancelling; such runs stay
Scheduled (Late when overdue) until a slot frees.

Runs of a paused work pool are not claimed. Runs of a paused deployment are:
pausing a deployment stops the scheduler from making new runs, and a run that
exists was asked for (by hand, or before the pause).

What may be claimed is decided in :mod:`legato.orchestration.claiming` (the SQL here
selects the same runs through the pool's index, then the rule is applied to the rows
locked); the claimed runs move to Pending through the state door, in one statement.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from legato.orchestration.changes import PriorState
from legato.orchestration.claiming import (
    CLAIMABLE_STATE_NAMES,
    UNHELD_RETRY_NAME,
    ClaimCandidate,
    PoolLimits,
    choose_claims,
    claim_budget,
)
from legato.orchestration.limits import rooms
from legato.schemas.claims import ClaimedFlowRun
from legato.states import State, StateType
from legato.store.run_tokens import new_run_token
from legato.store.state_door import StateDoor
from legato.store.tables import deployments, flow_runs, work_pools
from legato.store.work_pools import ACTIVE_TYPE_VALUES


def claimable_state() -> sa.ColumnElement[bool]:
    """The state names a worker may claim (with a SCHEDULED state type): the rule of
    :func:`legato.orchestration.claiming.is_claimable`, in SQL."""
    return sa.or_(
        flow_runs.c.state_name.in_(CLAIMABLE_STATE_NAMES),
        sa.and_(flow_runs.c.state_name == UNHELD_RETRY_NAME, flow_runs.c.worker_name.is_(None)),
    )


def claim_flow_runs(
    door: StateDoor, pool: str, worker_name: str, limit: int, now: float
) -> list[ClaimedFlowRun]:
    """Up to ``limit`` due runs of ``pool``, earliest first, moved to Pending and held
    by ``worker_name`` (its heartbeat set to ``now``). Each run goes to one claimer,
    with a new attempt token (see :mod:`legato.store.run_tokens`) whose hash replaces
    any earlier attempt's.

    The answer is built inside the transaction, before it commits: a run whose stored
    row cannot be sent (text that is not valid Unicode, from an older store) ends
    Failed, saying why, instead of being claimed; the others are claimed as usual. A
    failure to build the answer otherwise rolls the claim back whole, so no run is
    held by a worker that never heard of it."""
    pending = State(StateType.PENDING, "Pending", f"claimed by worker {worker_name}", now)
    claimed: list[ClaimedFlowRun] = []
    conn = door.conn
    pool_row = conn.execute(
        sa.select(work_pools.c.paused, work_pools.c.concurrency_limit).where(
            work_pools.c.name == pool
        )
    ).first()
    pool_limits = PoolLimits()
    if pool_row is not None:
        pool_limits = PoolLimits(bool(pool_row.paused), pool_row.concurrency_limit)
    if claim_budget(pool_limits, limit) < 1:  # paused
        door.rollback()
        return []
    runs = _claimable_runs(conn, pool, limit, pool_limits, now)
    tokens = {run_id: new_run_token(run_id) for run_id, _ in runs}
    door.claim_flow_runs(runs, pending, worker_name=worker_name, heartbeat=now, tokens=tokens)
    for run_id, _ in runs:
        answer = _claimed(conn, run_id, tokens[run_id])
        if isinstance(answer, ClaimedFlowRun):
            claimed.append(answer)
        else:
            failed = State(StateType.FAILED, "Failed", answer, now)
            fields = {"end_time": now, "worker_name": None, "token_hash": None}
            door.move_flow_run(run_id, PriorState(pending.type, pending.name), failed, fields)
    return claimed


def _claimable_runs(
    conn: Connection, pool: str, limit: int, pool_limits: PoolLimits, now: float
) -> list[tuple[str, PriorState]]:
    """The due runs to claim, earliest first, within the concurrency limits of the
    pool and of each run's deployment, locked; each with the state it is in.

    The limits count the active (Pending, Running, Cancelling) runs: that count is
    the lease, so a run that ends or crashes gives its slot back by leaving those
    states. On PostgreSQL the rows that carry a limit (the pool, the limited
    deployments with due runs) are locked first, in a fixed order, so claimers
    counting against the same limit take turns.
    """
    postgres = conn.dialect.name == "postgresql"
    due = sa.and_(
        flow_runs.c.work_pool == pool,
        flow_runs.c.state_type == StateType.SCHEDULED.value,
        claimable_state(),
        flow_runs.c.expected_start_time <= now,
    )
    active = flow_runs.c.state_type.in_(ACTIVE_TYPE_VALUES)
    if pool_limits.limit is not None:
        if postgres:
            conn.execute(
                sa.select(work_pools.c.name).where(work_pools.c.name == pool).with_for_update()
            )
        running = conn.execute(
            sa.select(sa.func.count()).where(flow_runs.c.work_pool == pool, active)
        ).scalar_one()
        pool_limits = dataclasses.replace(pool_limits, active=int(running))
    budget = claim_budget(pool_limits, limit)
    if budget < 1:
        return []
    limited = sa.select(deployments.c.id, deployments.c.concurrency_limit).where(
        deployments.c.concurrency_limit.is_not(None),
        deployments.c.id.in_(sa.select(flow_runs.c.deployment_id).where(due).distinct()),
    )
    limits = {str(row.id): int(row.concurrency_limit) for row in conn.execute(limited)}
    if limits and postgres:
        conn.execute(
            sa.select(deployments.c.id)
            .where(deployments.c.id.in_(sorted(limits)))
            .order_by(deployments.c.id)
            .with_for_update()
        )
    counts: dict[str, int] = {}
    if limits:
        counts = {
            str(key): int(count)
            for key, count in conn.execute(
                sa.select(flow_runs.c.deployment_id, sa.func.count())
                .where(flow_runs.c.deployment_id.in_(sorted(limits)), active)
                .group_by(flow_runs.c.deployment_id)
            )
        }
    columns = (
        flow_runs.c.id,
        flow_runs.c.state_type,
        flow_runs.c.state_name,
        flow_runs.c.expected_start_time,
        flow_runs.c.worker_name,
        flow_runs.c.deployment_id,
    )
    if not limits:
        query = sa.select(*columns).where(due)
    else:
        # Each limited deployment gets at most its free slots, its earliest runs first.
        room = rooms(limits, counts)
        ranked = (
            sa.select(
                flow_runs.c.id,
                flow_runs.c.deployment_id,
                flow_runs.c.expected_start_time,
                sa.func.row_number()
                .over(
                    partition_by=flow_runs.c.deployment_id,
                    order_by=(flow_runs.c.expected_start_time, flow_runs.c.id),
                )
                .label("rank"),
            )
            .where(due)
            .subquery()
        )
        within = sa.or_(
            ranked.c.deployment_id.is_(None),
            ranked.c.deployment_id.not_in(sorted(limits)),
            *(
                sa.and_(ranked.c.deployment_id == key, ranked.c.rank <= free)
                for key, free in room.items()
                if free > 0
            ),
        )
        chosen = list(
            conn.execute(
                sa.select(ranked.c.id)
                .where(within)
                .order_by(ranked.c.expected_start_time, ranked.c.id)
                .limit(budget)
            ).scalars()
        )
        if not chosen:
            return []
        query = sa.select(*columns).where(flow_runs.c.id.in_(chosen), due)
    query = query.order_by(flow_runs.c.expected_start_time, flow_runs.c.id).limit(budget)
    if postgres:
        query = query.with_for_update(skip_locked=True)
    candidates = {
        str(row.id): ClaimCandidate(
            id=str(row.id),
            state_type=StateType(row.state_type),
            state_name=row.state_name,
            expected_start_time=row.expected_start_time,
            worker_name=row.worker_name,
            deployment_id=row.deployment_id,
        )
        for row in conn.execute(query)
    }
    ids = choose_claims(
        list(candidates.values()),
        now=now,
        budget=budget,
        deployment_limits=limits,
        deployment_active=counts,
    )
    return [
        (run_id, PriorState(candidates[run_id].state_type, candidates[run_id].state_name))
        for run_id in ids
    ]


def heartbeat(
    conn: Connection, flow_run_ids: Sequence[str], worker_name: str, now: float
) -> dict[str, str]:
    """Mark the runs ``worker_name`` holds (distinct ids, at least one) as alive at
    ``now``; the state type of each (a Cancelling one is for the worker to stop). Runs
    another worker holds, or that do not exist, are left out of the answer."""
    held = _held(flow_run_ids, worker_name)
    conn.execute(flow_runs.update().where(held).values(heartbeat=now))
    return held_states(conn, flow_run_ids, worker_name)


def held_states(conn: Connection, flow_run_ids: Sequence[str], worker_name: str) -> dict[str, str]:
    """The state type of each of ``flow_run_ids`` that ``worker_name`` holds, by id."""
    rows = conn.execute(
        sa.select(flow_runs.c.id, flow_runs.c.state_type).where(_held(flow_run_ids, worker_name))
    )
    return {str(row.id): str(row.state_type) for row in rows}


def _held(flow_run_ids: Sequence[str], worker_name: str) -> sa.ColumnElement[bool]:
    return sa.and_(flow_runs.c.id.in_(flow_run_ids), flow_runs.c.worker_name == worker_name)


def _claimed(conn: Connection, run_id: str, token: str) -> ClaimedFlowRun | str:
    """The claim's answer for one run, encoded once to be sure it can be sent; or why
    it cannot (the run then ends Failed instead of being handed out)."""
    from legato.store import queries

    try:
        record = queries.flow_run_by_id(conn, run_id)
        if record is None:  # pragma: no cover - the row is locked by this transaction
            return "the run disappeared while it was being claimed"
        answer = ClaimedFlowRun(**dict(record), token=token)
        answer.model_dump_json()
    except (ValueError, TypeError) as exc:
        return (
            "its stored row cannot be sent to a worker (text that is not valid Unicode?): "
            f"{' '.join(str(exc).split())[:500]}"
        )
    return answer
