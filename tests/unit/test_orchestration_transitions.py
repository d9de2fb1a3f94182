"""The transition rules of :mod:`legato.orchestration.transitions`: flow runs and task runs,
as tables of (current, proposed) -> allowed, and the by-value tables the store reads."""

from __future__ import annotations

import pytest

from legato.orchestration.transitions import (
    FLOW_RUN_MOVES,
    TASK_RUN_MOVES,
    check_task_run_states,
    check_task_run_transition,
    check_transition,
)
from legato.states import TERMINAL_TYPES, StateType

S = StateType
ALL = list(StateType)
CURRENTS: list[StateType | None] = [None, *ALL]

TASK_RUN_TABLE = [
    # (current, proposed, allowed)
    (None, S.PENDING, True),  # a new task run
    (None, S.COMPLETED, True),
    (S.PENDING, S.PENDING, True),  # waiting for a concurrency slot
    (S.PENDING, S.RUNNING, True),
    (S.PENDING, S.COMPLETED, True),  # Cached
    (S.PENDING, S.FAILED, True),  # UpstreamFailed
    (S.RUNNING, S.COMPLETED, True),
    (S.RUNNING, S.FAILED, True),
    (S.RUNNING, S.CRASHED, True),
    (S.RUNNING, S.SCHEDULED, True),  # AwaitingRetry
    (S.RUNNING, S.RUNNING, True),  # Retrying
    (S.RUNNING, S.PENDING, True),  # run again by the next attempt of its flow run
    (S.SCHEDULED, S.PENDING, True),  # a retry waiting for a slot
    (S.SCHEDULED, S.RUNNING, True),  # Retrying
    (S.CANCELLING, S.CANCELLED, True),
    (S.CANCELLING, S.PENDING, True),
    (S.CANCELLING, S.RUNNING, False),
    (S.CANCELLING, S.SCHEDULED, False),
    (S.COMPLETED, S.PENDING, True),  # run again: its result could not be read
    (S.FAILED, S.PENDING, True),
    (S.CRASHED, S.PENDING, True),
    (S.CANCELLED, S.PENDING, True),
    (S.COMPLETED, S.COMPLETED, False),  # Completed then Cached
    (S.COMPLETED, S.RUNNING, False),
    (S.COMPLETED, S.CRASHED, False),
    (S.CRASHED, S.COMPLETED, False),  # a body finishing after its flow run crashed it
    (S.FAILED, S.RUNNING, False),
    (S.CANCELLED, S.SCHEDULED, False),
]


@pytest.mark.parametrize(("current", "proposed", "allowed"), TASK_RUN_TABLE)
def test_task_run_transition_table(
    current: StateType | None, proposed: StateType, allowed: bool
) -> None:
    verdict = check_task_run_transition(current, proposed)
    assert verdict.allowed is allowed
    assert (verdict.reason == "") is allowed


@pytest.mark.parametrize("terminal", sorted(TERMINAL_TYPES))
def test_task_run_leaving_terminal_names_both_states(terminal: StateType) -> None:
    reason = check_task_run_transition(terminal, S.RUNNING).reason
    assert f"already {terminal.value.title()}" in reason
    assert "Running" in reason


@pytest.mark.parametrize("current", CURRENTS)
@pytest.mark.parametrize("proposed", ALL)
def test_task_run_rule_is_the_flow_run_rule_plus_going_back_to_pending(
    current: StateType | None, proposed: StateType
) -> None:
    task = check_task_run_transition(current, proposed).allowed
    flow = check_transition(current, proposed).allowed
    assert task is (flow or proposed is S.PENDING)


@pytest.mark.parametrize("current", CURRENTS)
@pytest.mark.parametrize("proposed", ALL)
def test_tables_by_value_say_what_the_functions_say(
    current: StateType | None, proposed: StateType
) -> None:
    key = None if current is None else current.value
    assert (proposed.value in FLOW_RUN_MOVES[key]) is check_transition(current, proposed).allowed
    assert (proposed.value in TASK_RUN_MOVES[key]) is check_task_run_transition(
        current, proposed
    ).allowed


@pytest.mark.parametrize(
    ("current", "proposed", "refused_at"),
    [
        (None, [S.PENDING, S.RUNNING, S.COMPLETED], None),
        (None, [S.PENDING, S.RUNNING, S.SCHEDULED, S.PENDING, S.RUNNING, S.FAILED], None),
        (S.PENDING, [S.RUNNING, S.COMPLETED], None),
        (S.FAILED, [S.PENDING, S.RUNNING, S.COMPLETED], None),  # a rerun
        (S.COMPLETED, [S.RUNNING], 0),
        (None, [S.PENDING, S.COMPLETED, S.COMPLETED], 2),
        (None, [S.PENDING, S.RUNNING, S.CRASHED, S.COMPLETED], 3),
        (S.RUNNING, [S.COMPLETED, S.PENDING, S.RUNNING, S.CANCELLED, S.FAILED], 4),
        (S.CANCELLING, [S.RUNNING, S.COMPLETED], 0),
        (S.PENDING, [], None),
    ],
)
def test_task_run_sequence_table(
    current: StateType | None, proposed: list[StateType], refused_at: int | None
) -> None:
    found = check_task_run_states(current, proposed)
    if refused_at is None:
        assert found is None
    else:
        assert found is not None
        index, verdict = found
        assert index == refused_at
        assert not verdict.allowed
