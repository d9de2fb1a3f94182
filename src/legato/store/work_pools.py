"""Work pools in the store: create one, set its concurrency limit, pause it, list them.

A pool is also made by the first deployment that names it (with no limit). Its
limit is enforced where runs are claimed (:mod:`legato.store.claims`): the active
runs of a pool are counted there, so there is no slot to leak.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from legato.errors import LegatoError, ObjectNotFound
from legato.schemas.concurrency import WorkPoolRecord
from legato.states import ACTIVE_TYPES
from legato.store.database import insert_if_absent
from legato.store.tables import flow_runs, work_pools

ACTIVE_TYPE_VALUES = tuple(sorted(state_type.value for state_type in ACTIVE_TYPES))
"""Pending, Running, Cancelling: the runs that fill a concurrency slot."""


class WorkPoolExists(LegatoError):
    """``create`` of a pool that is already stored."""


def create_work_pool(conn: Connection, name: str, concurrency_limit: int | None) -> None:
    """A new, unpaused pool (WorkPoolExists if one has that name)."""
    _check_limit(concurrency_limit)
    row = {
        "name": name,
        "concurrency_limit": concurrency_limit,
        "paused": False,
        "created": time.time(),
    }
    if not insert_if_absent(conn, work_pools, row, ["name"]):
        raise WorkPoolExists(
            f"work pool {name!r} already exists; change its limit with "
            f"`legato work-pool set-limit {name} N`"
        )


def set_work_pool_limit(conn: Connection, name: str, concurrency_limit: int | None) -> None:
    """Most active runs of ``name`` (None: no limit). Runs already active are left
    to finish when the limit goes below their number."""
    _check_limit(concurrency_limit)
    _update_pool(conn, name, concurrency_limit=concurrency_limit)


def set_work_pool_paused(conn: Connection, name: str, paused: bool) -> None:
    """A paused pool's runs are not claimed (they wait, Scheduled or Late)."""
    _update_pool(conn, name, paused=paused)


def _update_pool(conn: Connection, name: str, **values: Any) -> None:
    found = conn.execute(
        work_pools.update()
        .where(work_pools.c.name == name)
        .values(**values)
        .returning(work_pools.c.name)
    ).first()
    if found is None:
        raise ObjectNotFound(
            f"no work pool named {name!r}; create it with `legato work-pool create {name}`"
        )


def read_work_pools(conn: Connection) -> list[WorkPoolRecord]:
    """Every pool by name, with its number of active runs."""
    active = (
        sa.select(flow_runs.c.work_pool, sa.func.count().label("active"))
        .where(
            flow_runs.c.work_pool.is_not(None),
            flow_runs.c.state_type.in_(ACTIVE_TYPE_VALUES),
        )
        .group_by(flow_runs.c.work_pool)
    )
    pools = conn.execute(sa.select(work_pools).order_by(work_pools.c.name)).all()
    counts = {str(row.work_pool): int(row.active) for row in conn.execute(active)}
    return [
        WorkPoolRecord(
            name=row.name,
            concurrency_limit=row.concurrency_limit,
            paused=bool(row.paused),
            active_runs=counts.get(row.name, 0),
            created=datetime.fromtimestamp(row.created, UTC),
        )
        for row in pools
    ]


def read_work_pool(conn: Connection, name: str) -> WorkPoolRecord:
    for record in read_work_pools(conn):
        if record.name == name:
            return record
    raise ObjectNotFound(f"no work pool named {name!r}")


def _check_limit(limit: int | None) -> None:
    if limit is not None and limit < 1:
        raise ValueError(
            f"a concurrency limit must be at least 1, not {limit}; to stop a pool, pause it"
        )
