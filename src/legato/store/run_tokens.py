"""Attempt tokens: the fencing token of a claimed flow run, and its process's credential.

When a worker claims a run, the store makes a new random token for that attempt,
``lgr_<run id>_<secret>``, keeps only its sha256 in ``flow_runs.token_hash`` and hands
the token to the worker, which gives it to the run's process (``LEGATO_RUN_TOKEN``,
never logged). Every state proposal of that process, every batch of its task runs and
logs, and every subflow it creates carries the token, and the store compares it with
the row's hash in the transaction that writes. Whatever takes the run back from that
process - the reaper crashing it, a cancel that ends it, its worker giving it back,
another claim, its own final state - clears or replaces the hash, so a process that
outlived its claim (a worker killed with kill -9 leaves an orphan until the kernel
catches up) is refused and stops, and the flow body of one run never runs twice at
once.

Subflows created by the process carry the same hash while they run, so taking back
the run takes back its whole tree (one ``UPDATE ... WHERE token_hash = ?``, indexed).
A subflow that ended (its hash cleared) is found through its parent chain.

The same token is the process's credential against a server that requires API keys
(:mod:`legato.server.auth`): it opens only that run's tree, and stops working when the
hash is cleared.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from legato.attempts import hash_token, new_run_token, run_of_token
from legato.states import Transition
from legato.store.tables import flow_runs

__all__ = ["hash_token", "new_run_token", "run_of_token"]

MAX_DEPTH = 1000
"""Parent links followed at most (subflows nest far less; a cycle cannot loop forever)."""


def taken_back(flow_run_id: str) -> Transition:
    """The refusal a process gets once its run is no longer its own."""
    return Transition(
        False,
        f"flow run {flow_run_id} was taken back from this process (its claim ended: the "
        "run finished, was cancelled, crashed when its worker went quiet, or another "
        "attempt holds it now); this process must stop without reporting more",
        taken_back=True,
    )


def not_claimed_by_caller(flow_run_id: str) -> Transition:
    return Transition(
        False,
        f"flow run {flow_run_id} is held by a worker's process; only that process (with "
        "its run token) may start it. Cancel it (legato runs cancel) to stop it instead",
    )


def in_tree(conn: Connection, flow_run_id: str, token_hash: str) -> bool:
    """Whether ``flow_run_id`` is the run holding ``token_hash``, or one of its subflows
    (a running subflow carries the hash; an ended one is found by its parent chain)."""
    run_id: str | None = flow_run_id
    for _ in range(MAX_DEPTH):
        if run_id is None:
            return False
        row = conn.execute(
            sa.select(flow_runs.c.token_hash, flow_runs.c.parent_flow_run_id).where(
                flow_runs.c.id == run_id
            )
        ).first()
        if row is None:
            return False
        if row.token_hash == token_hash:
            return True
        run_id = row.parent_flow_run_id
    return False


def check_proposal(
    conn: Connection, flow_run_id: str, row: Any, token: str | None, moving_to_running: bool
) -> tuple[Transition | None, dict[str, Any]]:
    """Whether a proposal with ``token`` may touch the locked ``row`` (its token_hash and
    parent_flow_run_id): a refusal (None: go on), and the token column to write with it.

    The rule: a proposal with a token must match the row's hash (a subflow whose hash
    was cleared when it ended is adopted again through its parent chain). A proposal
    without one comes from outside any attempt (a cancel, an operator, a worker giving
    a run back): it may not start a run a worker's process holds, and if it ends the
    run or sends it back to be scheduled, it takes the run back (the caller clears the
    hash, see :func:`release`).
    """
    if token is None:
        if row.token_hash is not None and moving_to_running:
            return not_claimed_by_caller(flow_run_id), {}
        return None, {}
    wanted = hash_token(token)
    if row.token_hash == wanted:
        return None, {}
    if (
        row.token_hash is None
        and row.parent_flow_run_id is not None
        and in_tree(conn, row.parent_flow_run_id, wanted)
    ):
        return None, {"token_hash": wanted}
    return taken_back(flow_run_id), {}


def release(conn: Connection, token_hash: str | None) -> None:
    """Take back every run of the attempt ``token_hash`` (the run and its subflows)."""
    if token_hash is not None:
        conn.execute(
            flow_runs.update().where(flow_runs.c.token_hash == token_hash).values(token_hash=None)
        )
