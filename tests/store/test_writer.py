"""Store conformance, the batched writer: task runs, edges, state history and logs.

Ops are put on ``store.writer`` exactly as documented in ``legato/store/writer.py``:
a task run travels as the engine's own :class:`legato.engine.task_run.TaskRun`
object and a state as a :class:`legato.states.State`. State changes are made
the engine's way, ``task_run.move_to(state)`` then ``put(task_run.state_op())``;
history rows come from the states in the ops, the task run's row from the object
when the batch is written. ``flush()`` is the durability barrier, after which
everything is read back. Every test runs on SQLite and on PostgreSQL (see
``conftest.py``).
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from fixtures.store_rows import FlowRunFactory
from legato.engine.task_run import TaskRun
from legato.errors import ObjectNotFound, StoreError
from legato.ids import new_id
from legato.ops import (
    Group,
    InsertTaskRun,
    Op,
    RecordInput,
    RecordLog,
    RecordState,
    Ticket,
    UpdateTaskRun,
)
from legato.states import State, StateType
from legato.store import Store
from legato.store.tables import state_history

pytestmark = pytest.mark.slow

S = StateType


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def make_task_run(
    flow_run_id: str,
    *,
    task_run_id: str | None = None,
    name: str = "extract-0",
    task_key: str = "flows.extract",
    dynamic_key: int = 0,
    tags: list[str] | None = None,
    created: float = 1000.0,
    state: State | None = None,
    **attributes: Any,
) -> TaskRun:
    """A task run as the engine makes it: Pending at ``created`` unless ``state`` says else."""
    return TaskRun(
        id=task_run_id or new_id(),
        flow_run_id=flow_run_id,
        name=name,
        task_key=task_key,
        dynamic_key=dynamic_key,
        tags=tags if tags is not None else [],
        state=state or State(S.PENDING, "Pending", timestamp=created),
        created=created,
        **attributes,
    )


def move(store: Store, task_run: TaskRun, state: State) -> None:
    """Record a state change the engine's way: move the object, then enqueue its state op."""
    task_run.move_to(state)
    store.writer.put(task_run.state_op())


def log_op(
    flow_run_id: str | None,
    task_run_id: str | None,
    message: str,
    timestamp: float,
    *,
    level: str = "INFO",
    logger: str = "legato.task_runs",
) -> RecordLog:
    return RecordLog(
        {
            "flow_run_id": flow_run_id,
            "task_run_id": task_run_id,
            "timestamp": timestamp,
            "level": level,
            "logger": logger,
            "message": message,
        }
    )


def input_op(task_run_id: str, parameter: str, upstream_id: str) -> RecordInput:
    return RecordInput(
        {"task_run_id": task_run_id, "parameter": parameter, "upstream_id": upstream_id}
    )


def count_commits(store: Store) -> list[int]:
    """A one-item list counting commits on the store's engine from now on."""
    commits = [0]

    def on_commit(_conn: Any) -> None:
        commits[0] += 1

    event.listen(store.engine, "commit", on_commit)
    return commits


def count_rows(store: Store, table: sa.Table) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


@pytest.fixture
def flow_run_id(make_flow_run: FlowRunFactory) -> str:
    return make_flow_run()


# -- each kind of op -------------------------------------------------------------------


def test_ops_are_the_documented_records(flow_run_id: str) -> None:
    """What the engine enqueues is what ``legato.ops`` documents (and these tests put)."""
    task_run = make_task_run(flow_run_id)
    assert task_run.insert_op() == InsertTaskRun(task_run)
    assert task_run.update_op() == UpdateTaskRun(task_run)
    op = task_run.state_op()
    assert type(op) is RecordState
    assert op.task_run is task_run
    assert op.state is task_run.state


def test_task_run_op_inserts_a_task_run(store: Store, flow_run_id: str) -> None:
    task_run = make_task_run(
        flow_run_id,
        name="extract-3",
        task_key="pkg.flows.extract",
        dynamic_key=3,
        tags=["io", "db"],
        created=1000.5,
        state=State(S.PENDING, "Pending", message="waiting", timestamp=1000.75),
    )
    store.writer.put(task_run.insert_op())
    store.writer.flush()
    [record] = store.read_task_runs(flow_run_id)
    assert record.id == task_run.id
    assert record.flow_run_id == flow_run_id
    assert record.name == "extract-3"
    assert record.task_key == "pkg.flows.extract"
    assert record.dynamic_key == 3
    assert record.tags == ["io", "db"]
    assert record.created == at(1000.5)
    assert (record.state.type, record.state.name, record.state.message) == (
        S.PENDING,
        "Pending",
        "waiting",
    )
    assert record.state.timestamp == at(1000.75)
    assert record.run_count == 0
    assert record.upstream_ids == []
    assert record.inputs == []
    assert store.read_task_run(record.id) == record


