"""Flow parameters are validated against type hints before the body runs."""

from __future__ import annotations

import pytest

import legato
from legato import StateType, flow
from legato.errors import ParameterValidationError


def test_flow_fails_at_once_naming_parameter_when_value_has_wrong_type() -> None:
    ran: list[int] = []

    @flow
    def typed(n: int) -> int:
        ran.append(n)
        return n

    with pytest.raises(ParameterValidationError) as caught:
        typed("abc")

    assert "'n'" in str(caught.value)
    assert ran == []
    (run,) = legato.get_client().read_flow_runs(flow_name="typed")
    assert run.state.type is StateType.FAILED
    assert run.state.name == "Failed"
    assert "'n'" in (run.state.message or "")
    assert str(caught.value) in (run.state.message or "")
    assert run.parameters == {"n": "abc"}
    assert legato.get_client().read_task_runs(run.id) == []
    assert [s.name for s in legato.get_client().read_state_history(run.id)] == [
        "Pending",
        "Failed",
    ]


def test_flow_parameter_is_coerced_when_value_converts_to_the_hinted_type() -> None:
    received: list[object] = []

    @flow
    def typed(n: int) -> int:
        received.append(n)
        return n * 2

    state = typed("5", return_state=True)

    assert state.result() == 10
    assert received == [5]
    assert type(received[0]) is int
    assert legato.get_client().read_flow_run(state.run_id).parameters == {"n": 5}


def test_flow_fails_naming_parameter_when_a_required_parameter_is_missing() -> None:
    @flow
    def needs_two(a: int, b: int) -> int:
        return a + b

    with pytest.raises(ParameterValidationError, match="'b'"):
        needs_two(1)


def test_flow_runs_unvalidated_when_validate_parameters_is_false() -> None:
    received: list[object] = []

    @flow(validate_parameters=False)
    def loose(n: int) -> None:
        received.append(n)

    loose("abc")

    assert received == ["abc"]
