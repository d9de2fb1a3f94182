"""A flow with tasks, run for real and read back: values, state histories, parameters."""

from __future__ import annotations

import legato
from fixtures.scripts import seconds, state_names
from legato import State, StateType, flow, task


def test_task_call_returns_value_when_called_in_flow() -> None:
    @task
    def double(x: int) -> int:
        return 2 * x

    @flow
    def doubling() -> int:
        return double(21)

    assert doubling() == 42


def test_task_run_history_is_pending_running_completed_when_task_succeeds() -> None:
    @task
    def one() -> int:
        return 1

    @flow
    def single() -> None:
        one()

    state = single(return_state=True)
    client = legato.get_client()
    (task_run,) = client.read_task_runs(state.run_id)
    history = client.read_state_history(task_run.id)

    assert [s.name for s in history] == ["Pending", "Running", "Completed"]
    assert [s.type for s in history] == [StateType.PENDING, StateType.RUNNING, StateType.COMPLETED]
    stamps = [seconds(s) for s in history]
    assert stamps == sorted(stamps)
    assert stamps[0] < stamps[2]
    assert task_run.name == "one-0"
    assert task_run.run_count == 1
    assert task_run.state.name == "Completed"


def test_flow_run_history_is_pending_running_completed_when_flow_succeeds() -> None:
    @flow
    def quiet() -> str:
        return "done"

    state = quiet(return_state=True)
    client = legato.get_client()
    history = client.read_state_history(state.run_id)

    assert [s.name for s in history] == ["Pending", "Running", "Completed"]
    stamps = [seconds(s) for s in history]
    assert stamps == sorted(stamps)
    record = client.read_flow_run(state.run_id)
    assert record.state.name == "Completed"
    assert record.flow_name == "quiet"
    assert record.run_count == 1
    assert record.start_time is not None and record.end_time is not None
    assert record.end_time >= record.start_time


def test_flow_run_parameters_are_stored_when_flow_is_called() -> None:
    @flow
    def greet(name: str, times: int = 2, shout: bool = False) -> str:
        return name * times

    state = greet("hi", times=3, return_state=True)
    record = legato.get_client().read_flow_run(state.run_id)

    assert record.parameters == {"name": "hi", "times": 3, "shout": False}


def test_return_state_gives_state_with_flow_run_id_when_asked() -> None:
    @flow
    def answer() -> int:
        return 42

    state = answer(return_state=True)

    assert isinstance(state, State)
    assert state.is_completed()
    assert state.result() == 42
    runs = legato.get_client().read_flow_runs(flow_name="answer")
    assert [run.id for run in runs] == [state.run_id]


def test_flow_names_default_to_function_name_with_dashes_when_not_given() -> None:
    @flow
    def load_the_data() -> None:
        pass

    state = load_the_data(return_state=True)

    assert legato.get_client().read_flow_run(state.run_id).flow_name == "load-the-data"


def test_task_runs_are_numbered_per_task_when_called_several_times() -> None:
    @task
    def step(i: int) -> int:
        return i

    @flow
    def steps() -> None:
        for i in range(3):
            step(i)

    state = steps(return_state=True)

    names = sorted(t.name for t in legato.get_client().read_task_runs(state.run_id))
    assert names == ["step-0", "step-1", "step-2"]


def test_task_failure_fails_flow_run_when_not_caught() -> None:
    @task
    def broken() -> None:
        raise ValueError("boom")

    @flow
    def breaking() -> None:
        broken()

    state = breaking(return_state=True)
    client = legato.get_client()

    assert state.type is StateType.FAILED
    assert isinstance(state.exception, ValueError)
    record = client.read_flow_run(state.run_id)
    assert record.state.name == "Failed"
    assert "boom" in (record.state.message or "")
    (task_run,) = client.read_task_runs(state.run_id)
    assert state_names(task_run.id) == ["Pending", "Running", "Failed"]
    assert "ValueError: boom" in (task_run.state.message or "")


def test_task_call_returns_failed_state_without_raising_when_return_state_is_true() -> None:
    @task
    def broken() -> None:
        raise ValueError("kept in the state")

    @flow
    def inspecting() -> str:
        state = broken(return_state=True)
        assert isinstance(state, State)
        return f"{state.type.value}:{state.name}"

    state = inspecting(return_state=True)

    assert state.result() == "FAILED:Failed"
    assert legato.get_client().read_flow_run(state.run_id).state.name == "Completed"


def test_tags_and_run_name_are_stored_when_given_to_flow_and_task() -> None:
    @task(tags=["io", "db"])
    def tagged() -> None:
        pass

    @flow(tags=["nightly"], flow_run_name="load-{day}")
    def named(day: str) -> None:
        tagged()

    state = named("monday", return_state=True)
    client = legato.get_client()
    record = client.read_flow_run(state.run_id)
    (task_run,) = client.read_task_runs(state.run_id)

    assert record.name == "load-monday"
    assert record.tags == ["nightly"]
    assert task_run.tags == ["db", "io"]
