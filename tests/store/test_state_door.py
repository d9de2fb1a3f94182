"""The state door on SQLite and PostgreSQL: every state write is reported as a change
(run kind, run id, old state, new state) once its transaction commits, bulk writes too;
and task-run states arriving in batches pass the task-run rule, against the batch's own
states and the state stored before it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from fixtures.store_rows import FlowRunFactory
from legato.engine.task_run import TaskRun
from legato.errors import StoreError
from legato.ids import new_id
from legato.orchestration.changes import PriorState, RunKind, StateChange
from legato.schedules.planning import slot_key
from legato.schemas.deployments import DeploymentRunRequest, DeploymentSchedule, DeploymentSpec
from legato.states import State, StateType
from legato.store import Store
from legato.store.scheduling import SlotRun
from legato.store.state_door import StateChanges

S = StateType
NOW = 1_900_000_000.0


class Changes:
    """What the store's listeners heard: one list per committed transaction."""

    def __init__(self, store: Store):
        self.heard: list[list[StateChange]] = []
        store.state_listeners.append(lambda changes: self.heard.append(list(changes)))

    def all(self) -> list[StateChange]:
        return [change for heard in self.heard for change in heard]

    def moves(self) -> list[tuple[RunKind, str, str | None, str]]:
        return [
            (c.kind, c.run_id, None if c.old is None else c.old.name, c.new.name)
            for c in self.all()
        ]

    def clear(self) -> None:
        self.heard.clear()


@pytest.fixture
def changes(store: Store) -> Iterator[Changes]:
    yield Changes(store)


def task_run(flow_run_id: str, name: str = "t-0", state: State | None = None) -> TaskRun:
    return TaskRun(
        id=new_id(),
        flow_run_id=flow_run_id,
        name=name,
        task_key=f"flows.{name}",
        dynamic_key=0,
        tags=[],
        state=state or State(S.PENDING, "Pending", timestamp=NOW),
        created=NOW,
    )


def move(store: Store, run: TaskRun, state: State) -> None:
    run.move_to(state)
    store.writer.put(run.state_op())


def deploy(store: Store, **fields: object) -> str:
    spec = DeploymentSpec(
        flow_name="etl",
        name="nightly",
        entrypoint="flows.py:etl",
        work_pool="p",
        schedules=[DeploymentSchedule(schedule={"kind": "interval", "every": 60})],
        **fields,  # type: ignore[arg-type]
    )
    return store.deploy(spec).id


# -- flow runs --------------------------------------------------------------------------


def test_a_new_flow_run_is_a_change_from_nothing(
    store: Store, changes: Changes, make_flow_run: FlowRunFactory
) -> None:
    run_id = make_flow_run()
    [[change]] = changes.heard
    assert (change.kind, change.run_id, change.flow_run_id, change.old) == (
        RunKind.FLOW_RUN,
        run_id,
        run_id,
        None,
    )
    assert (change.new.type, change.new.name) == (S.PENDING, "Pending")


def test_a_proposal_reports_the_state_it_left_and_a_refusal_reports_nothing(
    store: Store, changes: Changes, make_flow_run: FlowRunFactory
) -> None:
    run_id = make_flow_run()
    changes.clear()
    assert store.set_flow_run_state(run_id, State(S.RUNNING, "Running", "go")).allowed
    assert store.set_flow_run_state(run_id, State(S.COMPLETED, "Completed")).allowed
    assert not store.set_flow_run_state(run_id, State(S.RUNNING, "Running")).allowed
    assert changes.moves() == [
        (RunKind.FLOW_RUN, run_id, "Pending", "Running"),
        (RunKind.FLOW_RUN, run_id, "Running", "Completed"),
    ]
    assert changes.all()[0].old == PriorState(S.PENDING, "Pending")
    assert changes.all()[0].new.message == "go"


def test_a_claim_is_one_transaction_of_changes_from_each_runs_state(
    store: Store, changes: Changes, make_flow_run: FlowRunFactory
) -> None:
    due = {"work_pool": "p", "expected_start_time": NOW - 10}
    scheduled = make_flow_run(state=State(S.SCHEDULED, "Scheduled"), **due)
    late = make_flow_run(state=State(S.SCHEDULED, "Late"), **due)
    changes.clear()
    claimed = store.claim_flow_runs("p", "w1", 5, now=NOW)
    assert {run.id for run in claimed} == {scheduled, late}
    [heard] = changes.heard
    assert sorted((c.run_id, c.old, c.new.name) for c in heard) == sorted(
        [
            (scheduled, PriorState(S.SCHEDULED, "Scheduled"), "Pending"),
            (late, PriorState(S.SCHEDULED, "Late"), "Pending"),
        ]
    )
    assert all(c.new.message == "claimed by worker w1" for c in heard)


