"""How a body's return value ends its run (:mod:`legato.engine.returned`): a table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from legato import states
from legato.engine.futures import LegatoFuture
from legato.engine.returned import returned_futures, returned_state
from legato.states import State, StateType

S = StateType


@dataclass
class _Run:
    id: str
    name: str
    state: State


def done(state: State, name: str = "t-0") -> LegatoFuture[Any]:
    future: LegatoFuture[Any] = LegatoFuture(_Run(name, name, states.Running()))
    future.set_state(state)
    return future


@pytest.mark.parametrize("value", [None, 1, "Failed", [], [1, states.Failed()], {"a": 1}, ()])
def test_an_ordinary_value_says_nothing(value: Any) -> None:
    assert returned_state(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (states.Failed("bad rows"), (S.FAILED, "Failed", "bad rows")),
        (states.Completed(name="Skipped"), (S.COMPLETED, "Skipped", None)),
        (states.Cancelled("no need"), (S.CANCELLED, "Cancelled", "no need")),
        (states.Crashed("gone"), (S.CRASHED, "Crashed", "gone")),
        (done(states.Failed("upstream broke")), (S.FAILED, "Failed", "upstream broke")),
        ([states.Completed(), states.Completed()], (S.COMPLETED, "Completed", None)),
        ([states.Completed(), states.Failed()], (S.FAILED, "Failed", "1/2 states failed")),
        ((states.Crashed(), states.Failed()), (S.FAILED, "Failed", "2/2 states failed")),
        (
            {"a": states.Completed(), "b": states.Cancelled()},
            (S.CANCELLED, "Cancelled", "1/2 states cancelled"),
        ),
        ([done(states.Completed()), done(states.Failed())], (S.FAILED, "Failed", None)),
        (
            [states.Running(), states.Completed()],
            (S.FAILED, "Failed", "1/2 states not final"),
        ),
    ],
)
def test_a_returned_state_decides_the_end(value: Any, expected: tuple[Any, ...]) -> None:
    state = returned_state(value)
    assert state is not None
    kind, name, message = expected
    assert (state.type, state.name) == (kind, name)
    if message is not None:
        assert state.message == message


@pytest.mark.parametrize("make", [states.Pending, states.Running, states.Scheduled, states.Paused])
def test_a_state_that_ends_nothing_ends_the_run_failed(make: Any) -> None:
    state = returned_state(make())
    assert state is not None and state.type is S.FAILED
    assert state.message is not None and "does not end a run" in state.message


def test_the_data_of_a_returned_completed_state_is_the_result() -> None:
    state = returned_state(states.Completed(data=[1, 2]))
    assert state is not None and state.result() == [1, 2]


def test_returned_futures_are_replaced_by_their_values_and_observed() -> None:
    futures = [done(states.Completed(data=n), f"t-{n}") for n in range(3)]
    state = returned_state(futures)
    assert state is not None and state.result() == [0, 1, 2]
    assert all(f.observed for f in futures)


def test_returned_futures_are_found_to_be_waited_for() -> None:
    first, second = done(states.Completed()), done(states.Completed())
    assert returned_futures(first) == [first]
    assert returned_futures({"x": first, "y": second}) == [first, second]
    assert returned_futures([first, 1]) == []