def test_task_run_op_alone_writes_no_history(store: Store, flow_run_id: str) -> None:
    task_run = make_task_run(flow_run_id)
    store.writer.put(task_run.insert_op())
    store.writer.flush()
    assert store.read_state_history(task_run.id) == []


def test_state_ops_record_history_and_current_state(store: Store, flow_run_id: str) -> None:
    task_run = make_task_run(flow_run_id, created=10.0)
    store.writer.put(task_run.insert_op())
    store.writer.put(task_run.state_op())  # the initial Pending, as the engine records it
    store.writer.flush()
    move(store, task_run, State(S.RUNNING, "Running", timestamp=11.0))
    store.writer.flush()
    task_run.result_key = "results/abc"
    move(store, task_run, State(S.COMPLETED, "Completed", timestamp=12.25))
    store.writer.flush()

    record = store.read_task_run(task_run.id)
    assert (record.state.type, record.state.name) == (S.COMPLETED, "Completed")
    assert record.run_count == 1
    assert record.start_time == at(11.0)
    assert record.end_time == at(12.25)
    assert record.duration_seconds == 1.25
    assert record.result_key == "results/abc"
    history = store.read_state_history(task_run.id)
    assert [(h.type, h.name, h.timestamp) for h in history] == [
        (S.PENDING, "Pending", at(10.0)),
        (S.RUNNING, "Running", at(11.0)),
        (S.COMPLETED, "Completed", at(12.25)),
    ]


def test_task_history_is_apart_from_flow_run_history(store: Store, flow_run_id: str) -> None:
    task_run = make_task_run(flow_run_id)
    store.writer.put(task_run.insert_op())
    move(store, task_run, State(S.RUNNING, "Running", timestamp=5.0))
    store.writer.flush()
    assert [h.name for h in store.read_state_history(flow_run_id)] == ["Pending"]
    assert [h.name for h in store.read_state_history(task_run.id)] == ["Running"]


def test_state_op_keeps_message_and_scheduled_time(store: Store, flow_run_id: str) -> None:
    task_run = make_task_run(flow_run_id, run_count=1)
    store.writer.put(task_run.insert_op())
    waiting = State(
        S.SCHEDULED, "AwaitingRetry", message="retry 1 of 2", timestamp=20.0, scheduled_time=25.5
    )
    move(store, task_run, waiting)
    store.writer.flush()
    [record] = store.read_state_history(task_run.id)
    assert record.name == "AwaitingRetry"
    assert record.message == "retry 1 of 2"
    assert record.scheduled_time == at(25.5)
    assert store.read_task_run(task_run.id).state.message == "retry 1 of 2"


def test_update_op_sets_current_fields_without_history(store: Store, flow_run_id: str) -> None:
    task_run = make_task_run(flow_run_id)
    store.writer.put(task_run.insert_op())
    move(store, task_run, State(S.RUNNING, "Running", timestamp=1.0))
    store.writer.flush()
    subflow = new_id()
    task_run.subflow_run_id = subflow
    store.writer.put(task_run.update_op())
    store.writer.flush()
    record = store.read_task_run(task_run.id)
    assert record.subflow_run_id == subflow
    assert [h.name for h in store.read_state_history(task_run.id)] == ["Running"]


def test_input_ops_record_graph_edges_in_order(store: Store, flow_run_id: str) -> None:
    runs = [make_task_run(flow_run_id, name=f"t-{i}", created=float(i)) for i in range(4)]
    a, b, c, d = (task_run.id for task_run in runs)
    for task_run in runs:
        store.writer.put(task_run.insert_op())
    store.writer.put(input_op(c, "x", a))
    store.writer.put(input_op(c, "y", b))
    store.writer.put(input_op(c, "items", a))  # same upstream twice, another parameter
    store.writer.put(input_op(d, "wait_for", c))
    store.writer.flush()

    by_id = {record.id: record for record in store.read_task_runs(flow_run_id)}
    assert [(i.parameter, i.upstream_id) for i in by_id[c].inputs] == [
        ("x", a),
        ("y", b),
        ("items", a),
    ]
    assert by_id[c].upstream_ids == [a, b]
    assert [(i.parameter, i.upstream_id) for i in by_id[d].inputs] == [("wait_for", c)]
    assert by_id[a].inputs == []


