"""Crashing local runs (flows called from code, no worker) whose process is gone, on
SQLite and PostgreSQL: only unfinished runs of this host held by no worker, with the
process named; their unfinished task runs too; a live process, another host, a worker's
run and a run retried meanwhile by another process are left alone."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from fixtures.store_rows import FlowRunFactory
from legato.engine.task_run import TaskRun
from legato.ids import new_id
from legato.states import State, StateType
from legato.store import Store

NOW = 1_900_000_000.0
HOST = "box-1"
STARTED = NOW - 600


def process(pid: int = 4242, host: str = HOST, started: float = STARTED) -> dict[str, Any]:
    return {"process_host": host, "process_pid": pid, "process_started": started}


def running(make_flow_run: FlowRunFactory, store: Store, **columns: Any) -> str:
    run_id = make_flow_run(**{**process(), **columns})
    assert store.set_flow_run_state(
        run_id, State(StateType.RUNNING, "Running", timestamp=NOW - 500)
    ).allowed
    return run_id


def task_run(store: Store, flow_run_id: str, name: str, state: State) -> TaskRun:
    run = TaskRun(
        id=new_id(),
        flow_run_id=flow_run_id,
        name=name,
        task_key=f"flows.{name}",
        dynamic_key=0,
        tags=[],
        state=state,
        created=NOW - 400,
    )
    store.writer.put(run.insert_op())
    store.writer.put(run.state_op())
    return run


def nothing_alive(pid: int) -> float | None:
    return None


def alive(found: dict[int, float]) -> Any:
    return found.get


def test_a_run_whose_process_is_gone_ends_crashed_with_its_unfinished_task_runs(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    run_id = running(make_flow_run, store)
    done = task_run(store, run_id, "done", State(StateType.COMPLETED, "Completed", timestamp=NOW))
    busy = task_run(store, run_id, "busy", State(StateType.RUNNING, "Running", timestamp=NOW))
    waiting = task_run(store, run_id, "waiting", State(StateType.PENDING, "Pending", timestamp=NOW))
    store.writer.flush()

    [outcome] = store.reap_gone_local_runs(HOST, nothing_alive, now=NOW)

    message = "the process that ran it (pid 4242 on box-1) is gone"
    assert (outcome.flow_run_id, outcome.state_name, outcome.message) == (
        run_id,
        "Crashed",
        message,
    )
    record = store.read_flow_run(run_id)
    assert record.state.name == "Crashed"
    assert record.state.message == message
    assert record.end_time is not None
    assert [s.name for s in store.read_state_history(run_id)] == ["Pending", "Running", "Crashed"]
    tasks = {t.name: t for t in store.read_task_runs(run_id)}
    assert tasks["done"].state.name == "Completed"
    for name in ("busy", "waiting"):
        assert tasks[name].state.name == "Crashed"
        assert tasks[name].state.message == f"the flow run crashed: {message}"
        assert tasks[name].end_time is not None
    assert [s.name for s in store.read_state_history(busy.id)] == ["Running", "Crashed"]
    assert [s.name for s in store.read_state_history(waiting.id)] == ["Pending", "Crashed"]
    assert [s.name for s in store.read_state_history(done.id)] == ["Completed"]
    # Once crashed it is no longer a candidate: a second pass finds nothing.
    assert store.reap_gone_local_runs(HOST, nothing_alive, now=NOW) == []


def test_a_run_whose_pid_now_belongs_to_another_process_ends_crashed(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    run_id = running(make_flow_run, store)

    [outcome] = store.reap_gone_local_runs(HOST, alive({4242: STARTED + 3600}), now=NOW)

    assert outcome.state_name == "Crashed"
    record = store.read_flow_run(run_id)
    assert record.state.name == "Crashed"
    assert "pid 4242 on box-1" in (record.state.message or "")
    assert "another process" in (record.state.message or "")


def test_a_run_whose_process_is_alive_is_never_touched(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    run_id = running(make_flow_run, store)
    busy = task_run(store, run_id, "busy", State(StateType.RUNNING, "Running", timestamp=NOW))
    store.writer.flush()

    assert store.reap_gone_local_runs(HOST, alive({4242: STARTED}), now=NOW) == []

    assert store.read_flow_run(run_id).state.name == "Running"
    assert store.read_task_run(busy.id).state.name == "Running"


def test_runs_of_other_hosts_worker_runs_and_finished_runs_are_left_alone(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    elsewhere = running(make_flow_run, store, **process(host="box-2"))
    held = running(make_flow_run, store, worker_name="w1")
    finished = running(make_flow_run, store)
    assert store.set_flow_run_state(
        finished, State(StateType.COMPLETED, "Completed", timestamp=NOW - 100)
    ).allowed
    unrecorded = make_flow_run()  # a run created before processes were recorded

    assert store.reap_gone_local_runs(HOST, nothing_alive, now=NOW) == []

    assert store.read_flow_run(elsewhere).state.name == "Running"
    assert store.read_flow_run(held).state.name == "Running"
    assert store.read_flow_run(finished).state.name == "Completed"
    assert store.read_flow_run(unrecorded).state.name == "Pending"
    candidates = {row["id"] for row in store.read_local_runs(HOST)}
    assert candidates == set()


def test_a_run_that_another_process_took_over_meanwhile_is_not_crashed(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    run_id = running(make_flow_run, store)
    [seen] = store.read_local_runs(HOST)
    # Retried by another process between the read and the crash: it recorded itself.
    crashed = State(StateType.CRASHED, "Crashed", "killed", timestamp=NOW - 50)
    assert store.set_flow_run_state(run_id, crashed).allowed
    resumed = State(StateType.PENDING, "Pending", "resumed: attempt 2", timestamp=NOW - 40)
    assert store.set_flow_run_state(run_id, resumed, rerun=True, fields=process(pid=777)).allowed

    assert store.crash_local_run(seen, "the process that ran it is gone", now=NOW) is None

    record = store.read_flow_run(run_id)
    assert record.state.name == "Pending"
    assert store.read_flow_run_row(run_id)["process_pid"] == 777


def test_a_cancelling_run_whose_process_is_gone_ends_cancelled(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    run_id = running(make_flow_run, store)
    cancelling = State(StateType.CANCELLING, "Cancelling", timestamp=NOW - 100)
    assert store.set_flow_run_state(run_id, cancelling).allowed
    busy = task_run(store, run_id, "busy", State(StateType.RUNNING, "Running", timestamp=NOW))
    store.writer.flush()

    [outcome] = store.reap_gone_local_runs(HOST, nothing_alive, now=NOW)

    assert outcome.state_name == "Cancelled"
    assert store.read_flow_run(run_id).state.name == "Cancelled"
    assert store.read_task_run(busy.id).state.name == "Cancelled"


def test_an_in_process_retry_wait_and_a_subflow_of_a_dead_process_end_crashed(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    parent = running(make_flow_run, store)
    waiting = State(
        StateType.SCHEDULED, "AwaitingRetry", timestamp=NOW - 90, scheduled_time=NOW + 60
    )
    assert store.set_flow_run_state(parent, waiting).allowed
    child = running(make_flow_run, store, parent_flow_run_id=parent)

    outcomes = store.reap_gone_local_runs(HOST, nothing_alive, now=NOW)

    assert {o.flow_run_id for o in outcomes} == {parent, child}
    assert store.read_flow_run(parent).state.name == "Crashed"
    assert store.read_flow_run(child).state.name == "Crashed"


def test_the_candidate_query_searches_the_process_host_index(tmp_path: Path) -> None:
    """A listing pays for one query that walks an index, however many runs are stored."""
    store = Store(f"sqlite:///{tmp_path / 'plans.db'}")
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    try:
        sa.event.listen(store.engine, "before_cursor_execute", capture)
        store.read_local_runs(HOST)
        sa.event.remove(store.engine, "before_cursor_execute", capture)
        [(statement, parameters)] = [s for s in sent if "flow_runs" in s[0]]
        database = sqlite3.connect(tmp_path / "plans.db")
        try:
            plan = database.execute(f"EXPLAIN QUERY PLAN {statement}", parameters).fetchall()
        finally:
            database.close()
    finally:
        store.close()
    details = " | ".join(str(row[-1]) for row in plan)
    assert "USING INDEX ix_flow_runs_process_host_state" in details, details
    assert "SCAN" not in details, details
