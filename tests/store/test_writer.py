"""Store conformance, the batched writer: task runs, edges, state history and logs.

Ops are put on ``store.writer`` exactly as documented in ``legato/store/writer.py``;
``flush()`` is the durability barrier, after which everything is read back.
Every test runs on SQLite and on PostgreSQL (see ``conftest.py``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from store_helpers import FlowRunFactory

from legato.errors import ObjectNotFound, StoreError
from legato.ids import new_id
from legato.states import StateType
from legato.store import Store
from legato.store.tables import logs, state_history, task_run_inputs, task_runs

S = StateType


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def fields(
    type_: StateType,
    name: str,
    timestamp: float,
    *,
    message: str | None = None,
    run_count: int = 0,
    start_time: float | None = None,
    end_time: float | None = None,
    cache_key: str | None = None,
    cache_expiration: float | None = None,
    result_key: str | None = None,
    subflow_run_id: str | None = None,
) -> dict[str, Any]:
    """A task run's current fields, the snapshot every state and update op carries."""
    return {
        "state_type": type_.value,
        "state_name": name,
        "state_message": message,
        "state_timestamp": timestamp,
        "run_count": run_count,
        "start_time": start_time,
        "end_time": end_time,
        "cache_key": cache_key,
        "cache_expiration": cache_expiration,
        "result_key": result_key,
        "subflow_run_id": subflow_run_id,
    }