def test_read_task_runs_orders_by_creation(store: Store, flow_run_id: str) -> None:
    runs = [make_task_run(flow_run_id, name=f"t-{i}", created=float(10 - i)) for i in range(3)]
    for task_run in runs:
        store.writer.put(task_run.insert_op())
    store.writer.flush()
    assert [r.name for r in store.read_task_runs(flow_run_id)] == ["t-2", "t-1", "t-0"]


def test_read_task_runs_only_of_that_flow_run(store: Store, make_flow_run: FlowRunFactory) -> None:
    first, second = make_flow_run(), make_flow_run()
    store.writer.put(make_task_run(first, name="mine").insert_op())
    store.writer.put(make_task_run(second, name="theirs").insert_op())
    store.writer.flush()
    assert [r.name for r in store.read_task_runs(first)] == ["mine"]
    assert store.read_task_runs(new_id()) == []


def test_read_task_run_unknown_id(store: Store) -> None:
    with pytest.raises(ObjectNotFound, match="no task run with id 'nope'"):
        store.read_task_run("nope")


def test_log_ops_are_read_back_in_the_order_stored(store: Store, flow_run_id: str) -> None:
    # Stored order (the line id), not timestamp order: a page continues after the last
    # id read, so a line stored later is never skipped by a reader following the run.
    task_run = make_task_run(flow_run_id)
    task_run_id = task_run.id
    store.writer.put(task_run.insert_op())
    store.writer.put(log_op(flow_run_id, None, "flow starts", 1.0, logger="legato.flow_runs"))
    store.writer.put(log_op(flow_run_id, task_run_id, "third", 3.0, level="WARNING"))
    store.writer.put(log_op(flow_run_id, task_run_id, "second", 2.0, level="DEBUG"))
    store.writer.put(log_op(flow_run_id, task_run_id, "same time, put first", 4.0))
    store.writer.put(log_op(flow_run_id, task_run_id, "same time, put second", 4.0))
    store.writer.put(log_op(flow_run_id, None, "émoji ✓ and\nnewline", 5.0, level="ERROR"))
    store.writer.flush()

    records = store.read_logs(flow_run_id)
    assert [(r.message, r.level, r.timestamp) for r in records] == [
        ("flow starts", "INFO", at(1.0)),
        ("third", "WARNING", at(3.0)),
        ("second", "DEBUG", at(2.0)),
        ("same time, put first", "INFO", at(4.0)),
        ("same time, put second", "INFO", at(4.0)),
        ("émoji ✓ and\nnewline", "ERROR", at(5.0)),
    ]
    assert records[0].logger == "legato.flow_runs"
    assert records[0].task_run_id is None
    assert records[1].task_run_id == task_run_id
    assert records[1].task_run_name == task_run.name
    assert [r.id for r in records] == sorted(r.id for r in records if r.id is not None)
    assert all(r.flow_run_id == flow_run_id for r in records)

    task_lines = store.read_logs(flow_run_id, task_run_id=task_run_id)
    assert [r.message for r in task_lines] == [
        "third",
        "second",
        "same time, put first",
        "same time, put second",
    ]
    assert [r.message for r in store.read_logs(flow_run_id, limit=2)] == ["flow starts", "third"]


def test_logs_of_other_flow_runs_are_not_read(store: Store, make_flow_run: FlowRunFactory) -> None:
    first, second = make_flow_run(), make_flow_run()
    store.writer.put(log_op(first, None, "one", 1.0))
    store.writer.put(log_op(second, None, "two", 1.0))
    store.writer.flush()
    assert [r.message for r in store.read_logs(first)] == ["one"]


def test_flush_with_nothing_queued_returns(store: Store) -> None:
    store.writer.flush()
    store.writer.flush(timeout=10)


# -- coalescing -----------------------------------------------------------------------


