"""Tag concurrency limits and the leases that hold their slots.

A task run whose tags have limits takes one lease per limited tag before its body
runs, all or none in one write transaction, and gives them back when it ends. A
lease carries an expiry its holder keeps pushing forward while the task runs; a
lease past its expiry is no longer counted (and is deleted by the next acquire of
its tag), so a process that dies without releasing frees its slots by itself.

On PostgreSQL each limit row is locked (``FOR UPDATE``, in tag order, so two
acquirers never deadlock) before its leases are counted: concurrent acquirers of
one tag take turns, and never hold more than ``limit`` slots between them. On
SQLite the write transaction is already exclusive.

Acquiring is idempotent per (tag, task run): asking again for slots a task run
already holds (a retried request whose answer was lost) renews them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from legato.errors import ObjectNotFound
from legato.orchestration.limits import blocked_tags
from legato.schemas.concurrency import ConcurrencyLimitRecord, LeaseAnswer
from legato.store.tables import concurrency_leases, concurrency_limits

# -- limits ---------------------------------------------------------------------


def set_concurrency_limit(conn: Connection, tag: str, limit: int) -> None:
    """Create the limit of ``tag``, or change it (leases already held are kept:
    lowering a limit lets the running task runs finish)."""
    if limit < 1:
        raise ValueError(f"a concurrency limit must be at least 1, not {limit}")
    now = time.time()
    changed = conn.execute(
        concurrency_limits.update()
        .where(concurrency_limits.c.tag == tag)
        .values(limit=limit)
        .returning(concurrency_limits.c.tag)
    ).first()
    if changed is None:
        conn.execute(concurrency_limits.insert().values(tag=tag, limit=limit, created=now))


def delete_concurrency_limit(conn: Connection, tag: str) -> None:
    """Remove the limit of ``tag`` and its leases (ObjectNotFound if it has none)."""
    gone = conn.execute(
        concurrency_limits.delete()
        .where(concurrency_limits.c.tag == tag)
        .returning(concurrency_limits.c.tag)
    ).first()
    conn.execute(concurrency_leases.delete().where(concurrency_leases.c.tag == tag))
    if gone is None:
        raise ObjectNotFound(f"no concurrency limit for tag {tag!r}")


def read_concurrency_limits(conn: Connection, now: float) -> list[ConcurrencyLimitRecord]:
    """Every tag limit, by tag, with the task runs holding its live leases."""
    limits = conn.execute(sa.select(concurrency_limits).order_by(concurrency_limits.c.tag)).all()
    holders: dict[str, list[str]] = {}
    for row in conn.execute(
        sa.select(concurrency_leases.c.tag, concurrency_leases.c.task_run_id)
        .where(concurrency_leases.c.expires > now)
        .order_by(concurrency_leases.c.expires)
    ):
        holders.setdefault(str(row.tag), []).append(str(row.task_run_id))
    return [
        ConcurrencyLimitRecord(
            tag=row.tag,
            limit=row.limit,
            active_slots=len(holders.get(row.tag, [])),
            holders=holders.get(row.tag, []),
            created=datetime.fromtimestamp(row.created, UTC),
        )
        for row in limits
    ]


def read_concurrency_limit(conn: Connection, tag: str, now: float) -> ConcurrencyLimitRecord:
    for record in read_concurrency_limits(conn, now):
        if record.tag == tag:
            return record
    raise ObjectNotFound(f"no concurrency limit for tag {tag!r}")


def read_limited_tags(conn: Connection) -> list[str]:
    """The tags that have a limit: the one read a flow run makes before its tasks
    (a task with none of these tags never touches the leases)."""
    return [str(tag) for tag in conn.execute(sa.select(concurrency_limits.c.tag)).scalars()]


# -- leases ---------------------------------------------------------------------


def acquire_concurrency_slots(
    conn: Connection,
    tags: Sequence[str],
    task_run_id: str,
    flow_run_id: str,
    holder: str,
    ttl: float,
    now: float,
) -> LeaseAnswer:
    """One slot of each limited tag in ``tags`` for ``task_run_id`` until ``now + ttl``,
    or none: the answer names the full tags. Tags without a limit need no slot. A write
    transaction that is rolled back when no slot is taken."""
    from legato.ids import new_id

    wanted = sorted(set(tags))
    leases = concurrency_leases.c
    query = (
        sa.select(concurrency_limits.c.tag, concurrency_limits.c.limit)
        .where(concurrency_limits.c.tag.in_(wanted))
        .order_by(concurrency_limits.c.tag)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    limits = {str(row.tag): int(row.limit) for row in conn.execute(query)}
    if not limits:
        conn.rollback()
        return LeaseAnswer(acquired=True)
    limited = sorted(limits)
    conn.execute(concurrency_leases.delete().where(leases.tag.in_(limited), leases.expires <= now))
    held = set(
        conn.execute(
            sa.select(leases.tag).where(leases.tag.in_(limited), leases.task_run_id == task_run_id)
        ).scalars()
    )
    counted = conn.execute(
        sa.select(leases.tag, sa.func.count()).where(leases.tag.in_(limited)).group_by(leases.tag)
    )
    counts = {str(tag): int(count) for tag, count in counted}
    blocked = blocked_tags(limits, counts, held)
    if blocked:
        conn.rollback()
        return LeaseAnswer(acquired=False, blocked=blocked)
    if held:
        conn.execute(
            concurrency_leases.update()
            .where(leases.task_run_id == task_run_id, leases.tag.in_(held))
            .values(expires=now + ttl)
        )
    missing = [tag for tag in limited if tag not in held]
    if missing:
        conn.execute(
            concurrency_leases.insert(),
            [
                {
                    "id": new_id(),
                    "tag": tag,
                    "task_run_id": task_run_id,
                    "flow_run_id": flow_run_id,
                    "holder": holder,
                    "expires": now + ttl,
                }
                for tag in missing
            ],
        )
    return LeaseAnswer(acquired=True)


def renew_concurrency_slots(
    conn: Connection, task_run_ids: Sequence[str], ttl: float, now: float
) -> list[str]:
    """Push the expiry of the live leases of these task runs (distinct, at least one) to
    ``now + ttl``; the task runs that still hold a lease (one whose lease expired has
    lost it)."""
    leases = concurrency_leases.c
    live = sa.and_(leases.task_run_id.in_(task_run_ids), leases.expires > now)
    kept = conn.execute(
        concurrency_leases.update()
        .where(live)
        .values(expires=now + ttl)
        .returning(leases.task_run_id)
    ).scalars()
    return sorted({str(task_run_id) for task_run_id in kept})


def release_concurrency_slots(conn: Connection, task_run_ids: Sequence[str]) -> int:
    """Give back every slot these task runs (distinct, at least one) hold; how many
    leases went."""
    gone = conn.execute(
        concurrency_leases.delete()
        .where(concurrency_leases.c.task_run_id.in_(task_run_ids))
        .returning(concurrency_leases.c.id)
    ).all()
    return len(gone)
