"""Which state may follow which: the rules every state write passes, for flow runs and
task runs.

A flow run's rule (:func:`check_transition`): a terminal run stays ended, unless it is
deliberately run again (a flow-run retry: ``rerun``); a Cancelling run only ends; a
Running run does not go back to Pending. A task run follows the same rule with one
difference (:func:`check_task_run_transition`): it may always go back to Pending,
which is how a new attempt of its flow run runs it again - after it ended, or after the
process of the attempt before died with it Running.

The tables of allowed moves are also given by state type *value*
(:data:`FLOW_RUN_MOVES`, :data:`TASK_RUN_MOVES`), for the store to check a batch of
thousands of task-run states with one dictionary look-up each.
"""

from __future__ import annotations

from collections.abc import Mapping

from legato.states import TERMINAL_TYPES, StateType, Transition

_EVERY = frozenset(StateType)

FLOW_RUN_NEXT: Mapping[StateType | None, frozenset[StateType]] = {
    None: _EVERY,
    StateType.SCHEDULED: _EVERY,
    StateType.PENDING: _EVERY,
    StateType.RUNNING: _EVERY - {StateType.PENDING},
    StateType.PAUSED: _EVERY,
    StateType.CANCELLING: frozenset(
        {StateType.CANCELLED, StateType.CRASHED, StateType.FAILED, StateType.COMPLETED}
    ),
    **{terminal: frozenset() for terminal in TERMINAL_TYPES},
}
"""The states a flow run may move to from each state (None: a new run), without a rerun."""

RERUN_TARGETS = frozenset({StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING})
"""Where a rerun may take a run that ended: to be claimed again, or started at once."""

TASK_RUN_NEXT: Mapping[StateType | None, frozenset[StateType]] = {
    current: allowed | {StateType.PENDING} if current is not None else allowed
    for current, allowed in FLOW_RUN_NEXT.items()
}
"""The states a task run may move to from each state (None: a new task run)."""


def _by_value(
    table: Mapping[StateType | None, frozenset[StateType]],
) -> dict[str | None, frozenset[str]]:
    return {
        None if current is None else current.value: frozenset(t.value for t in allowed)
        for current, allowed in table.items()
    }


FLOW_RUN_MOVES = _by_value(FLOW_RUN_NEXT)
""":data:`FLOW_RUN_NEXT` by state type value (``"RUNNING"``), as the store reads them."""
TASK_RUN_MOVES = _by_value(TASK_RUN_NEXT)
""":data:`TASK_RUN_NEXT` by state type value."""


def check_transition(
    current: StateType | None, proposed: StateType, *, rerun: bool = False
) -> Transition:
    """Decide whether a flow run in ``current`` may move to ``proposed``.

    ``rerun`` is set only when a finished run is deliberately run again (a flow-run
    retry); it lets a terminal run go back to Scheduled, Pending or Running.
    """
    if proposed in FLOW_RUN_NEXT[current]:
        return Transition(True)
    assert current is not None  # a new run may start in any state
    if current in TERMINAL_TYPES:
        if rerun and proposed in RERUN_TARGETS:
            return Transition(True)
        return Transition(
            False,
            f"the run is already {current.value.title()} (a terminal state) and cannot "
            f"move to {proposed.value.title()}; retry the flow run to run it again",
        )
    return Transition(
        False, f"a {current.value.title()} run cannot move to {proposed.value.title()}"
    )


def check_task_run_transition(current: StateType | None, proposed: StateType) -> Transition:
    """Decide whether a task run in ``current`` may move to ``proposed`` (None: it is new)."""
    if proposed in TASK_RUN_NEXT[current]:
        return Transition(True)
    assert current is not None
    if current in TERMINAL_TYPES:
        return Transition(
            False,
            f"the task run is already {current.value.title()} (a terminal state) and "
            f"cannot move to {proposed.value.title()}; only a new attempt of its flow run "
            "runs it again (from Pending)",
        )
    return Transition(
        False, f"a {current.value.title()} task run cannot move to {proposed.value.title()}"
    )


def check_task_run_states(
    current: StateType | None, proposed: list[StateType] | tuple[StateType, ...]
) -> tuple[int, Transition] | None:
    """The first of a task run's successive ``proposed`` states (arriving together, in
    order) that its rule refuses, from ``current``: its index and the verdict; None if
    every one is allowed."""
    for index, state_type in enumerate(proposed):
        verdict = check_task_run_transition(current, state_type)
        if not verdict.allowed:
            return index, verdict
        current = state_type
    return None