def test_one_batch_coalesces_states_of_a_new_task_run(store: Store, flow_run_id: str) -> None:
    """Insert + five state ops queued together: one commit, one history row per op (each
    op's own state, though the object has moved on since), and the row is the object's
    final attributes."""
    commits = count_commits(store)
    task_run = make_task_run(flow_run_id, created=1.0)
    states = [
        State(S.RUNNING, "Running", timestamp=2.0),
        State(S.SCHEDULED, "AwaitingRetry", timestamp=3.0, scheduled_time=3.5),
        State(S.RUNNING, "Retrying", timestamp=4.0),
        State(S.FAILED, "Failed", message="boom", timestamp=5.0),
    ]
    # the writer thread is not started until the first flush: all of it is one batch
    store.writer.put(task_run.insert_op())
    store.writer.put(task_run.state_op())  # Pending
    for state in states:
        move(store, task_run, state)
    store.writer.flush()

    assert commits[0] == 1
    history = store.read_state_history(task_run.id)
    assert [(h.type, h.name, h.message, h.timestamp) for h in history] == [
        (S.PENDING, "Pending", None, at(1.0)),
        (S.RUNNING, "Running", None, at(2.0)),
        (S.SCHEDULED, "AwaitingRetry", None, at(3.0)),
        (S.RUNNING, "Retrying", None, at(4.0)),
        (S.FAILED, "Failed", "boom", at(5.0)),
    ]
    assert [h.scheduled_time for h in history] == [None, None, at(3.5), None, None]
    record = store.read_task_run(task_run.id)
    assert (record.state.type, record.state.name, record.state.message) == (
        S.FAILED,
        "Failed",
        "boom",
    )
    assert record.state.timestamp == at(5.0)
    assert record.run_count == 2
    assert record.start_time == at(2.0)
    assert record.end_time == at(5.0)


def test_one_batch_coalesces_states_of_existing_task_runs(store: Store, flow_run_id: str) -> None:
    """State changes of task runs inserted in an earlier batch: one commit, every history
    row kept, and each run's row is its object's final attributes."""
    runs = [make_task_run(flow_run_id, name=f"t-{i}", created=float(i)) for i in range(3)]
    for task_run in runs:
        store.writer.put(task_run.insert_op())
    store.writer.flush()

    commits = count_commits(store)
    types = {"Running": S.RUNNING, "AwaitingRetry": S.SCHEDULED, "Completed": S.COMPLETED}
    for step in range(3):
        for i, task_run in enumerate(runs):
            name = ["Running", "AwaitingRetry", "Completed"][step] if i != 1 else "Running"
            move(store, task_run, State(types[name], name, timestamp=10.0 * step + i))
    store.writer.flush()

    assert commits[0] == 1
    records = {r.id: r for r in store.read_task_runs(flow_run_id)}
    first, second, third = (records[task_run.id] for task_run in runs)
    assert (first.state.name, first.state.timestamp) == ("Completed", at(20.0))
    assert (second.state.name, second.state.timestamp) == ("Running", at(21.0))
    assert (third.state.name, third.state.timestamp) == ("Completed", at(22.0))
    # one attempt each for the runs that completed; three Running moves for the other
    assert [r.run_count for r in (first, second, third)] == [1, 3, 1]
    assert [r.start_time for r in (first, second, third)] == [at(0.0), at(1.0), at(2.0)]
    assert [r.end_time for r in (first, second, third)] == [at(20.0), None, at(22.0)]
    assert [h.name for h in store.read_state_history(runs[0].id)] == [
        "Running",
        "AwaitingRetry",
        "Completed",
    ]
    assert [h.name for h in store.read_state_history(runs[1].id)] == ["Running"] * 3
    assert count_rows(store, state_history) == 1 + 9  # the flow run's Pending + nine


def test_update_after_state_in_one_batch_keeps_last_facts(store: Store, flow_run_id: str) -> None:
    task_run = make_task_run(flow_run_id)
    store.writer.put(task_run.insert_op())
    move(store, task_run, State(S.RUNNING, "Running", timestamp=1.0))
    subflow = new_id()
    task_run.subflow_run_id = subflow
    store.writer.put(task_run.update_op())
    store.writer.flush()
    record = store.read_task_run(task_run.id)
    assert record.subflow_run_id == subflow
    assert (record.state.name, record.run_count) == ("Running", 1)
    assert len(store.read_state_history(task_run.id)) == 1


