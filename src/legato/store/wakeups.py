"""What waking workers needs from the database: when a pool's next run is due, and
PostgreSQL's LISTEN/NOTIFY so that a run made through one server wakes the workers
waiting on another server over the same database.

The notification carries the pool's name only; the woken side claims through the
normal claim (``claims.py``), so a lost or duplicated notification changes when a run
starts, never whether it is claimed once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import sqlalchemy as sa

from legato.states import StateType
from legato.store.claims import claimable_state
from legato.store.database import translated
from legato.store.tables import flow_runs

if TYPE_CHECKING:
    from legato.store import Store

CHANNEL = "legato_work_pools"
logger = logging.getLogger("legato.wakeups")


def next_due_time(store: Store, pool: str) -> float | None:
    """Expected start time (epoch seconds) of the earliest claimable run of ``pool``,
    None when it has none; a waiting claim sleeps until then at the latest."""
    query = sa.select(sa.func.min(flow_runs.c.expected_start_time)).where(
        flow_runs.c.work_pool == pool,
        flow_runs.c.state_type == StateType.SCHEDULED.value,
        claimable_state(),
    )
    with translated(store.url), store.engine.connect() as conn:
        value = conn.execute(query).scalar()
    return None if value is None else float(value)


def shares_notifications(store: Store) -> bool:
    return store.engine.dialect.name == "postgresql"


def publish(store: Store, pool: str) -> None:
    """Tell every server on this PostgreSQL database that ``pool`` has a run to look at."""
    with translated(store.url), store.engine.connect() as conn:
        conn.execute(sa.select(sa.func.pg_notify(CHANNEL, pool)))
        conn.commit()


def listen(store: Store, on_pool: Callable[[str], None], stop: threading.Event) -> None:
    """Call ``on_pool(pool)`` for each notification until ``stop`` is set. Connection
    failures are logged and retried every few seconds (workers poll meanwhile)."""
    while not stop.is_set():
        try:
            raw = store.engine.raw_connection()
        except Exception:
            logger.warning("wake-ups: cannot listen on PostgreSQL; retrying", exc_info=True)
            stop.wait(5.0)
            continue
        connection = raw.driver_connection
        raw.detach()  # a long-lived autocommit session: not for the pool to reuse
        try:
            connection.rollback()  # type: ignore[union-attr]
            connection.autocommit = True  # type: ignore[union-attr]
            connection.execute(f"LISTEN {CHANNEL}")  # type: ignore[union-attr]
            while not stop.is_set():
                for notice in connection.notifies(timeout=1.0):  # type: ignore[union-attr]
                    on_pool(notice.payload)
        except Exception:
            if not stop.is_set():
                logger.warning("wake-ups: the listening connection failed; retrying", exc_info=True)
                stop.wait(1.0)
        finally:
            raw.close()
