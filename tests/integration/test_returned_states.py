"""A task or flow that returns a state ends in it: read back from the stored runs."""

from __future__ import annotations

import pytest

import legato
from legato import flow, task
from legato.errors import RunFailed
from legato.schemas import FlowRunRecord, TaskRunRecord
from legato.states import Cancelled, Completed, Failed, State


def _flow_run(name: str) -> FlowRunRecord:
    (run,) = legato.get_client().read_flow_runs(flow_name=name)
    return run


def _task_runs(flow_run_id: str) -> dict[str, TaskRunRecord]:
    return {t.name: t for t in legato.get_client().read_task_runs(flow_run_id)}


def _stored(record: FlowRunRecord | TaskRunRecord) -> tuple[str, str, str | None]:
    return (record.state.type, record.state.name, record.state.message)


def _history(run_id: str) -> list[str]:
    return [s.name for s in legato.get_client().read_state_history(run_id)]


def test_a_flow_that_returns_failed_is_stored_failed_with_its_message() -> None:
    @flow(name="returns-failed")
    def returns_failed() -> State:
        return Failed(message="bad rows")

    with pytest.raises(RunFailed, match="Failed: bad rows"):
        returns_failed()
    run = _flow_run("returns-failed")
    assert _stored(run) == ("FAILED", "Failed", "bad rows")
    assert _history(run.id) == ["Pending", "Running", "Failed"]


def test_a_flow_that_returns_completed_named_skipped_is_stored_so() -> None:
    @flow(name="skips")
    def skips() -> State:
        return Completed(name="Skipped", message="nothing new", data=0)

    assert skips() == 0
    assert _stored(_flow_run("skips")) == ("COMPLETED", "Skipped", "nothing new")


def test_a_task_that_returns_completed_named_skipped_is_stored_so() -> None:
    @task
    def maybe() -> State:
        return Completed(name="Skipped", data="kept")

    @flow(name="skipping-task")
    def skipping_task() -> str:
        return maybe()  # type: ignore[no-any-return]

    assert skipping_task() == "kept"
    run = _flow_run("skipping-task")
    assert run.state.name == "Completed"
    assert _stored(_task_runs(run.id)["maybe-0"]) == ("COMPLETED", "Skipped", None)


def test_a_flow_that_returns_states_is_failed_if_one_failed() -> None:
    @task
    def fine() -> int:
        return 1

    @task
    def broken() -> State:
        return Failed(message="broken on purpose")

    @flow(name="returns-states")
    def returns_states() -> list[State]:
        return [fine(return_state=True), broken(return_state=True), fine(return_state=True)]

    state = returns_states(return_state=True)
    assert (state.type.value, state.message) == ("FAILED", "1/3 states failed")
    run = _flow_run("returns-states")
    assert _stored(run) == ("FAILED", "Failed", "1/3 states failed")
    assert _stored(_task_runs(run.id)["broken-0"]) == ("FAILED", "Failed", "broken on purpose")


def test_a_flow_that_returns_futures_completes_with_their_values() -> None:
    @task
    def double(x: int) -> int:
        return 2 * x

    @flow(name="returns-futures")
    def returns_futures() -> object:
        return double.map([1, 2, 3])

    assert returns_futures() == [2, 4, 6]
    assert _flow_run("returns-futures").state.type == "COMPLETED"


def test_a_task_that_returns_failed_fails_where_the_flow_uses_it() -> None:
    @task
    def load() -> State:
        return Failed(message="bad rows")

    @flow(name="observes")
    def observes() -> str:
        future = load.submit()
        try:
            future.result()
        except RunFailed as failure:
            return f"seen: {failure}"
        return "not seen"

    assert observes() == "seen: Failed: bad rows"
    run = _flow_run("observes")
    assert run.state.name == "Completed"
    assert _stored(_task_runs(run.id)["load-0"]) == ("FAILED", "Failed", "bad rows")


def test_a_task_that_returns_failed_is_retried_like_one_that_raised() -> None:
    calls: list[int] = []

    @task(retries=1, retry_delay_seconds=0)
    def flaky() -> State | str:
        calls.append(1)
        return Failed(message=f"attempt {len(calls)}") if len(calls) == 1 else "ok"

    @task(retries=1, retry_delay_seconds=0)
    def hopeless() -> State:
        return Failed(message="always")

    @flow(name="retried")
    def retried() -> list[State]:
        return [flaky(return_state=True), hopeless(return_state=True)]

    with pytest.raises(RunFailed, match="1/2 states failed"):
        retried()
    runs = _task_runs(_flow_run("retried").id)
    assert (runs["flaky-0"].state.name, runs["flaky-0"].run_count) == ("Completed", 2)
    assert _history(runs["flaky-0"].id) == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]
    assert _stored(runs["hopeless-0"]) == ("FAILED", "Failed", "always")
    assert runs["hopeless-0"].run_count == 2
    assert _history(runs["hopeless-0"].id)[-3:] == ["AwaitingRetry", "Retrying", "Failed"]


def test_a_flow_that_returns_failed_is_retried_by_its_retries() -> None:
    attempts: list[int] = []

    @flow(name="flow-retried", retries=1, retry_delay_seconds=0)
    def flow_retried() -> State | int:
        attempts.append(1)
        return Failed(message="first try") if len(attempts) == 1 else 7

    assert flow_retried() == 7
    run = _flow_run("flow-retried")
    assert _history(run.id) == ["Pending", "Running", "AwaitingRetry", "Retrying", "Completed"]


def test_a_task_that_returns_cancelled_ends_cancelled() -> None:
    @task
    def not_needed() -> State:
        return Cancelled(message="not needed today")

    @flow(name="cancels-a-task")
    def cancels_a_task() -> State:
        return not_needed(return_state=True)  # type: ignore[no-any-return]

    state = cancels_a_task(return_state=True)
    assert (state.type.value, state.message) == ("CANCELLED", "not needed today")
    run = _flow_run("cancels-a-task")
    assert _stored(run) == ("CANCELLED", "Cancelled", "not needed today")
    assert _stored(_task_runs(run.id)["not_needed-0"]) == (
        "CANCELLED",
        "Cancelled",
        "not needed today",
    )


def test_a_flow_that_returns_a_state_that_ends_nothing_fails_saying_so() -> None:
    @flow(name="returns-running")
    def returns_running() -> State:
        return legato.states.Running()

    with pytest.raises(RunFailed, match="returned a Running state, which does not end a run"):
        returns_running()
