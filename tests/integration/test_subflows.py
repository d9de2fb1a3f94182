"""A flow called inside a flow: a child flow run linked to its parent and its parent task run."""

from __future__ import annotations

import legato
from legato import StateType, flow, task


def test_child_flow_run_links_parent_and_parent_task_run_when_flow_calls_flow() -> None:
    @task
    def leaf() -> int:
        return 1

    @flow
    def child(x: int) -> int:
        return leaf() + x

    @flow
    def parent() -> int:
        return child(41)

    state = parent(return_state=True)
    client = legato.get_client()
    (child_run,) = client.read_flow_runs(flow_name="child")
    parent_task_runs = client.read_task_runs(state.run_id)

    assert state.result() == 42
    assert child_run.parent_flow_run_id == state.run_id
    assert child_run.parameters == {"x": 41}
    assert child_run.state.name == "Completed"
    linked = [t for t in parent_task_runs if t.id == child_run.parent_task_run_id]
    assert len(linked) == 1
    assert linked[0].subflow_run_id == child_run.id
    assert linked[0].flow_run_id == state.run_id
    assert linked[0].state.name == "Completed"
    # The child's own tasks belong to the child flow run, not to the parent.
    assert [t.name for t in client.read_task_runs(child_run.id)] == ["leaf-0"]
    assert all(t.subflow_run_id is not None for t in parent_task_runs)


def test_subflow_is_listed_by_parent_when_read_flow_runs_filters_on_parent() -> None:
    @flow
    def child() -> None:
        pass

    @flow
    def parent() -> None:
        child()
        child()

    state = parent(return_state=True)
    children = legato.get_client().read_flow_runs(parent_flow_run_id=state.run_id)

    assert len(children) == 2
    assert {c.flow_name for c in children} == {"child"}


def test_parent_task_run_and_parent_fail_when_subflow_fails() -> None:
    @flow
    def failing_child() -> None:
        raise RuntimeError("child broke")

    @flow
    def parent() -> None:
        failing_child()

    state = parent(return_state=True)
    client = legato.get_client()
    (child_run,) = client.read_flow_runs(flow_name="failing-child")
    parent_task = client.read_task_run(child_run.parent_task_run_id or "")

    assert child_run.state.name == "Failed"
    assert parent_task.state.type is StateType.FAILED
    assert parent_task.subflow_run_id == child_run.id
    assert client.read_flow_run(state.run_id).state.name == "Failed"
    assert isinstance(state.exception, RuntimeError)


def test_subflow_state_history_is_its_own_when_read_by_id() -> None:
    @flow
    def child() -> None:
        pass

    @flow
    def parent() -> None:
        child()

    parent()
    client = legato.get_client()
    (child_run,) = client.read_flow_runs(flow_name="child")

    assert [s.name for s in client.read_state_history(child_run.id)] == [
        "Pending",
        "Running",
        "Completed",
    ]
