"""Orchestration: the decisions the store applies to every state write, as pure functions.

No I/O here: each decision takes small frozen records and returns a verdict, so it is
tested by tables of input -> decision, without a database. The store applies them in the
transaction that writes (:mod:`legato.store.state_door`, the one writer of run states).

    transitions  which state may follow which, for flow runs and for task runs
    claiming     may a worker claim this run now (state, time, pause, limits)
    limits       how many more may start under a pool's, deployment's or tag's limit
    lateness     is a scheduled run late
    crashes      is a run stale, still held, and what its crash makes of it (retry?)
    changes      a state change as the store reports it (run kind, id, old, new)
"""

from __future__ import annotations

from legato.orchestration.changes import PriorState, RunKind, StateChange
from legato.orchestration.transitions import (
    check_task_run_states,
    check_task_run_transition,
    check_transition,
)

__all__ = [
    "PriorState",
    "RunKind",
    "StateChange",
    "check_task_run_states",
    "check_task_run_transition",
    "check_transition",
]