def test_update_op_of_an_existing_task_run_after_state_in_one_batch(
    store: Store, flow_run_id: str
) -> None:
    """The same, for a task run inserted in an earlier batch: its row is rewritten once,
    from the object's final attributes, and only the state op adds history."""
    task_run = make_task_run(flow_run_id)
    store.writer.put(task_run.insert_op())
    store.writer.flush()
    move(store, task_run, State(S.RUNNING, "Running", timestamp=1.0))
    subflow = new_id()
    task_run.subflow_run_id = subflow
    store.writer.put(task_run.update_op())
    store.writer.flush()
    record = store.read_task_run(task_run.id)
    assert record.subflow_run_id == subflow
    assert (record.state.name, record.run_count, record.start_time) == ("Running", 1, at(1.0))
    assert [h.name for h in store.read_state_history(task_run.id)] == ["Running"]


def test_row_is_read_when_the_batch_is_written(store: Store, flow_run_id: str) -> None:
    """Ops carry the object, not a copy: facts set after an op was put, but before its
    batch is written, are in the row; the history keeps the state each op carried."""
    task_run = make_task_run(flow_run_id, created=1.0)
    store.writer.put(task_run.insert_op())
    move(store, task_run, State(S.RUNNING, "Running", timestamp=2.0))
    # no op for these: the writer thread has not started, so the batch is not written yet
    task_run.cache_key = "k"
    task_run.result_key = "r"
    task_run.move_to(State(S.COMPLETED, "Completed", timestamp=3.0))
    store.writer.flush()
    record = store.read_task_run(task_run.id)
    assert (record.state.name, record.state.timestamp) == ("Completed", at(3.0))
    assert (record.cache_key, record.result_key, record.end_time) == ("k", "r", at(3.0))
    assert [h.name for h in store.read_state_history(task_run.id)] == ["Running"]


def test_many_ops_across_batches_are_all_written(store: Store, flow_run_id: str) -> None:
    store.writer.start()
    ids = []
    for i in range(300):
        task_run = make_task_run(flow_run_id, name=f"t-{i}", dynamic_key=i, created=float(i))
        ids.append(task_run.id)
        store.writer.put(task_run.insert_op())
        move(store, task_run, State(S.RUNNING, "Running", timestamp=1.0))
        store.writer.put(log_op(flow_run_id, task_run.id, f"line {i}", float(i)))
        if i % 100 == 0:
            time.sleep(0.01)  # let the writer take a partial batch
    store.writer.flush()
    records = store.read_task_runs(flow_run_id)
    assert [r.id for r in records] == ids
    assert all(r.state.name == "Running" for r in records)
    assert all(r.run_count == 1 for r in records)
    assert count_rows(store, state_history) == 1 + 300  # the flow run's Pending + one each
    assert [r.message for r in store.read_logs(flow_run_id)] == [f"line {i}" for i in range(300)]


# -- a failed batch ----------------------------------------------------------------------


def test_failed_batch_costs_only_the_bad_record_noted_in_its_run_logs(
    store: Store, flow_run_id: str
) -> None:
    task_run = make_task_run(flow_run_id)
    store.writer.put(task_run.insert_op())
    store.writer.flush()

    duplicate = make_task_run(flow_run_id, task_run_id=task_run.id, name="again")
    other = make_task_run(flow_run_id, name="other-0")
    store.writer.put(log_op(flow_run_id, None, "in the failed batch", 1.0))
    store.writer.put(duplicate.insert_op())
    store.writer.put(other.insert_op())
    move(store, other, State(S.RUNNING, "Running", timestamp=2.0))
    store.writer.flush()  # a record the database refused does not fail the flush
    assert store.writer.lost == 1

    # the duplicate was dropped; the rest of its batch was stored
    assert store.read_task_run(task_run.id).name == "extract-0"
    assert store.read_task_run(other.id).state.name == "Running"
    lines = store.read_logs(flow_run_id)
    assert lines[0].message == "in the failed batch"
    (note,) = [r for r in lines if r.level == "ERROR"]
    assert note.message.startswith(
        f"legato could not store task run {task_run.id} ('again'), and dropped it: "
    )
    assert note.logger == "legato.store"

    store.writer.put(log_op(flow_run_id, None, "after the failure", 2.0))
    store.writer.flush()
    assert [r.message for r in store.read_logs(flow_run_id)][-1] == "after the failure"


