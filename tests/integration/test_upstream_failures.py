"""A task whose upstream failed never runs: it ends UpstreamFailed and the flow run fails."""

from __future__ import annotations

import pytest

import legato
from fixtures.scripts import state_names
from legato import StateType, flow, task
from legato.errors import UpstreamFailedError
from legato.schemas import TaskRunRecord


def _by_name(flow_run_id: str) -> dict[str, TaskRunRecord]:
    return {t.name: t for t in legato.get_client().read_task_runs(flow_run_id)}


def test_downstream_ends_upstream_failed_without_running_when_upstream_future_failed() -> None:
    ran: list[int] = []

    @task
    def broken() -> int:
        raise ValueError("no data")

    @task
    def downstream(value: int) -> int:
        ran.append(value)
        return value

    @flow
    def pipeline() -> int:
        return downstream.submit(broken.submit()).result()

    state = pipeline(return_state=True)
    runs = _by_name(state.run_id)
    record = legato.get_client().read_flow_run(state.run_id)

    assert ran == []
    assert runs["broken-0"].state.name == "Failed"
    assert runs["downstream-0"].state.name == "UpstreamFailed"
    assert runs["downstream-0"].state.type is StateType.FAILED
    assert "broken-0" in (runs["downstream-0"].state.message or "")
    assert runs["downstream-0"].run_count == 0
    assert state_names(runs["downstream-0"].id) == ["Pending", "UpstreamFailed"]
    assert record.state.name == "Failed"
    assert isinstance(state.exception, UpstreamFailedError)


def test_upstream_failure_propagates_down_a_chain_when_several_tasks_depend_on_it() -> None:
    ran: list[str] = []

    @task
    def broken() -> int:
        raise ValueError("no data")

    @task
    def middle(value: int) -> int:
        ran.append("middle")
        return value

    @task
    def last(value: int) -> int:
        ran.append("last")
        return value

    @flow
    def chain() -> int:
        return last.submit(middle.submit(broken.submit())).result()

    state = chain(return_state=True)
    runs = _by_name(state.run_id)

    assert ran == []
    assert runs["middle-0"].state.name == "UpstreamFailed"
    assert runs["last-0"].state.name == "UpstreamFailed"
    assert "middle-0" in (runs["last-0"].state.message or "")
    assert legato.get_client().read_flow_run(state.run_id).state.name == "Failed"


def test_downstream_ends_upstream_failed_when_wait_for_upstream_failed() -> None:
    ran: list[int] = []

    @task
    def broken() -> None:
        raise ValueError("no data")

    @task
    def after() -> None:
        ran.append(1)

    @flow
    def ordered() -> None:
        after.submit(wait_for=[broken.submit()]).result()

    state = ordered(return_state=True)
    runs = _by_name(state.run_id)

    assert ran == []
    assert runs["after-0"].state.name == "UpstreamFailed"
    assert state.type is StateType.FAILED


def test_direct_call_raises_upstream_failed_when_given_a_failed_future() -> None:
    ran: list[int] = []

    @task
    def broken() -> int:
        raise ValueError("no data")

    @task
    def direct(value: int) -> int:
        ran.append(value)
        return value

    @flow
    def calling() -> None:
        direct(broken.submit())

    with pytest.raises(UpstreamFailedError):
        calling()

    (run,) = legato.get_client().read_flow_runs(flow_name="calling")
    runs = _by_name(run.id)
    assert ran == []
    assert runs["direct-0"].state.name == "UpstreamFailed"
    assert run.state.name == "Failed"


def test_sibling_still_runs_when_an_unrelated_task_failed() -> None:
    @task
    def broken() -> int:
        raise ValueError("no data")

    @task
    def independent() -> str:
        return "fine"

    @flow
    def siblings() -> str:
        broken.submit().result(raise_on_failure=False)
        return independent.submit().result()

    state = siblings(return_state=True)
    runs = _by_name(state.run_id)

    assert state.result() == "fine"
    assert runs["independent-0"].state.name == "Completed"
