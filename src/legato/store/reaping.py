"""Runs whose worker or process died: marking them Crashed, and retrying them.

Two paths end such a run, and both go through :meth:`legato.store.Store.crash_flow_run`, so
a crash is handled the same way however it was noticed: the worker saw its flow-run
process exit without a final state, or the server's reaper saw the worker stop
heartbeating (:meth:`legato.store.Store.reap_stale_flow_runs`).

A crashed run of a deployment with ``retries`` goes straight back to Scheduled (the
state AwaitingRetry, due now, held by no worker) while it has crashed no more than
``retries`` times, so any worker of its pool claims it again under the same id; the
crashes are counted in its state history. A run that was Cancelling ends Cancelled.

Every change is made on the locked row after re-checking it (the state, the holder,
the heartbeat): on PostgreSQL the row is selected ``FOR UPDATE`` (``SKIP LOCKED`` for
the reaper, so two servers reaping at once take different runs and never wait on each
other); on SQLite the write transaction is exclusive. A run that moved on meanwhile (its
worker heartbeated, it finished, another reaper got it) is left alone.

A crash takes the run back from its process: the attempt token's hash is cleared in the
same transaction (:mod:`legato.store.run_tokens`), so a flow process that outlived its
worker is refused from then on and cannot report over the run's next attempt.

The decisions (is the run stale, still held, what its crash makes of it) are
:mod:`legato.orchestration.crashes`; the states are written by the state door.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from legato.orchestration.changes import PriorState
from legato.orchestration.crashes import HELD_TYPES, HeldRun, plan_crash, still_held
from legato.states import StateType
from legato.store.state_door import StateDoor
from legato.store.tables import deployments, flow_runs, state_history

REAP_BATCH = 500

HELD_TYPE_VALUES = tuple(sorted(t.value for t in HELD_TYPES))


@dataclass(frozen=True)
class CrashOutcome:
    """What became of a run that was crashed."""

    flow_run_id: str
    state_name: str
    """``Crashed``, ``AwaitingRetry`` (crashed, and rescheduled) or ``Cancelled``."""
    crashes: int
    """How many times the run has crashed, this one included (0 when it was Cancelled)."""
    retries: int
    """The deployment's ``retries`` (0 for a run of no deployment)."""
    message: str
    work_pool: str | None = None
    """The run's pool: workers waiting on it have a run to claim when it is rescheduled."""
    worker_name: str | None = None
    """The worker that held it when it was crashed."""


@dataclass(frozen=True)
class StaleRun:
    flow_run_id: str
    worker_name: str
    heartbeat: float


def lock_run(conn: Connection, flow_run_id: str, *, skip_locked: bool) -> Any:
    """The run's row as a crash needs it (state, holder, heartbeat, deployment, pool,
    token hash), locked on PostgreSQL; None when there is no such row (or, with
    ``skip_locked``, another transaction holds its lock)."""
    query = sa.select(
        flow_runs.c.state_type,
        flow_runs.c.state_name,
        flow_runs.c.worker_name,
        flow_runs.c.heartbeat,
        flow_runs.c.deployment_id,
        flow_runs.c.work_pool,
        flow_runs.c.token_hash,
    ).where(flow_runs.c.id == flow_run_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=skip_locked)
    return conn.execute(query).first()


def crash_held_run(
    door: StateDoor,
    flow_run_id: str,
    row: Any,
    message: str,
    *,
    worker_name: str | None,
    stale_before: float | None,
    now: float,
) -> CrashOutcome | None:
    """Crash the run of the locked ``row`` if it is still held (by ``worker_name`` when
    given, its heartbeat older than ``stale_before`` when given); otherwise roll back
    and return None."""
    held = HeldRun(StateType(row.state_type), row.worker_name, row.heartbeat)
    if not still_held(held, worker_name=worker_name, stale_before=stale_before):
        door.rollback()
        return None
    return crash_locked(door, flow_run_id, row, message, now)


def read_stale_flow_runs(conn: Connection, before: float) -> list[StaleRun]:
    """Runs held by a worker whose last heartbeat is older than ``before``, oldest
    first (at most one batch)."""
    rows = conn.execute(
        sa.select(flow_runs.c.id, flow_runs.c.worker_name, flow_runs.c.heartbeat)
        .where(
            flow_runs.c.state_type.in_(HELD_TYPE_VALUES),
            flow_runs.c.worker_name.is_not(None),
            flow_runs.c.heartbeat < before,
        )
        .order_by(flow_runs.c.heartbeat, flow_runs.c.id)
        .limit(REAP_BATCH)
    )
    return [StaleRun(str(r.id), str(r.worker_name), float(r.heartbeat)) for r in rows]


def stale_message(run: StaleRun, now: float) -> str:
    """Why a run of a worker gone quiet is crashed."""
    return (
        f"worker {run.worker_name} stopped sending heartbeats "
        f"(last {max(0.0, now - run.heartbeat):.0f} s ago)"
    )


def crash_locked(
    door: StateDoor, flow_run_id: str, row: Any, message: str, now: float
) -> CrashOutcome:
    """Crash the run of the locked ``row`` (its state, deployment, pool and token hash),
    as :func:`legato.orchestration.crashes.plan_crash` says."""
    current = StateType(row.state_type)
    # The process that held the run (if it still runs) is refused from now on.
    door.take_back(row.token_hash)
    crashes_before = retries = 0
    if current is not StateType.CANCELLING:
        crashes_before = _crash_count(door.conn, flow_run_id)
        retries = _deployment_retries(door.conn, row.deployment_id)
    plan = plan_crash(current, message, crashes_before=crashes_before, retries=retries, now=now)
    old = PriorState(current, row.state_name)
    for step in plan.steps:
        door.move_flow_run(flow_run_id, old, step.state, step.fields, rerun=step.rerun)
        old = PriorState(step.state.type, step.state.name)
    return CrashOutcome(
        flow_run_id,
        plan.outcome,
        plan.crashes,
        plan.retries,
        plan.message,
        row.work_pool,
        row.worker_name,
    )


def flow_run_exists(conn: Connection, flow_run_id: str) -> bool:
    query = sa.select(flow_runs.c.id).where(flow_runs.c.id == flow_run_id)
    return conn.execute(query).first() is not None


def _crash_count(conn: Connection, flow_run_id: str) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(state_history)
            .where(
                state_history.c.flow_run_id == flow_run_id,
                state_history.c.task_run_id.is_(None),
                state_history.c.type == StateType.CRASHED.value,
            )
        ).scalar_one()
    )


def _deployment_retries(conn: Connection, deployment_id: str | None) -> int:
    if deployment_id is None:
        return 0
    query = sa.select(deployments.c.retries).where(deployments.c.id == deployment_id)
    return int(conn.execute(query).scalar() or 0)
