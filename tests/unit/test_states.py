"""The state machine of :mod:`legato.states`: a table of transitions, properties, constructors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from legato import states
from legato.errors import RunFailed
from legato.orchestration.transitions import check_transition
from legato.states import (
    ACTIVE_TYPES,
    FAILURE_TYPES,
    STATE_NAMES,
    TERMINAL_TYPES,
    State,
    StateType,
)

S = StateType
ALL_TYPES = list(StateType)
NON_TERMINAL = [t for t in ALL_TYPES if t not in TERMINAL_TYPES]
RERUN_TARGETS = {S.SCHEDULED, S.PENDING, S.RUNNING}

TRANSITIONS = [
    # (current, proposed, rerun, allowed)
    (None, S.PENDING, False, True),
    (None, S.SCHEDULED, False, True),
    (None, S.RUNNING, False, True),
    (None, S.COMPLETED, False, True),
    (S.SCHEDULED, S.PENDING, False, True),
    (S.SCHEDULED, S.RUNNING, False, True),
    (S.SCHEDULED, S.CANCELLED, False, True),
    (S.PENDING, S.RUNNING, False, True),
    (S.PENDING, S.PENDING, False, True),
    (S.PENDING, S.FAILED, False, True),
    (S.PENDING, S.COMPLETED, False, True),
    (S.RUNNING, S.COMPLETED, False, True),
    (S.RUNNING, S.FAILED, False, True),
    (S.RUNNING, S.CRASHED, False, True),
    (S.RUNNING, S.SCHEDULED, False, True),  # AwaitingRetry
    (S.RUNNING, S.RUNNING, False, True),  # Retrying
    (S.RUNNING, S.PAUSED, False, True),
    (S.RUNNING, S.CANCELLING, False, True),
    (S.RUNNING, S.PENDING, False, False),
    (S.PAUSED, S.RUNNING, False, True),
    (S.PAUSED, S.PENDING, False, True),
    (S.CANCELLING, S.CANCELLED, False, True),
    (S.CANCELLING, S.CRASHED, False, True),
    (S.CANCELLING, S.FAILED, False, True),
    (S.CANCELLING, S.COMPLETED, False, True),
    (S.CANCELLING, S.RUNNING, False, False),
    (S.CANCELLING, S.PENDING, False, False),
    (S.CANCELLING, S.SCHEDULED, False, False),
    (S.CANCELLING, S.PAUSED, False, False),
    (S.COMPLETED, S.RUNNING, False, False),
    (S.COMPLETED, S.COMPLETED, False, False),
    (S.COMPLETED, S.FAILED, False, False),
    (S.FAILED, S.RUNNING, False, False),
    (S.FAILED, S.PENDING, False, False),
    (S.FAILED, S.SCHEDULED, False, False),
    (S.CRASHED, S.RUNNING, False, False),
    (S.CANCELLED, S.PENDING, False, False),
    (S.COMPLETED, S.PENDING, True, True),
    (S.FAILED, S.SCHEDULED, True, True),
    (S.FAILED, S.PENDING, True, True),
    (S.FAILED, S.RUNNING, True, True),
    (S.CRASHED, S.RUNNING, True, True),
    (S.CANCELLED, S.SCHEDULED, True, True),
    (S.FAILED, S.COMPLETED, True, False),
    (S.FAILED, S.FAILED, True, False),
    (S.COMPLETED, S.CANCELLING, True, False),
    (S.CRASHED, S.PAUSED, True, False),
    # rerun changes nothing for a run that has not ended
    (S.RUNNING, S.PENDING, True, False),
    (S.PENDING, S.RUNNING, True, True),
]


@pytest.mark.parametrize(("current", "proposed", "rerun", "allowed"), TRANSITIONS)
def test_check_transition_table(
    current: StateType | None, proposed: StateType, rerun: bool, allowed: bool
) -> None:
    verdict = check_transition(current, proposed, rerun=rerun)
    assert verdict.allowed is allowed
    if allowed:
        assert verdict.reason == ""
    else:
        assert verdict.reason


@pytest.mark.parametrize("terminal", sorted(TERMINAL_TYPES))
def test_refusal_reason_names_both_states_when_leaving_terminal(terminal: StateType) -> None:
    verdict = check_transition(terminal, S.RUNNING)
    assert not verdict.allowed
    assert terminal.value.title() in verdict.reason
    assert "Running" in verdict.reason
    assert "terminal" in verdict.reason


def test_refusal_reason_names_both_states_for_non_terminal() -> None:
    verdict = check_transition(S.CANCELLING, S.RUNNING)
    assert verdict.reason == "a Cancelling run cannot move to Running"


def test_type_sets_are_consistent() -> None:
    assert FAILURE_TYPES <= TERMINAL_TYPES
    assert not (ACTIVE_TYPES & TERMINAL_TYPES)
    assert S.COMPLETED in TERMINAL_TYPES
    assert S.COMPLETED not in FAILURE_TYPES


@given(
    start=st.sampled_from(ALL_TYPES),
    proposals=st.lists(st.tuples(st.sampled_from(ALL_TYPES), st.booleans()), max_size=40),
)
def test_machine_never_leaves_terminal_without_rerun(
    start: StateType, proposals: list[tuple[StateType, bool]]
) -> None:
    """Walk random proposals from nothing; once terminal, only a rerun ever gets out."""
    current: StateType | None = None
    first = check_transition(current, start)
    assert first.allowed  # a new run may start in any state
    current = start
    for proposed, rerun in proposals:
        verdict = check_transition(current, proposed, rerun=rerun)
        if current in TERMINAL_TYPES:
            if not rerun:
                assert not verdict.allowed
            else:
                assert verdict.allowed is (proposed in RERUN_TARGETS)
        if verdict.allowed:
            current = proposed


@given(current=st.sampled_from(NON_TERMINAL), proposed=st.sampled_from(ALL_TYPES))
def test_rerun_flag_never_changes_verdict_of_non_terminal(
    current: StateType, proposed: StateType
) -> None:
    assert (
        check_transition(current, proposed, rerun=True).allowed
        is check_transition(current, proposed, rerun=False).allowed
    )


@given(current=st.sampled_from(sorted(TERMINAL_TYPES)), proposed=st.sampled_from(ALL_TYPES))
def test_rerun_from_terminal_allows_exactly_restart_types(
    current: StateType, proposed: StateType
) -> None:
    assert check_transition(current, proposed, rerun=True).allowed is (proposed in RERUN_TARGETS)
    assert not check_transition(current, proposed, rerun=False).allowed


@pytest.mark.parametrize("current", NON_TERMINAL)
def test_any_non_terminal_may_end_failed_or_crashed(current: StateType) -> None:
    assert check_transition(current, S.FAILED).allowed
    assert check_transition(current, S.CRASHED).allowed


CONSTRUCTORS = [
    ("Scheduled", S.SCHEDULED),
    ("Late", S.SCHEDULED),
    ("AwaitingRetry", S.SCHEDULED),
    ("AwaitingConcurrencySlot", S.SCHEDULED),
    ("Pending", S.PENDING),
    ("Running", S.RUNNING),
    ("Retrying", S.RUNNING),
    ("Completed", S.COMPLETED),
    ("Cached", S.COMPLETED),
    ("Failed", S.FAILED),
    ("TimedOut", S.FAILED),
    ("UpstreamFailed", S.FAILED),
    ("Crashed", S.CRASHED),
    ("Cancelling", S.CANCELLING),
    ("Cancelled", S.CANCELLED),
    ("Paused", S.PAUSED),
    ("Suspended", S.PAUSED),
]


@pytest.mark.parametrize(("name", "type_"), CONSTRUCTORS)
def test_state_constructor_has_documented_type_and_name(name: str, type_: StateType) -> None:
    make = getattr(states, name)
    state = make("a message", run_id="r1")
    assert isinstance(state, State)
    assert state.type is type_
    assert state.name == name
    assert state.message == "a message"
    assert state.run_id == "r1"
    assert state.is_final() is (type_ in TERMINAL_TYPES)


@pytest.mark.parametrize(("name", "type_"), CONSTRUCTORS)
def test_state_constructor_takes_a_name_and_keeps_its_type(name: str, type_: StateType) -> None:
    state = getattr(states, name)(message="why", name="Skipped")
    assert (state.type, state.name, state.message) == (type_, "Skipped", "why")


def test_completed_named_skipped_carries_its_data() -> None:
    state = states.Completed(name="Skipped", data={"rows": 0})
    assert state.is_completed()
    assert state.result() == {"rows": 0}


@pytest.mark.parametrize("bad", ["", "   ", "x" * 33, 7])
def test_state_constructor_refuses_a_name_the_store_cannot_keep(bad: object) -> None:
    with pytest.raises(ValueError, match="at most 32 characters"):
        states.Completed(name=bad)  # type: ignore[arg-type]


def test_state_constructor_refuses_another_type() -> None:
    with pytest.raises(TypeError, match="Completed\\(\\) makes COMPLETED states"):
        states.Completed(type=S.FAILED)


def test_failed_with_an_error_as_data_raises_it() -> None:
    error = ValueError("bad rows")
    with pytest.raises(ValueError) as info:
        states.Failed(data=error).result()
    assert info.value is error


def test_every_constructor_is_listed_in_state_names() -> None:
    assert sorted(STATE_NAMES) == sorted(name for name, _ in CONSTRUCTORS)


def test_state_constructor_accepts_scheduled_time() -> None:
    state = states.AwaitingRetry(scheduled_time=123.5)
    assert state.scheduled_time == 123.5
    assert state.is_scheduled()


@pytest.mark.parametrize("name", ["Failed", "TimedOut", "UpstreamFailed", "Crashed", "Cancelled"])
def test_result_raises_held_exception_for_failure_types(name: str) -> None:
    error = KeyError("boom")
    state = getattr(states, name)("it broke", exception=error)
    with pytest.raises(KeyError) as info:
        state.result()
    assert info.value is error


@pytest.mark.parametrize("name", ["Failed", "TimedOut", "UpstreamFailed", "Crashed", "Cancelled"])
def test_result_raises_run_failed_without_exception(name: str) -> None:
    state = getattr(states, name)("the worker died")
    with pytest.raises(RunFailed, match="the worker died") as info:
        state.result()
    assert name in str(info.value)


def test_result_raises_run_failed_with_default_message() -> None:
    with pytest.raises(RunFailed, match="Failed: the run did not complete"):
        states.Failed().result()


@pytest.mark.parametrize("name", ["Failed", "TimedOut", "Crashed", "Cancelled"])
def test_result_returns_exception_when_not_raising(name: str) -> None:
    error = ValueError("bad")
    state = getattr(states, name)(exception=error)
    assert state.result(raise_on_failure=False) is error
    assert getattr(states, name)().result(raise_on_failure=False) is None


@pytest.mark.parametrize(
    "name", ["Completed", "Cached", "Running", "Pending", "Scheduled", "AwaitingRetry", "Paused"]
)
def test_result_returns_data_for_other_types(name: str) -> None:
    payload = {"rows": [1, 2, 3]}
    state = getattr(states, name)(data=payload)
    assert state.result() is payload
    assert state.result(raise_on_failure=False) is payload


def test_data_and_exception_do_not_count_in_equality() -> None:
    a = State(S.COMPLETED, "Completed", timestamp=1.0, data=1)
    b = State(S.COMPLETED, "Completed", timestamp=1.0, data=2, exception=ValueError())
    assert a == b


def test_with_run_id_returns_copy() -> None:
    state = states.Running(timestamp=5.0)
    copy = state.with_run_id("abc")
    assert copy.run_id == "abc"
    assert state.run_id is None
    assert copy.timestamp == 5.0


@pytest.mark.parametrize(
    ("name", "predicate"),
    [
        ("Completed", "is_completed"),
        ("Cached", "is_completed"),
        ("Failed", "is_failed"),
        ("TimedOut", "is_failed"),
        ("Crashed", "is_crashed"),
        ("Cancelled", "is_cancelled"),
        ("Running", "is_running"),
        ("Retrying", "is_running"),
        ("Pending", "is_pending"),
        ("Late", "is_scheduled"),
    ],
)
def test_state_predicates(name: str, predicate: str) -> None:
    assert getattr(getattr(states, name)(), predicate)() is True