def test_bad_records_among_many_are_found_and_only_they_are_lost(
    store: Store, flow_run_id: str
) -> None:
    existing = make_task_run(flow_run_id)
    store.writer.put(existing.insert_op())
    store.writer.flush()
    for i in range(500):
        if i in (17, 333):
            store.writer.put(make_task_run(flow_run_id, task_run_id=existing.id).insert_op())
        store.writer.put(log_op(flow_run_id, None, f"line {i}", float(i)))
    store.writer.flush()
    assert store.writer.lost == 2
    lines = store.read_logs(flow_run_id)
    assert [r.message for r in lines if r.level != "ERROR"] == [f"line {i}" for i in range(500)]
    assert len([r for r in lines if r.level == "ERROR"]) == 2


def test_text_that_is_not_unicode_is_stored_cleaned_with_its_batch(
    store: Store, flow_run_id: str
) -> None:
    """A lone surrogate (a non-UTF-8 file name) in a log line, a task run's name or a
    state message: the batch is stored whole, each bad character replaced."""
    bad = os.fsdecode(b"caf\xe9.csv")
    task_run = make_task_run(flow_run_id, name=f"load {bad}", tags=[bad])
    store.writer.put(task_run.insert_op())
    move(store, task_run, State(S.FAILED, "Failed", message=f"no file {bad}", timestamp=2.0))
    store.writer.put(log_op(flow_run_id, task_run.id, f"reading {bad}\x00", 1.0))
    store.writer.put(log_op(flow_run_id, task_run.id, "a good line", 3.0))
    store.writer.flush()

    record = store.read_task_run(task_run.id)
    assert record.name == "load caf\ufffd.csv"
    assert record.tags == ["caf\ufffd.csv"]
    assert record.state.message == "no file caf\ufffd.csv"
    assert [h.message for h in store.read_state_history(task_run.id)][-1] == (
        "no file caf\ufffd.csv"
    )
    assert [r.message for r in store.read_logs(flow_run_id)] == [
        "reading caf\ufffd.csv\ufffd",
        "a good line",
    ]
    assert store.writer.lost == 0


def test_each_group_hears_its_own_error_and_the_others_are_stored(
    store: Store, flow_run_id: str
) -> None:
    """Groups (client requests) committed in one transaction: one with a duplicate id
    fails alone; every other group is stored and its waiter hears success."""
    existing = make_task_run(flow_run_id)
    store.writer.put(existing.insert_op())
    store.writer.flush()

    tickets: list[Ticket] = []
    good: list[TaskRun] = []
    for i in range(6):
        ops: list[Op] = []
        if i == 3:
            ops.append(make_task_run(flow_run_id, task_run_id=existing.id).insert_op())
        fresh = make_task_run(flow_run_id, name=f"group-{i}")
        ops.append(fresh.insert_op())
        ops.append(log_op(flow_run_id, fresh.id, f"group {i}", float(i)))
        (good.append(fresh) if i != 3 else None)
        ticket = Ticket()
        tickets.append(ticket)
        store.writer.put(Group(ops, ticket))  # queued before the writer drains: one batch
    commits = count_commits(store)
    store.writer.flush()
    assert all(t.is_set() for t in tickets)
    assert [t.error is not None for t in tickets] == [i == 3 for i in range(6)]
    assert commits[0] >= 2  # the shared transaction failed; the groups were written again
    stored = {r.name for r in store.read_task_runs(flow_run_id)}
    assert stored == {"extract-0"} | {f"group-{i}" for i in range(6) if i != 3}
    assert [r.message for r in store.read_logs(flow_run_id)] == [
        f"group {i}" for i in range(6) if i != 3
    ]


def test_submit_raises_for_its_own_ops_only(store: Store, flow_run_id: str) -> None:
    existing = make_task_run(flow_run_id)
    store.writer.submit([existing.insert_op()])
    with pytest.raises(StoreError, match="task_runs"):
        store.writer.submit([make_task_run(flow_run_id, task_run_id=existing.id).insert_op()])
    store.writer.flush()  # nothing of the failed group is reported to anyone else
    other = make_task_run(flow_run_id, name="other")
    store.writer.submit([other.insert_op()])
    assert {r.name for r in store.read_task_runs(flow_run_id)} == {"extract-0", "other"}


# -- find_cached_result ---------------------------------------------------------------------