def test_marking_late_reports_each_run_with_its_due_time(
    store: Store, changes: Changes, make_flow_run: FlowRunFactory
) -> None:
    runs = [
        make_flow_run(
            state=State(S.SCHEDULED, "Scheduled"), work_pool="p", expected_start_time=NOW - k
        )
        for k in (100, 200, 300)
    ]
    changes.clear()
    assert store.mark_late_runs(before=NOW, now=NOW) == 3
    [heard] = changes.heard
    assert len(heard) == 3
    assert sorted(c.run_id for c in heard) == sorted(runs)
    assert {c.old for c in heard} == {PriorState(S.SCHEDULED, "Scheduled")}
    assert {(c.new.type, c.new.name, c.new.timestamp) for c in heard} == {
        (S.SCHEDULED, "Late", NOW)
    }
    dues = {c.run_id: c.new.scheduled_time for c in heard}
    assert dues == {run: NOW - k for run, k in zip(runs, (100, 200, 300), strict=True)}
    assert store.mark_late_runs(before=NOW, now=NOW) == 0
    assert len(changes.heard) == 1  # nothing changed: nothing heard


def test_a_crash_retried_reports_both_states(
    store: Store, changes: Changes, make_flow_run: FlowRunFactory
) -> None:
    deployment_id = deploy(store, retries=1)
    run_id = make_flow_run(
        state=State(S.SCHEDULED, "Scheduled"),
        work_pool="p",
        expected_start_time=NOW - 50,
        deployment_id=deployment_id,
    )
    store.claim_flow_runs("p", "w1", 1, now=NOW - 40)
    changes.clear()
    outcome = store.crash_flow_run(run_id, "its process died", now=NOW)
    assert outcome is not None and outcome.state_name == "AwaitingRetry"
    assert changes.moves() == [
        (RunKind.FLOW_RUN, run_id, "Pending", "Crashed"),
        (RunKind.FLOW_RUN, run_id, "Crashed", "AwaitingRetry"),
    ]


def test_runs_of_deployments_are_changes_from_nothing(store: Store, changes: Changes) -> None:
    deployment_id = deploy(store)
    deployment = store.read_deployment(deployment_id)
    changes.clear()
    asked = store.create_deployment_run(deployment_id, DeploymentRunRequest(idempotency_key="k"))
    again = store.create_deployment_run(deployment_id, DeploymentRunRequest(idempotency_key="k"))
    assert again.id == asked.id
    schedule_id = deployment.schedules[0].id
    start = datetime.fromtimestamp(NOW, UTC)
    times = [start + timedelta(minutes=k) for k in range(3)]
    slots = [
        SlotRun(schedule_id, t.timestamp(), slot_key(deployment_id, schedule_id, t)) for t in times
    ]
    made = store.insert_scheduled_runs(deployment, slots)
    assert store.insert_scheduled_runs(deployment, slots) == []
    assert changes.moves() == [
        (RunKind.FLOW_RUN, run_id, None, "Scheduled") for run_id in [asked.id, *made]
    ]
    assert [c.new.scheduled_time for c in changes.all()[1:]] == [t.timestamp() for t in times]


