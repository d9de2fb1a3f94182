"""Runs whose worker or process died: marking them Crashed, and retrying them.

Two paths end such a run, and both go through :meth:`ReapingStore.crash_flow_run`, so
a crash is handled the same way however it was noticed: the worker saw its flow-run
process exit without a final state, or the server's reaper saw the worker stop
heartbeating (:meth:`ReapingStore.reap_stale_flow_runs`).

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
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from legato.errors import LegatoError, ObjectNotFound
from legato.states import ACTIVE_TYPES, State, StateType, check_transition
from legato.store import run_tokens
from legato.store.database import translated
from legato.store.flow_run_states import write_flow_run_state
from legato.store.tables import deployments, flow_runs, state_history

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.engine.url import URL

REAP_BATCH = 500

HELD_TYPES = (*(t.value for t in ACTIVE_TYPES), StateType.SCHEDULED.value)
"""States in which a run may be held by a worker: starting, running, being cancelled,
or waiting inside its process for an in-process retry (AwaitingRetry, still held)."""


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


@dataclass(frozen=True)
class StaleRun:
    flow_run_id: str
    worker_name: str
    heartbeat: float


class ReapingStore:
    """The crash half of :class:`legato.store.Store` (mixed into it)."""

    if TYPE_CHECKING:
        engine: Engine
        url: URL

        def _write_conn(self) -> Connection: ...

    def crash_flow_run(
        self,
        flow_run_id: str,
        message: str,
        *,
        worker_name: str | None = None,
        stale_before: float | None = None,
        skip_locked: bool = False,
        now: float | None = None,
    ) -> CrashOutcome | None:
        """Mark a run that stopped without a final state Crashed (or Cancelled, when it
        was Cancelling), and reschedule it when its deployment's retries allow.

        Only a run still held is changed: one in Pending, Running or Cancelling (or
        Scheduled while a worker holds it), held by ``worker_name`` when given, whose
        heartbeat is older than ``stale_before`` when given. Anything else - the run
        finished, another worker holds it now, it heartbeated meanwhile - returns None
        and writes nothing; so does a row another transaction has locked, with
        ``skip_locked``. ``ObjectNotFound`` for an unknown id.
        """
        now = time.time() if now is None else now
        with translated(self.url), self._write_conn() as conn:
            query = sa.select(
                flow_runs.c.state_type,
                flow_runs.c.worker_name,
                flow_runs.c.heartbeat,
                flow_runs.c.deployment_id,
                flow_runs.c.work_pool,
                flow_runs.c.token_hash,
            ).where(flow_runs.c.id == flow_run_id)
            if self.engine.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=skip_locked)
            row = conn.execute(query).first()
            if row is None:
                conn.rollback()
                if skip_locked and self._flow_run_exists(flow_run_id):
                    return None  # locked by someone else, who is dealing with it
                raise ObjectNotFound(f"no flow run with id {flow_run_id!r}")
            if not _still_held(row, worker_name, stale_before):
                conn.rollback()
                return None
            outcome = self._crash_locked(conn, flow_run_id, row, message, now)
            conn.commit()
        return outcome

    def reap_stale_flow_runs(
        self, *, timeout: float, now: float | None = None
    ) -> list[CrashOutcome]:
        """Crash every run held by a worker that has not heartbeated for ``timeout``
        seconds (see :meth:`crash_flow_run`), each saying which worker went quiet and
        when; what became of each."""
        now = time.time() if now is None else now
        before = now - timeout
        outcomes: list[CrashOutcome] = []
        seen: set[str] = set()
        while True:
            stale = [
                run for run in self.read_stale_flow_runs(before) if run.flow_run_id not in seen
            ]
            for run in stale:
                seen.add(run.flow_run_id)
                outcome = self.crash_flow_run(
                    run.flow_run_id,
                    f"worker {run.worker_name} stopped sending heartbeats "
                    f"(last {max(0.0, now - run.heartbeat):.0f} s ago)",
                    worker_name=run.worker_name,
                    stale_before=before,
                    skip_locked=True,
                    now=now,
                )
                if outcome is not None:
                    outcomes.append(outcome)
            if len(stale) < REAP_BATCH:
                return outcomes

    def read_stale_flow_runs(self, before: float) -> list[StaleRun]:
        """Runs held by a worker whose last heartbeat is older than ``before``, oldest
        first (at most one batch)."""
        with translated(self.url), self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(flow_runs.c.id, flow_runs.c.worker_name, flow_runs.c.heartbeat)
                .where(
                    flow_runs.c.state_type.in_(HELD_TYPES),
                    flow_runs.c.worker_name.is_not(None),
                    flow_runs.c.heartbeat < before,
                )
                .order_by(flow_runs.c.heartbeat, flow_runs.c.id)
                .limit(REAP_BATCH)
            )
            return [StaleRun(str(r.id), str(r.worker_name), float(r.heartbeat)) for r in rows]

    # -- inside the transaction ------------------------------------------------------

    def _crash_locked(
        self, conn: Connection, flow_run_id: str, row: Any, message: str, now: float
    ) -> CrashOutcome:
        current = StateType(row.state_type)
        # The process that held the run (if it still runs) is refused from now on.
        run_tokens.release(conn, row.token_hash)
        if current is StateType.CANCELLING:
            cancelled = State(StateType.CANCELLED, "Cancelled", f"cancelled: {message}", now)
            _move(conn, flow_run_id, current, cancelled, {"end_time": now})
            return CrashOutcome(
                flow_run_id, "Cancelled", 0, 0, cancelled.message or "", row.work_pool
            )
        crashed = State(StateType.CRASHED, "Crashed", message, now)
        _move(conn, flow_run_id, current, crashed, {"end_time": now})
        crashes = _crash_count(conn, flow_run_id)
        retries = _deployment_retries(conn, row.deployment_id)
        if crashes > retries:
            return CrashOutcome(flow_run_id, "Crashed", crashes, retries, message, row.work_pool)
        retry_message = f"crashed ({message}); retry {crashes} of {retries}"
        retry = State(StateType.SCHEDULED, "AwaitingRetry", retry_message, now, scheduled_time=now)
        _move(
            conn,
            flow_run_id,
            StateType.CRASHED,
            retry,
            {"expected_start_time": now, "worker_name": None, "heartbeat": None, "end_time": None},
            rerun=True,
        )
        return CrashOutcome(
            flow_run_id, "AwaitingRetry", crashes, retries, retry_message, row.work_pool
        )

    def _flow_run_exists(self, flow_run_id: str) -> bool:
        with translated(self.url), self.engine.connect() as conn:
            query = sa.select(flow_runs.c.id).where(flow_runs.c.id == flow_run_id)
            return conn.execute(query).first() is not None


def _still_held(row: Any, worker_name: str | None, stale_before: float | None) -> bool:
    state_type = StateType(row.state_type)
    # A Scheduled run counts only while a worker holds it (an in-process retry).
    held_scheduled = state_type is StateType.SCHEDULED and row.worker_name is not None
    if state_type not in ACTIVE_TYPES and not held_scheduled:
        return False
    if worker_name is not None and row.worker_name != worker_name:
        return False
    return not (
        stale_before is not None and (row.heartbeat is None or row.heartbeat >= stale_before)
    )


def _move(
    conn: Connection,
    flow_run_id: str,
    current: StateType,
    state: State,
    fields: dict[str, Any],
    *,
    rerun: bool = False,
) -> None:
    verdict = check_transition(current, state.type, rerun=rerun)
    if not verdict.allowed:  # the rules above only ask for allowed moves
        raise LegatoError(f"flow run {flow_run_id}: {verdict.reason}")
    write_flow_run_state(conn, flow_run_id, state, fields)


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