def task_run_op(
    flow_run_id: str,
    *,
    task_run_id: str | None = None,
    name: str = "extract-0",
    task_key: str = "flows.extract",
    dynamic_key: int = 0,
    tags: list[str] | None = None,
    created: float = 1000.0,
    current: dict[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    row = dict(current or fields(S.PENDING, "Pending", created))
    row.update(
        id=task_run_id or new_id(),
        flow_run_id=flow_run_id,
        name=name,
        task_key=task_key,
        dynamic_key=dynamic_key,
        tags=tags if tags is not None else [],
        created=created,
    )
    return ("task_run", row)


def state_op(
    flow_run_id: str,
    task_run_id: str,
    current: dict[str, Any],
    *,
    scheduled_time: float | None = None,
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    history = {
        "flow_run_id": flow_run_id,
        "task_run_id": task_run_id,
        "type": current["state_type"],
        "name": current["state_name"],
        "message": current["state_message"],
        "timestamp": current["state_timestamp"],
        "scheduled_time": scheduled_time,
    }
    return ("state", history, current)


def log_op(
    flow_run_id: str | None,
    task_run_id: str | None,
    message: str,
    timestamp: float,
    *,
    level: str = "INFO",
    logger: str = "legato.task_runs",
) -> tuple[str, dict[str, Any]]:
    return (
        "log",
        {
            "flow_run_id": flow_run_id,
            "task_run_id": task_run_id,
            "timestamp": timestamp,
            "level": level,
            "logger": logger,
            "message": message,
        },
    )


def input_op(task_run_id: str, parameter: str, upstream_id: str) -> tuple[str, dict[str, Any]]:
    return (
        "input",
        {"task_run_id": task_run_id, "parameter": parameter, "upstream_id": upstream_id},
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


def test_task_run_op_inserts_a_task_run(store: Store, flow_run_id: str) -> None:
    op = task_run_op(
        flow_run_id,
        name="extract-3",
        task_key="pkg.flows.extract",
        dynamic_key=3,
        tags=["io", "db"],
        created=1000.5,
        current=fields(S.PENDING, "Pending", 1000.75, message="waiting"),
    )
    store.writer.put(op)
    store.writer.flush()
    [record] = store.read_task_runs(flow_run_id)
    assert record.id == op[1]["id"]
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
    op = task_run_op(flow_run_id)
    store.writer.put(op)
    store.writer.flush()
    assert store.read_state_history(op[1]["id"]) == []


def test_state_ops_record_history_and_current_state(store: Store, flow_run_id: str) -> None:
    op = task_run_op(flow_run_id, created=10.0)
    task_run_id = op[1]["id"]
    store.writer.put(op)
    store.writer.put(state_op(flow_run_id, task_run_id, fields(S.PENDING, "Pending", 10.0)))
    store.writer.flush()
    running = fields(S.RUNNING, "Running", 11.0, run_count=1, start_time=11.0)
    store.writer.put(state_op(flow_run_id, task_run_id, running))
    store.writer.flush()
    done = fields(
        S.COMPLETED, "Completed", 12.25, run_count=1, start_time=11.0, end_time=12.25,
        result_key="results/abc",
    )  # fmt: skip
    store.writer.put(state_op(flow_run_id, task_run_id, done))
    store.writer.flush()

    record = store.read_task_run(task_run_id)
    assert (record.state.type, record.state.name) == (S.COMPLETED, "Completed")
    assert record.run_count == 1
    assert record.start_time == at(11.0)
    assert record.end_time == at(12.25)
    assert record.duration_seconds == 1.25
    assert record.result_key == "results/abc"
    history = store.read_state_history(task_run_id)
    assert [(h.type, h.name, h.timestamp) for h in history] == [
        (S.PENDING, "Pending", at(10.0)),
        (S.RUNNING, "Running", at(11.0)),
        (S.COMPLETED, "Completed", at(12.25)),
    ]


def test_task_history_is_apart_from_flow_run_history(store: Store, flow_run_id: str) -> None:
    op = task_run_op(flow_run_id)
    task_run_id = op[1]["id"]
    store.writer.put(op)
    store.writer.put(state_op(flow_run_id, task_run_id, fields(S.RUNNING, "Running", 5.0)))
    store.writer.flush()
    assert [h.name for h in store.read_state_history(flow_run_id)] == ["Pending"]
    assert [h.name for h in store.read_state_history(task_run_id)] == ["Running"]


def test_state_op_keeps_message_and_scheduled_time(store: Store, flow_run_id: str) -> None:
    op = task_run_op(flow_run_id)
    task_run_id = op[1]["id"]
    store.writer.put(op)
    waiting = fields(S.SCHEDULED, "AwaitingRetry", 20.0, message="retry 1 of 2", run_count=1)
    store.writer.put(state_op(flow_run_id, task_run_id, waiting, scheduled_time=25.5))
    store.writer.flush()
    [record] = store.read_state_history(task_run_id)
    assert record.name == "AwaitingRetry"
    assert record.message == "retry 1 of 2"
    assert record.scheduled_time == at(25.5)
    assert store.read_task_run(task_run_id).state.message == "retry 1 of 2"


def test_update_op_sets_current_fields_without_history(store: Store, flow_run_id: str) -> None:
    op = task_run_op(flow_run_id)
    task_run_id = op[1]["id"]
    store.writer.put(op)
    store.writer.put(state_op(flow_run_id, task_run_id, fields(S.RUNNING, "Running", 1.0)))
    store.writer.flush()
    subflow = new_id()
    store.writer.put(
        ("update", task_run_id, fields(S.RUNNING, "Running", 1.0, subflow_run_id=subflow))
    )
    store.writer.flush()
    record = store.read_task_run(task_run_id)
    assert record.subflow_run_id == subflow
    assert [h.name for h in store.read_state_history(task_run_id)] == ["Running"]


def test_input_ops_record_graph_edges_in_order(store: Store, flow_run_id: str) -> None:
    ops = [task_run_op(flow_run_id, name=f"t-{i}", created=float(i)) for i in range(4)]
    a, b, c, d = (op[1]["id"] for op in ops)
    for op in ops:
        store.writer.put(op)
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
    ops = [task_run_op(flow_run_id, name=f"t-{i}", created=float(10 - i)) for i in range(3)]
    for op in ops:
        store.writer.put(op)
    store.writer.flush()
    assert [r.name for r in store.read_task_runs(flow_run_id)] == ["t-2", "t-1", "t-0"]


def test_read_task_runs_only_of_that_flow_run(store: Store, make_flow_run: FlowRunFactory) -> None:
    first, second = make_flow_run(), make_flow_run()
    store.writer.put(task_run_op(first, name="mine"))
    store.writer.put(task_run_op(second, name="theirs"))
    store.writer.flush()
    assert [r.name for r in store.read_task_runs(first)] == ["mine"]
    assert store.read_task_runs(new_id()) == []


def test_read_task_run_unknown_id(store: Store) -> None:
    with pytest.raises(ObjectNotFound, match="no task run with id 'nope'"):
        store.read_task_run("nope")


def test_log_ops_are_read_back_in_time_order(store: Store, flow_run_id: str) -> None:
    op = task_run_op(flow_run_id)
    task_run_id = op[1]["id"]
    store.writer.put(op)
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
        ("second", "DEBUG", at(2.0)),
        ("third", "WARNING", at(3.0)),
        ("same time, put first", "INFO", at(4.0)),
        ("same time, put second", "INFO", at(4.0)),
        ("émoji ✓ and\nnewline", "ERROR", at(5.0)),
    ]
    assert records[0].logger == "legato.flow_runs"
    assert records[0].task_run_id is None
    assert records[1].task_run_id == task_run_id
    assert all(r.flow_run_id == flow_run_id for r in records)

    task_lines = store.read_logs(flow_run_id, task_run_id=task_run_id)
    assert [r.message for r in task_lines] == [
        "second",
        "third",
        "same time, put first",
        "same time, put second",
    ]
    assert [r.message for r in store.read_logs(flow_run_id, limit=2)] == ["flow starts", "second"]


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
    """Insert + four state changes queued together: one commit, every history row kept,
    and the last snapshot is the current state."""
    commits = count_commits(store)
    op = task_run_op(flow_run_id, created=1.0)
    task_run_id = op[1]["id"]
    states = [
        fields(S.PENDING, "Pending", 1.0),
        fields(S.RUNNING, "Running", 2.0, run_count=1, start_time=2.0),
        fields(S.SCHEDULED, "AwaitingRetry", 3.0, run_count=1, start_time=2.0),
        fields(S.RUNNING, "Retrying", 4.0, run_count=2, start_time=2.0),
        fields(S.FAILED, "Failed", 5.0, message="boom", run_count=2, start_time=2.0, end_time=5.0),
    ]
    # the writer thread is not started until the first flush: all of it is one batch
    store.writer.put(op)
    for current in states:
        store.writer.put(state_op(flow_run_id, task_run_id, current))
    store.writer.flush()

    assert commits[0] == 1
    assert [h.name for h in store.read_state_history(task_run_id)] == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "Failed",
    ]
    record = store.read_task_run(task_run_id)
    assert (record.state.type, record.state.name, record.state.message) == (
        S.FAILED,
        "Failed",
        "boom",
    )
    assert record.run_count == 2
    assert record.start_time == at(2.0)
    assert record.end_time == at(5.0)


def test_one_batch_coalesces_states_of_existing_task_runs(store: Store, flow_run_id: str) -> None:
    """State changes of task runs inserted in an earlier batch: last snapshot wins per run."""
    ops = [task_run_op(flow_run_id, name=f"t-{i}", created=float(i)) for i in range(3)]
    ids = [op[1]["id"] for op in ops]
    for op in ops:
        store.writer.put(op)
    store.writer.flush()

    commits = count_commits(store)
    for step in range(3):
        for i, task_run_id in enumerate(ids):
            name = ["Running", "Completed", "Cached"][step] if i != 1 else "Running"
            type_ = S.RUNNING if name == "Running" else S.COMPLETED
            current = fields(type_, name, 10.0 * step + i, run_count=step + 1)
            store.writer.put(state_op(flow_run_id, task_run_id, current))
    store.writer.flush()

    assert commits[0] == 1
    records = {r.id: r for r in store.read_task_runs(flow_run_id)}
    assert records[ids[0]].state.name == "Cached"
    assert records[ids[1]].state.name == "Running"
    assert records[ids[2]].state.name == "Cached"
    assert all(r.run_count == 3 for r in records.values())
    assert [h.name for h in store.read_state_history(ids[0])] == ["Running", "Completed", "Cached"]
    assert [h.name for h in store.read_state_history(ids[1])] == ["Running"] * 3
    assert count_rows(store, state_history) == 1 + 9  # the flow run's Pending + nine


def test_update_after_state_in_one_batch_keeps_last_snapshot(
    store: Store, flow_run_id: str
) -> None:
    op = task_run_op(flow_run_id)
    task_run_id = op[1]["id"]
    store.writer.put(op)
    store.writer.put(state_op(flow_run_id, task_run_id, fields(S.RUNNING, "Running", 1.0)))
    subflow = new_id()
    store.writer.put(
        ("update", task_run_id, fields(S.RUNNING, "Running", 1.0, subflow_run_id=subflow))
    )
    store.writer.flush()
    assert store.read_task_run(task_run_id).subflow_run_id == subflow
    assert len(store.read_state_history(task_run_id)) == 1


def test_many_ops_across_batches_are_all_written(store: Store, flow_run_id: str) -> None:
    store.writer.start()
    ids = []
    for i in range(300):
        op = task_run_op(flow_run_id, name=f"t-{i}", dynamic_key=i, created=float(i))
        ids.append(op[1]["id"])
        store.writer.put(op)
        store.writer.put(state_op(flow_run_id, op[1]["id"], fields(S.RUNNING, "Running", 1.0)))
        store.writer.put(log_op(flow_run_id, op[1]["id"], f"line {i}", float(i)))
        if i % 100 == 0:
            time.sleep(0.01)  # let the writer take a partial batch
    store.writer.flush()
    records = store.read_task_runs(flow_run_id)
    assert [r.id for r in records] == ids
    assert all(r.state.name == "Running" for r in records)
    assert [r.message for r in store.read_logs(flow_run_id)] == [f"line {i}" for i in range(300)]


# -- a failed batch ----------------------------------------------------------------------


def test_failed_batch_is_reported_by_flush_and_written_not_at_all(
    store: Store, flow_run_id: str
) -> None:
    op = task_run_op(flow_run_id)
    store.writer.put(op)
    store.writer.flush()
    before = {
        t.name: count_rows(store, t) for t in (task_runs, state_history, logs, task_run_inputs)
    }

    duplicate = task_run_op(flow_run_id, task_run_id=op[1]["id"], name="again")
    store.writer.put(log_op(flow_run_id, None, "in the failed batch", 1.0))
    store.writer.put(duplicate)
    with pytest.raises(StoreError) as info:
        store.writer.flush()
    assert "database" in str(info.value)

    after = {
        t.name: count_rows(store, t) for t in (task_runs, state_history, logs, task_run_inputs)
    }
    assert after == before  # the whole batch was rolled back
    assert store.read_task_run(op[1]["id"]).name == "extract-0"

    # the error is reported once; later batches are written again
    store.writer.put(log_op(flow_run_id, None, "after the failure", 2.0))
    store.writer.flush()
    assert [r.message for r in store.read_logs(flow_run_id)] == ["after the failure"]


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
    current = fields(
        type_,
        name,
        end_time,
        run_count=1,
        start_time=end_time - 1,
        end_time=end_time,
        cache_key=cache_key,
        cache_expiration=expiration,
        result_key=result_key,
    )
    store.writer.put(task_run_op(flow_run_id, current=current, created=end_time - 2))


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
    op = task_run_op(flow_run_id, current=fields(S.RUNNING, "Running", 1.0, cache_key="k"))
    store.writer.put(op)
    store.writer.flush()
    assert store.find_cached_result("k", now=10.0) is None
    done = fields(S.COMPLETED, "Completed", 2.0, end_time=2.0, cache_key="k", result_key="r")
    store.writer.put(state_op(flow_run_id, op[1]["id"], done))
    store.writer.flush()
    assert store.find_cached_result("k", now=10.0) == "r"