def test_a_listener_that_fails_does_not_fail_the_write(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    def broken(changes: StateChanges) -> None:
        raise RuntimeError("listener bug")

    store.state_listeners.append(broken)
    run_id = make_flow_run()
    assert store.read_flow_run(run_id).state.name == "Pending"


# -- task runs in batches -------------------------------------------------------------------


def test_a_batch_reports_each_task_run_state_with_the_one_before_it(
    store: Store, changes: Changes, make_flow_run: FlowRunFactory
) -> None:
    flow_run_id = make_flow_run()
    run = task_run(flow_run_id)
    store.writer.put(run.insert_op())
    store.writer.put(run.state_op())
    move(store, run, State(S.RUNNING, "Running", timestamp=NOW + 1))
    store.writer.flush()
    move(store, run, State(S.COMPLETED, "Completed", timestamp=NOW + 2))
    store.writer.flush()
    task_moves = [m for m in changes.moves() if m[0] is RunKind.TASK_RUN]
    assert task_moves == [
        (RunKind.TASK_RUN, run.id, None, "Pending"),
        (RunKind.TASK_RUN, run.id, "Pending", "Running"),
        (RunKind.TASK_RUN, run.id, "Running", "Completed"),  # the state stored before it
    ]
    assert {c.flow_run_id for c in changes.all()} == {flow_run_id}


def test_a_task_run_state_the_rule_refuses_is_dropped_and_noted_the_rest_stored(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    flow_run_id = make_flow_run()
    done = task_run(flow_run_id, "done")
    other = task_run(flow_run_id, "other")
    for run in (done, other):
        store.writer.put(run.insert_op())
        store.writer.put(run.state_op())
    move(store, done, State(S.RUNNING, "Running", timestamp=NOW + 1))
    move(store, done, State(S.COMPLETED, "Completed", timestamp=NOW + 2))
    store.writer.flush()

    # A body that goes on after its task run ended (in another batch).
    move(store, done, State(S.CRASHED, "Crashed", "late", timestamp=NOW + 3))
    move(store, other, State(S.RUNNING, "Running", timestamp=NOW + 4))
    store.writer.flush()

    assert [h.name for h in store.read_state_history(done.id)] == [
        "Pending",
        "Running",
        "Completed",
    ]
    record = store.read_task_run(done.id)
    assert (record.state.name, record.state.timestamp.timestamp()) == ("Completed", NOW + 2)
    assert [h.name for h in store.read_state_history(other.id)] == ["Pending", "Running"]
    notes = [line.message for line in store.read_logs(flow_run_id) if line.level == "ERROR"]
    assert len(notes) == 1
    assert f"the Crashed state of task run {done.id}" in notes[0]
    assert "already Completed" in notes[0]


def test_states_within_one_batch_follow_one_another(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    flow_run_id = make_flow_run()
    run = task_run(flow_run_id)
    store.writer.put(run.insert_op())
    store.writer.put(run.state_op())
    move(store, run, State(S.COMPLETED, "Completed", timestamp=NOW + 1))
    move(store, run, State(S.COMPLETED, "Cached", timestamp=NOW + 2))
    store.writer.flush()
    assert [h.name for h in store.read_state_history(run.id)] == ["Pending", "Completed"]
    # The row shows the last state its history took, not the object's refused one.
    assert store.read_task_run(run.id).state.name == "Completed"


def test_a_new_attempt_runs_an_ended_task_run_again_from_pending(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    flow_run_id = make_flow_run()
    run = task_run(flow_run_id)
    store.writer.put(run.insert_op())
    store.writer.put(run.state_op())
    move(store, run, State(S.RUNNING, "Running", timestamp=NOW + 1))
    move(store, run, State(S.FAILED, "Failed", "boom", timestamp=NOW + 2))
    store.writer.flush()
    again = State(S.PENDING, "Pending", "run again in attempt 2", timestamp=NOW + 3)
    move(store, run, again)
    move(store, run, State(S.RUNNING, "Running", timestamp=NOW + 4))
    move(store, run, State(S.COMPLETED, "Completed", timestamp=NOW + 5))
    store.writer.flush()
    assert [h.name for h in store.read_state_history(run.id)] == [
        "Pending",
        "Running",
        "Failed",
        "Pending",
        "Running",
        "Completed",
    ]


def test_a_row_ahead_of_its_states_is_written_with_the_last_state_allowed(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    """The engine moves on before the writer reads the row: a row may carry a state whose
    op is in the next batch. One the rule allows after the batch's states is written as
    it is; one it does not (a terminal state left) is written as the last state allowed."""
    flow_run_id = make_flow_run()
    run = task_run(flow_run_id)
    store.writer.put(run.insert_op())
    store.writer.put(run.state_op())
    run.move_to(State(S.RUNNING, "Running", timestamp=NOW + 1))  # its op comes later
    store.writer.flush()
    assert store.read_task_run(run.id).state.name == "Running"  # ahead, allowed
    assert [h.name for h in store.read_state_history(run.id)] == ["Pending"]

    store.writer.put(run.state_op())
    move(store, run, State(S.FAILED, "Failed", timestamp=NOW + 2))
    store.writer.flush()
    run.move_to(State(S.RUNNING, "Running", timestamp=NOW + 3))  # out of Failed: refused
    store.writer.put(run.update_op())
    store.writer.flush()
    record = store.read_task_run(run.id)
    assert (record.state.name, record.state.timestamp.timestamp()) == ("Failed", NOW + 2)


def test_a_client_batch_with_a_refused_state_is_refused_whole(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    """``submit`` (a client's batch): nothing of it is stored, and the caller hears why."""
    flow_run_id = make_flow_run()
    run = task_run(flow_run_id)
    store.writer.put(run.insert_op())
    store.writer.put(run.state_op())
    move(store, run, State(S.COMPLETED, "Completed", timestamp=NOW + 1))
    store.writer.flush()
    fresh = task_run(flow_run_id, "fresh")
    run.move_to(State(S.RUNNING, "Running", timestamp=NOW + 2))
    with pytest.raises(StoreError, match="already Completed"):
        store.writer.submit(
            [fresh.insert_op(), fresh.state_op(), run.update_op(), run.state_op()], timeout=30
        )
    assert [r.id for r in store.read_task_runs(flow_run_id)] == [run.id]
    assert [h.name for h in store.read_state_history(run.id)] == ["Pending", "Completed"]