def put_cached(
    store: Store,
    flow_run_id: str,
    *,
    cache_key: str,
    result_key: str | None,
    end_time: float,
    expiration: float | None = None,
    type_: StateType = S.COMPLETED,
    name: str = "Completed",
) -> None:
    task_run = make_task_run(
        flow_run_id,
        created=end_time - 2,
        state=State(type_, name, timestamp=end_time),
        run_count=1,
        start_time=end_time - 1,
        end_time=end_time,
        cache_key=cache_key,
        cache_expiration=expiration,
        result_key=result_key,
    )
    store.writer.put(task_run.insert_op())


def test_find_cached_result_newest_completed(store: Store, flow_run_id: str) -> None:
    put_cached(store, flow_run_id, cache_key="k", result_key="old", end_time=100.0)
    put_cached(store, flow_run_id, cache_key="k", result_key="new", end_time=200.0)
    put_cached(store, flow_run_id, cache_key="k", result_key="middle", end_time=150.0)
    put_cached(store, flow_run_id, cache_key="other", result_key="other", end_time=300.0)
    store.writer.flush()
    assert store.find_cached_result("k", now=1000.0) == "new"
    assert store.find_cached_result("other", now=1000.0) == "other"


def test_find_cached_result_miss(store: Store, flow_run_id: str) -> None:
    put_cached(store, flow_run_id, cache_key="k", result_key="r", end_time=100.0)
    store.writer.flush()
    assert store.find_cached_result("unknown", now=1000.0) is None


def test_find_cached_result_honours_expiration(store: Store, flow_run_id: str) -> None:
    put_cached(store, flow_run_id, cache_key="k", result_key="r", end_time=100.0, expiration=500.0)
    store.writer.flush()
    assert store.find_cached_result("k", now=499.9) == "r"
    assert store.find_cached_result("k", now=500.0) is None
    assert store.find_cached_result("k", now=600.0) is None


def test_find_cached_result_skips_expired_for_older_valid(store: Store, flow_run_id: str) -> None:
    put_cached(store, flow_run_id, cache_key="k", result_key="forever", end_time=100.0)
    put_cached(
        store, flow_run_id, cache_key="k", result_key="short", end_time=200.0, expiration=250.0
    )
    store.writer.flush()
    assert store.find_cached_result("k", now=240.0) == "short"
    assert store.find_cached_result("k", now=260.0) == "forever"


@pytest.mark.parametrize(
    ("type_", "name", "result_key"),
    [
        (S.FAILED, "Failed", "r"),
        (S.RUNNING, "Running", "r"),
        (S.CRASHED, "Crashed", "r"),
        (S.COMPLETED, "Completed", None),  # completed, but its result was not persisted
    ],
)
def test_find_cached_result_needs_completed_with_result(
    store: Store, flow_run_id: str, type_: StateType, name: str, result_key: str | None
) -> None:
    put_cached(
        store,
        flow_run_id,
        cache_key="k",
        result_key=result_key,
        end_time=1.0,
        type_=type_,
        name=name,
    )
    store.writer.flush()
    assert store.find_cached_result("k", now=10.0) is None


def test_find_cached_result_ignores_runs_that_reused_a_cached_value(
    store: Store, flow_run_id: str
) -> None:
    """A Cached run only reused a value; it must not extend that value's life."""
    put_cached(store, flow_run_id, cache_key="k", result_key="r", end_time=1.0, name="Cached")
    store.writer.flush()
    assert store.find_cached_result("k", now=10.0) is None


def test_find_cached_result_sees_state_updates(store: Store, flow_run_id: str) -> None:
    """A task run inserted running and completed later is found once completed."""
    task_run = make_task_run(
        flow_run_id, state=State(S.RUNNING, "Running", timestamp=1.0), cache_key="k"
    )
    store.writer.put(task_run.insert_op())
    store.writer.flush()
    assert store.find_cached_result("k", now=10.0) is None
    task_run.result_key = "r"
    move(store, task_run, State(S.COMPLETED, "Completed", timestamp=2.0))
    store.writer.flush()
    assert store.find_cached_result("k", now=10.0) == "r"


def test_malformed_op_is_reported_by_flush_and_the_writer_lives_on(
    store: Store, flow_run_id: str
) -> None:
    store.writer.put(InsertTaskRun({"id": "not-a-task-run"}))
    with pytest.raises(StoreError):
        store.writer.flush(timeout=10)
    task_run = make_task_run(flow_run_id)
    store.writer.put(task_run.insert_op())
    store.writer.flush(timeout=10)
    assert [record.id for record in store.read_task_runs(flow_run_id)] == [task_run.id]
