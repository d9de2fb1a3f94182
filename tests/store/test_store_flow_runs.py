"""Store conformance, flow runs: create, propose states, list, filter, resolve ids.

Every test runs on SQLite and on PostgreSQL (see ``conftest.py``).
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from fixtures.store_rows import FlowRunFactory, flow_run_row
from legato.errors import ObjectNotFound
from legato.ids import new_id
from legato.states import State, StateType, Transition
from legato.store import Store
from legato.store.tables import flows, state_history

pytestmark = pytest.mark.slow

S = StateType


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def history_names(store: Store, run_id: str) -> list[str]:
    return [record.name for record in store.read_state_history(run_id)]


def count_rows(store: Store, table: sa.Table) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


# -- create_flow_run -------------------------------------------------------------


def test_create_flow_run_stores_every_column(store: Store) -> None:
    row = flow_run_row(
        name="quick-fox",
        flow_name="load-data",
        parameters={"n": 3, "nested": {"a": [1, 2]}, "none": None},
        tags=["a", "b"],
        entrypoint="jobs/load.py:load_data",
        created=1_700_000_000.25,
    )
    store.create_flow_run(row, State(S.PENDING, "Pending", "queued", timestamp=1_700_000_000.5))
    record = store.read_flow_run(row["id"])
    assert record.id == row["id"]
    assert record.name == "quick-fox"
    assert record.flow_name == "load-data"
    assert record.parameters == {"n": 3, "nested": {"a": [1, 2]}, "none": None}
    assert record.tags == ["a", "b"]
    assert record.entrypoint == "jobs/load.py:load_data"
    assert record.run_count == 0
    assert record.created == at(1_700_000_000.25)
    assert record.start_time is None
    assert record.end_time is None
    assert record.duration_seconds is None
    assert record.parent_flow_run_id is None
    assert (record.state.type, record.state.name, record.state.message) == (
        S.PENDING,
        "Pending",
        "queued",
    )
    assert record.state.timestamp == at(1_700_000_000.5)


def test_create_flow_run_writes_first_history_row(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    run_id = make_flow_run(state=State(S.SCHEDULED, "Scheduled", scheduled_time=2e9, timestamp=5.0))
    [record] = store.read_state_history(run_id)
    assert (record.type, record.name) == (S.SCHEDULED, "Scheduled")
    assert record.scheduled_time == at(2e9)
    assert record.timestamp == at(5.0)


def test_create_flow_run_registers_each_flow_once(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    make_flow_run(flow_name="a")
    make_flow_run(flow_name="a")
    make_flow_run(flow_name="b")
    with store.engine.connect() as conn:
        names = sorted(conn.execute(sa.select(flows.c.name)).scalars())
    assert names == ["a", "b"]


def test_create_flow_run_with_parent(store: Store, make_flow_run: FlowRunFactory) -> None:
    parent = make_flow_run()
    task_run_id = new_id()
    child = make_flow_run(parent_flow_run_id=parent, parent_task_run_id=task_run_id)
    record = store.read_flow_run(child)
    assert record.parent_flow_run_id == parent
    assert record.parent_task_run_id == task_run_id
    assert [r.id for r in store.read_flow_runs(parent_flow_run_id=parent)] == [child]


def test_read_flow_run_unknown_id(store: Store) -> None:
    with pytest.raises(ObjectNotFound, match="no flow run with id 'nope'"):
        store.read_flow_run("nope")


# -- set_flow_run_state -----------------------------------------------------------


def test_set_flow_run_state_moves_and_records_history(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    run_id = make_flow_run(state=State(S.PENDING, "Pending", timestamp=10.0))
    verdict = store.set_flow_run_state(
        run_id,
        State(S.RUNNING, "Running", timestamp=11.0),
        fields={"run_count": 1, "start_time": 11.0},
    )
    assert verdict == Transition(True)
    store.set_flow_run_state(
        run_id, State(S.COMPLETED, "Completed", "done", timestamp=13.5), fields={"end_time": 13.5}
    )
    record = store.read_flow_run(run_id)
    assert (record.state.type, record.state.name, record.state.message) == (
        S.COMPLETED,
        "Completed",
        "done",
    )
    assert record.run_count == 1
    assert record.start_time == at(11.0)
    assert record.end_time == at(13.5)
    assert record.duration_seconds == 2.5
    history = store.read_state_history(run_id)
    assert [(h.name, h.timestamp) for h in history] == [
        ("Pending", at(10.0)),
        ("Running", at(11.0)),
        ("Completed", at(13.5)),
    ]


@pytest.mark.parametrize(
    "final",
    [
        State(S.COMPLETED, "Completed"),
        State(S.FAILED, "Failed"),
        State(S.FAILED, "TimedOut"),
        State(S.CRASHED, "Crashed"),
        State(S.CANCELLED, "Cancelled"),
    ],
    ids=lambda state: state.name,
)
@pytest.mark.parametrize(
    "proposed",
    [
        State(S.RUNNING, "Running"),
        State(S.PENDING, "Pending"),
        State(S.COMPLETED, "Completed"),
        State(S.FAILED, "Failed"),
        State(S.SCHEDULED, "AwaitingRetry"),
    ],
    ids=lambda state: state.name,
)
def test_leaving_terminal_state_is_refused_and_changes_nothing(
    store: Store, make_flow_run: FlowRunFactory, final: State, proposed: State
) -> None:
    run_id = make_flow_run()
    store.set_flow_run_state(run_id, State(S.RUNNING, "Running"), fields={"run_count": 1})
    store.set_flow_run_state(run_id, final, fields={"end_time": 50.0})
    before = store.read_flow_run(run_id)
    history_before = store.read_state_history(run_id)

    verdict = store.set_flow_run_state(
        run_id, proposed, fields={"run_count": 99, "end_time": 77.0, "start_time": 1.0}
    )

    assert not verdict.allowed
    assert "terminal" in verdict.reason
    assert store.read_flow_run(run_id) == before
    assert store.read_state_history(run_id) == history_before


def test_refused_transition_leaves_history_table_untouched(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    run_id = make_flow_run()
    store.set_flow_run_state(run_id, State(S.CANCELLING, "Cancelling"))
    rows = count_rows(store, state_history)
    verdict = store.set_flow_run_state(run_id, State(S.RUNNING, "Running"))
    assert verdict == Transition(False, "a Cancelling run cannot move to Running")
    assert count_rows(store, state_history) == rows
    assert store.read_flow_run(run_id).state.name == "Cancelling"


def test_rerun_may_leave_terminal_state(store: Store, make_flow_run: FlowRunFactory) -> None:
    run_id = make_flow_run()
    store.set_flow_run_state(run_id, State(S.RUNNING, "Running"), fields={"run_count": 1})
    store.set_flow_run_state(run_id, State(S.FAILED, "Failed", "boom"))
    verdict = store.set_flow_run_state(run_id, State(S.PENDING, "Pending"), rerun=True)
    assert verdict.allowed
    store.set_flow_run_state(run_id, State(S.RUNNING, "Retrying"), fields={"run_count": 2})
    store.set_flow_run_state(run_id, State(S.COMPLETED, "Completed"))
    assert history_names(store, run_id) == [
        "Pending",
        "Running",
        "Failed",
        "Pending",
        "Retrying",
        "Completed",
    ]
    assert store.read_flow_run(run_id).run_count == 2


def test_rerun_cannot_jump_to_another_terminal_state(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    run_id = make_flow_run()
    store.set_flow_run_state(run_id, State(S.FAILED, "Failed"))
    assert not store.set_flow_run_state(run_id, State(S.COMPLETED, "Completed"), rerun=True).allowed
    assert store.read_flow_run(run_id).state.name == "Failed"


def test_set_state_of_unknown_flow_run(store: Store) -> None:
    with pytest.raises(ObjectNotFound, match="no flow run with id 'missing'"):
        store.set_flow_run_state("missing", State(S.RUNNING, "Running"))


def test_set_state_keeps_flow_runs_apart(store: Store, make_flow_run: FlowRunFactory) -> None:
    first = make_flow_run()
    second = make_flow_run()
    store.set_flow_run_state(first, State(S.RUNNING, "Running"))
    assert store.read_flow_run(second).state.name == "Pending"
    assert history_names(store, second) == ["Pending"]


def test_state_history_of_unknown_run(store: Store) -> None:
    with pytest.raises(ObjectNotFound, match="no flow run or task run with id 'ghost'"):
        store.read_state_history("ghost")


# -- read_flow_runs -----------------------------------------------------------------


def test_read_flow_runs_newest_first_with_limit_and_offset(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    ids = [make_flow_run(created=100.0 + i, name=f"run-{i}") for i in range(5)]
    newest_first = list(reversed(ids))
    assert [r.id for r in store.read_flow_runs()] == newest_first
    assert [r.id for r in store.read_flow_runs(limit=2)] == newest_first[:2]
    assert [r.id for r in store.read_flow_runs(limit=2, offset=2)] == newest_first[2:4]
    assert [r.id for r in store.read_flow_runs(limit=2, offset=4)] == newest_first[4:]
    assert store.read_flow_runs(offset=5) == []


def test_read_flow_runs_ties_on_created_are_ordered_by_id(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    ids = [make_flow_run(created=100.0) for _ in range(4)]
    assert [r.id for r in store.read_flow_runs()] == sorted(ids, reverse=True)


def test_read_flow_runs_default_limit_is_50(store: Store, make_flow_run: FlowRunFactory) -> None:
    for i in range(55):
        make_flow_run(created=float(i))
    runs = store.read_flow_runs()
    assert len(runs) == 50
    assert runs[0].created == at(54.0)


def test_read_flow_runs_by_flow_name(store: Store, make_flow_run: FlowRunFactory) -> None:
    etl = [make_flow_run(flow_name="etl", created=float(i)) for i in range(3)]
    make_flow_run(flow_name="report")
    make_flow_run(flow_name="etl-v2")
    assert [r.id for r in store.read_flow_runs(flow_name="etl")] == list(reversed(etl))
    assert store.read_flow_runs(flow_name="ET") == []
    assert store.read_flow_runs(flow_name="unknown") == []


@pytest.fixture
def runs_by_state(store: Store, make_flow_run: FlowRunFactory) -> dict[str, str]:
    """One flow run ending in each of several states, keyed by state name."""
    finals = {
        "Completed": State(S.COMPLETED, "Completed"),
        "Cached": State(S.COMPLETED, "Cached"),
        "Failed": State(S.FAILED, "Failed"),
        "TimedOut": State(S.FAILED, "TimedOut"),
        "Crashed": State(S.CRASHED, "Crashed"),
        "Running": State(S.RUNNING, "Running"),
        "Retrying": State(S.RUNNING, "Retrying"),
        "AwaitingRetry": State(S.SCHEDULED, "AwaitingRetry"),
    }
    ids = {"Pending": make_flow_run(created=0.0)}
    for i, (name, state) in enumerate(finals.items(), start=1):
        run_id = make_flow_run(created=float(i))
        assert store.set_flow_run_state(run_id, state).allowed
        ids[name] = run_id
    return ids


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("COMPLETED", {"Completed", "Cached"}),
        ("completed", {"Completed", "Cached"}),
        ("FAILED", {"Failed", "TimedOut"}),
        ("Failed", {"Failed", "TimedOut"}),  # a type name wins over the state name
        ("RUNNING", {"Running", "Retrying"}),
        ("SCHEDULED", {"AwaitingRetry"}),
        ("PENDING", {"Pending"}),
        ("CRASHED", {"Crashed"}),
        ("CANCELLED", set()),
        ("TimedOut", {"TimedOut"}),
        ("timedout", {"TimedOut"}),
        (" TimedOut ", {"TimedOut"}),
        ("Cached", {"Cached"}),
        ("Retrying", {"Retrying"}),
        ("AwaitingRetry", {"AwaitingRetry"}),
        ("Late", set()),
    ],
)
def test_read_flow_runs_by_state(
    store: Store, runs_by_state: dict[str, str], state: str, expected: set[str]
) -> None:
    found = {record.id for record in store.read_flow_runs(state=state)}
    assert found == {runs_by_state[name] for name in expected}


def test_read_flow_runs_state_and_flow_name_combine(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    wanted = make_flow_run(flow_name="etl")
    store.set_flow_run_state(wanted, State(S.FAILED, "Failed"))
    other_flow = make_flow_run(flow_name="report")
    store.set_flow_run_state(other_flow, State(S.FAILED, "Failed"))
    make_flow_run(flow_name="etl")
    assert [r.id for r in store.read_flow_runs(flow_name="etl", state="failed")] == [wanted]


@pytest.mark.parametrize("state", ["Bogus", "", "FAIL", "complete"])
def test_read_flow_runs_unknown_state(store: Store, state: str) -> None:
    with pytest.raises(ValueError) as info:
        store.read_flow_runs(state=state)
    message = str(info.value)
    assert f"unknown state {state!r}" in message
    assert "COMPLETED" in message
    assert "TimedOut" in message


# -- resolve_flow_run_id ------------------------------------------------------------------


@pytest.fixture
def prefixed_ids(make_flow_run: FlowRunFactory) -> dict[str, str]:
    tail = new_id()[8:]
    ids = {
        "a1": "aaaa1111" + tail,
        "a2": "aaaa2222" + tail,
        "b": "bbbb1111" + tail,
    }
    for run_id in ids.values():
        make_flow_run(id=run_id)
    return ids


def test_resolve_unique_prefix(store: Store, prefixed_ids: dict[str, str]) -> None:
    assert store.resolve_flow_run_id("aaaa1") == prefixed_ids["a1"]
    assert store.resolve_flow_run_id("b") == prefixed_ids["b"]


def test_resolve_full_id(store: Store, prefixed_ids: dict[str, str]) -> None:
    for run_id in prefixed_ids.values():
        assert store.resolve_flow_run_id(run_id) == run_id


def test_resolve_ambiguous_prefix_lists_the_runs(
    store: Store, prefixed_ids: dict[str, str]
) -> None:
    with pytest.raises(ObjectNotFound) as caught:
        store.resolve_flow_run_id("aaaa")

    message = str(caught.value)
    assert message.startswith("'aaaa' is the start of the ids of several flow runs (")
    assert prefixed_ids["a1"] in message and prefixed_ids["a2"] in message
    assert prefixed_ids["b"] not in message
    assert message.endswith("give more of the id, or the run's name")


@pytest.mark.parametrize("blank", ["", "   "])
def test_resolve_blank_names_no_run(store: Store, prefixed_ids: dict[str, str], blank: str) -> None:
    with pytest.raises(ObjectNotFound, match="no flow run with id or name ''"):
        store.resolve_flow_run_id(blank)


@pytest.mark.parametrize("prefix", ["cccc", "aaaa3", "aaaa1111x", "%", "_", "a_aa", "aa%1"])
def test_resolve_unknown_prefix(store: Store, prefixed_ids: dict[str, str], prefix: str) -> None:
    with pytest.raises(
        ObjectNotFound, match=f"no flow run with id or name {re.escape(repr(prefix))}"
    ):
        store.resolve_flow_run_id(prefix)


def test_resolve_by_name_and_a_shared_name(store: Store, make_flow_run: FlowRunFactory) -> None:
    first = make_flow_run(name="nightly-load")
    assert store.resolve_flow_run_id("nightly-load") == first
    second = make_flow_run(name="nightly-load")
    with pytest.raises(ObjectNotFound) as caught:
        store.resolve_flow_run_id("nightly-load")
    message = str(caught.value)
    assert message.startswith("2 flow runs are named 'nightly-load': ")
    assert first in message and second in message


def test_resolve_upper_case_prefix(store: Store, prefixed_ids: dict[str, str]) -> None:
    """Ids are UUIDs, whose hex digits are case-insensitive: both backends must agree."""
    assert store.resolve_flow_run_id("BBBB") == prefixed_ids["b"]
    assert store.resolve_flow_run_id(prefixed_ids["a2"].upper()) == prefixed_ids["a2"]


# -- two stores on one database ------------------------------------------------------------


def test_two_stores_writing_at_once_lose_nothing(store: Store) -> None:
    """Two processes' stores on one database (threads here): every write lands, no errors."""
    other = Store(store.url.render_as_string(hide_password=False), lock_timeout=10)
    errors: list[BaseException] = []

    def work(target: Store, flow_name: str) -> None:
        try:
            for _ in range(15):
                run_id = new_id()
                target.create_flow_run(
                    flow_run_row(id=run_id, flow_name=flow_name), State(S.PENDING, "Pending")
                )
                assert target.set_flow_run_state(run_id, State(S.RUNNING, "Running")).allowed
                assert target.set_flow_run_state(run_id, State(S.COMPLETED, "Completed")).allowed
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(store, "left")),
        threading.Thread(target=work, args=(other, "right")),
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        other.close()
    assert errors == []
    for flow_name in ("left", "right"):
        runs = store.read_flow_runs(flow_name=flow_name)
        assert len(runs) == 15
        assert {r.state.name for r in runs} == {"Completed"}
        for run in runs:
            assert history_names(store, run.id) == ["Pending", "Running", "Completed"]


def test_two_stores_registering_the_same_new_flow_at_once(store: Store) -> None:
    """The first run of a flow, started by two processes at the same moment: both succeed
    and the flow is registered once (on PostgreSQL both transactions may see no row)."""
    other = Store(store.url.render_as_string(hide_password=False), lock_timeout=10)
    rounds = 10
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(target: Store) -> None:
        for i in range(rounds):
            barrier.wait(timeout=30)
            try:
                target.create_flow_run(
                    flow_run_row(flow_name=f"new-flow-{i}"), State(S.PENDING, "Pending")
                )
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in (store, other)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        other.close()
    assert errors == []
    with store.engine.connect() as conn:
        names = list(conn.execute(sa.select(flows.c.name)).scalars())
    assert sorted(names) == sorted(f"new-flow-{i}" for i in range(rounds))
    for i in range(rounds):
        assert len(store.read_flow_runs(flow_name=f"new-flow-{i}")) == 2
