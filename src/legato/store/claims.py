"""Workers claiming due runs of their pool, and keeping their claims alive.

A claim moves due Scheduled (or Late) runs of one work pool to Pending and names
the worker that holds them, all in one write transaction, so two workers never
get the same run. On PostgreSQL the due rows are selected ``FOR UPDATE SKIP
LOCKED``: concurrent claimers lock disjoint rows and none waits for another. On
SQLite the write transaction is already exclusive (``BEGIN IMMEDIATE``), so the
select-then-update is done by one writer at a time.

Runs of a paused work pool are not claimed. Runs of a paused deployment are:
pausing a deployment stops the scheduler from making new runs, and a run that
exists was asked for (by hand, or before the pause).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import sqlalchemy as sa

from legato.states import State, StateType
from legato.store.database import translated
from legato.store.tables import flow_runs, state_history, work_pools

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.engine.url import URL

    from legato.schemas import FlowRunRecord

CLAIMABLE_STATE_NAMES = ("Scheduled", "Late")
"""Scheduled-type states a worker may start; AwaitingRetry belongs to the process retrying."""


class ClaimStore:
    """The worker half of :class:`legato.store.Store` (mixed into it)."""

    if TYPE_CHECKING:
        engine: Engine
        url: URL

        def _write_conn(self) -> Connection: ...
        def read_flow_run(self, flow_run_id: str) -> FlowRunRecord: ...

    def claim_flow_runs(
        self, pool: str, worker_name: str, limit: int, now: float | None = None
    ) -> list[FlowRunRecord]:
        """Up to ``limit`` due runs of ``pool``, earliest first, moved to Pending and held
        by ``worker_name`` (its heartbeat set to ``now``). Each run goes to one claimer."""
        if limit < 1:
            return []
        now = time.time() if now is None else now
        pending = State(StateType.PENDING, "Pending", f"claimed by worker {worker_name}", now)
        with translated(self.url), self._write_conn() as conn:
            paused = conn.execute(
                sa.select(work_pools.c.paused).where(work_pools.c.name == pool)
            ).scalar()
            if paused:
                conn.rollback()
                return []
            query = (
                sa.select(flow_runs.c.id)
                .where(
                    flow_runs.c.work_pool == pool,
                    flow_runs.c.state_type == StateType.SCHEDULED.value,
                    flow_runs.c.state_name.in_(CLAIMABLE_STATE_NAMES),
                    flow_runs.c.expected_start_time <= now,
                )
                .order_by(flow_runs.c.expected_start_time, flow_runs.c.id)
                .limit(limit)
            )
            if self.engine.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids = list(conn.execute(query).scalars())
            if ids:
                conn.execute(
                    flow_runs.update()
                    .where(flow_runs.c.id.in_(ids))
                    .values(
                        state_type=pending.type.value,
                        state_name=pending.name,
                        state_message=pending.message,
                        state_timestamp=pending.timestamp,
                        worker_name=worker_name,
                        heartbeat=now,
                    )
                )
                conn.execute(
                    state_history.insert(),
                    [
                        {
                            "flow_run_id": run_id,
                            "task_run_id": None,
                            "type": pending.type.value,
                            "name": pending.name,
                            "message": pending.message,
                            "timestamp": pending.timestamp,
                            "scheduled_time": None,
                        }
                        for run_id in ids
                    ],
                )
            conn.commit()
        return [self.read_flow_run(run_id) for run_id in ids]

    def heartbeat(
        self, flow_run_ids: Sequence[str], worker_name: str, now: float | None = None
    ) -> dict[str, str]:
        """Mark the runs ``worker_name`` holds as alive at ``now``; the state type of each
        (a Cancelling one is for the worker to stop). Runs another worker holds, or that
        do not exist, are left out of the answer."""
        ids = list(dict.fromkeys(flow_run_ids))
        if not ids:
            return {}
        now = time.time() if now is None else now
        held = sa.and_(flow_runs.c.id.in_(ids), flow_runs.c.worker_name == worker_name)
        with translated(self.url), self._write_conn() as conn:
            conn.execute(flow_runs.update().where(held).values(heartbeat=now))
            rows = conn.execute(sa.select(flow_runs.c.id, flow_runs.c.state_type).where(held))
            states = {str(row.id): str(row.state_type) for row in rows}
            conn.commit()
        return states
