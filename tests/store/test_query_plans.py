"""The read API's queries use indexes: SQLite's EXPLAIN QUERY PLAN for each.

On 100,000 flow runs a listing must answer in milliseconds (bench/reads.py times
it); that holds only while every listing walks or searches an index and never
scans a big table or sorts all its matches. The plans here are SQLite's without
statistics (legato never runs ANALYZE, so that is what a user's store gets),
taken from the exact SQL the Store sends, captured as it runs.
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from fixtures.store_rows import flow_run_row
from legato.ids import new_id
from legato.schemas import FlowRunFilter
from legato.states import State, StateType
from legato.store import Store
from legato.store.tables import logs, state_history, task_run_inputs, task_runs

BIG_TABLES = ("flow_runs", "flow_run_tags", "task_runs", "task_run_inputs", "state_history", "logs")
TASKS = 5


STATISTICS_OF_100K_RUNS = {
    ("flow_runs", "sqlite_autoindex_flow_runs_1"): "100000 1",
    ("flow_runs", "ix_flow_runs_created"): "100000 1 1",
    ("flow_runs", "ix_flow_runs_flow_name_created"): "100000 5000 1 1",
    ("flow_runs", "ix_flow_runs_state_type_created"): "100000 16667 1 1",
    ("flow_runs", "ix_flow_runs_state_name_created"): "100000 14286 1 1",
    ("flow_runs", "ix_flow_runs_parent_flow_run_id"): "100000 100000",
    ("flow_run_tags", "sqlite_autoindex_flow_run_tags_1"): "49980 16660 1",
    ("flow_run_tags", "ix_flow_run_tags_tag_created"): "49980 16660 1 1",
    ("task_runs", "sqlite_autoindex_task_runs_1"): "1002920 1",
    ("task_runs", "ix_task_runs_flow_run_id_created"): "1002920 11 1 1",
    ("task_runs", "ix_task_runs_cache_key"): "1002920 1002920",
    ("task_run_inputs", "ix_task_run_inputs_task_run_id"): "902925 1",
    ("state_history", "ix_state_history_flow_run_id"): "3308487 34",
    ("state_history", "ix_state_history_task_run_id"): "3308487 4",
}
"""``sqlite_stat1`` of bench/reads.py's store (100,000 flow runs, 1,000,000 task runs,
every state recorded) after ANALYZE: the plans SQLite picks on a store that size once
statistics exist. Rows naming an index the schema no longer has are ignored."""


@pytest.fixture(params=["no_statistics", "statistics_of_100k_runs"])
def statistics(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def sqlite_store(store_path: Path, run_id: str, statistics: str) -> Iterator[Store]:
    """The filled store, opened after its statistics are set (SQLite reads them on connect)."""
    if statistics == "statistics_of_100k_runs":
        with contextlib.closing(sqlite3.connect(store_path)) as conn:
            conn.execute("ANALYZE")
            conn.execute("DELETE FROM sqlite_stat1")
            conn.executemany(
                "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)",
                [(table, index, stat) for (table, index), stat in STATISTICS_OF_100K_RUNS.items()],
            )
            conn.commit()
    opened = Store(f"sqlite:///{store_path}", lock_timeout=5)
    try:
        yield opened
    finally:
        opened.close()


def _task_run(flow_run_id: str, index: int, created: float) -> dict[str, Any]:
    return {
        "id": new_id(),
        "flow_run_id": flow_run_id,
        "name": "step",
        "task_key": "flows.step",
        "dynamic_key": index,
        "tags": [],
        "state_type": "COMPLETED",
        "state_name": "Completed",
        "state_message": None,
        "state_timestamp": created + 1,
        "run_count": 1,
        "created": created,
        "start_time": created,
        "end_time": created + 1,
        "cache_key": None,
        "cache_expiration": None,
        "result_key": None,
        "subflow_run_id": None,
    }


@pytest.fixture
def run_id(store_path: Path) -> str:
    """A few flow runs in several states and flows; the id of one with task runs."""
    with contextlib.closing(Store(f"sqlite:///{store_path}")) as store:
        return _fill(store)


def _fill(sqlite_store: Store) -> str:
    states = [
        State(StateType.COMPLETED, "Completed"),
        State(StateType.FAILED, "Failed"),
        State(StateType.FAILED, "TimedOut"),
        State(StateType.RUNNING, "Running"),
    ]
    ids = []
    for i in range(12):
        row = flow_run_row(
            flow_name=f"flow-{i % 3}", created=1_000.0 + i, tags=["nightly"] if i % 2 else []
        )
        sqlite_store.create_flow_run(row, states[i % len(states)])
        ids.append(row["id"])
    rows = [_task_run(ids[0], j, 1_000.0 + j / 10) for j in range(TASKS)]
    with sqlite_store.engine.begin() as conn:
        conn.execute(task_runs.insert(), rows)
        conn.execute(
            task_run_inputs.insert(),
            [
                {"task_run_id": b["id"], "parameter": "x", "upstream_id": a["id"]}
                for a, b in itertools.pairwise(rows)
            ],
        )
        conn.execute(
            state_history.insert(),
            [
                {
                    "flow_run_id": ids[0],
                    "task_run_id": r["id"],
                    "type": "COMPLETED",
                    "name": "Completed",
                    "timestamp": r["end_time"],
                }
                for r in rows
            ],
        )
    return ids[0]


def plans(store: Store, read: Callable[[], Any]) -> dict[str, list[str]]:
    """SQLite's plan of each SELECT ``read`` sends, keyed by the SELECT's SQL."""
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    sa.event.listen(store.engine, "before_cursor_execute", capture)
    try:
        read()
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", capture)
    found = {}
    with store.engine.connect() as conn:
        for statement, parameters in sent:
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            found[" ".join(statement.split())] = [str(row[3]) for row in rows]
    assert found, "the read sent no SELECT"
    return found


def plan_of(store: Store, read: Callable[[], Any], table: str) -> list[str]:
    """The plan of the one SELECT ``read`` sends that reads FROM ``table``."""
    matching = [plan for sql, plan in plans(store, read).items() if f" FROM {table} " in f"{sql} "]
    assert len(matching) == 1, f"expected one SELECT from {table}, got {len(matching)}"
    return matching[0]


def full_scans(plan: list[str]) -> list[str]:
    """Lines that read a whole big table: ``SCAN t`` with no index after it."""
    return [line for line in plan if any(line == f"SCAN {table}" for table in BIG_TABLES)]


def sorts(plan: list[str]) -> list[str]:
    return [line for line in plan if line.startswith("USE TEMP B-TREE FOR")]


def assert_indexed(plan: list[str], index: str) -> None:
    assert not full_scans(plan), plan
    assert not sorts(plan), plan
    assert any(
        f"USING INDEX {index}" in line or f"COVERING INDEX {index}" in line for line in plan
    ), plan


def page(store: Store, **where: Any) -> Callable[[], Any]:
    return lambda: store.read_flow_run_page(FlowRunFilter(**where), limit=5)


@pytest.mark.usefixtures("run_id")
def test_newest_page_walks_the_created_index(sqlite_store: Store) -> None:
    assert len(page(sqlite_store)().flow_runs) == 5
    plan = plan_of(sqlite_store, page(sqlite_store), "flow_runs")
    assert_indexed(plan, "ix_flow_runs_created")


@pytest.mark.usefixtures("run_id")
def test_state_type_filter_searches_its_index(sqlite_store: Store) -> None:
    assert {r.state.type for r in page(sqlite_store, state="FAILED")().flow_runs} == {
        StateType.FAILED
    }
    plan = plan_of(sqlite_store, page(sqlite_store, state="FAILED"), "flow_runs")
    assert_indexed(plan, "ix_flow_runs_state_type_created")
    assert any(line.startswith("SEARCH flow_runs") for line in plan), plan


@pytest.mark.usefixtures("run_id")
def test_state_name_filter_searches_its_index(sqlite_store: Store) -> None:
    assert {r.state.name for r in page(sqlite_store, state="TimedOut")().flow_runs} == {"TimedOut"}
    plan = plan_of(sqlite_store, page(sqlite_store, state="TimedOut"), "flow_runs")
    assert_indexed(plan, "ix_flow_runs_state_name_created")
    assert any(line.startswith("SEARCH flow_runs") for line in plan), plan


@pytest.mark.usefixtures("run_id")
def test_flow_name_filter_searches_its_index(sqlite_store: Store) -> None:
    assert {r.flow_name for r in page(sqlite_store, flow_name="flow-1")().flow_runs} == {"flow-1"}
    plan = plan_of(sqlite_store, page(sqlite_store, flow_name="flow-1"), "flow_runs")
    assert_indexed(plan, "ix_flow_runs_flow_name_created")
    assert any(line.startswith("SEARCH flow_runs") for line in plan), plan


@pytest.mark.usefixtures("run_id")
def test_tag_filter_walks_the_tag_index(sqlite_store: Store) -> None:
    assert all("nightly" in r.tags for r in page(sqlite_store, tags=("nightly",))().flow_runs)
    plan = plan_of(sqlite_store, page(sqlite_store, tags=("nightly",)), "flow_runs")
    assert_indexed(plan, "ix_flow_run_tags_tag_created")


@pytest.mark.usefixtures("run_id")
def test_a_cursor_page_starts_inside_the_created_index(sqlite_store: Store) -> None:
    cursor = sqlite_store.read_flow_run_page(limit=3).next_cursor
    assert cursor is not None

    def read() -> Any:
        return sqlite_store.read_flow_run_page(limit=5, cursor=cursor)

    plan = plan_of(sqlite_store, read, "flow_runs")
    assert_indexed(plan, "ix_flow_runs_created")
    assert any(line.startswith("SEARCH flow_runs") for line in plan), plan


def test_task_runs_of_one_run_search_by_flow_run_id(sqlite_store: Store, run_id: str) -> None:
    assert len(sqlite_store.read_task_runs(run_id)) == TASKS
    found = plans(sqlite_store, lambda: sqlite_store.read_task_runs(run_id))
    for sql, plan in found.items():
        assert not full_scans(plan), (sql, plan)
    task_plan = plan_of(sqlite_store, lambda: sqlite_store.read_task_runs(run_id), "task_runs")
    assert any(
        "SEARCH task_runs USING INDEX" in line and "flow_run_id=?" in line for line in task_plan
    )


def test_task_runs_of_one_run_come_in_index_order(sqlite_store: Store, run_id: str) -> None:
    plan = plan_of(sqlite_store, lambda: sqlite_store.read_task_runs(run_id), "task_runs")
    assert not sorts(plan), plan


def test_state_history_of_a_flow_run_searches_by_its_id(sqlite_store: Store, run_id: str) -> None:
    # With statistics, an index on task_run_id alone tempted SQLite into reading every
    # flow run's own states (task_run_id IS NULL); (flow_run_id, task_run_id) does not.
    assert [s.name for s in sqlite_store.read_state_history(run_id)] == ["Completed"]
    plan = plan_of(sqlite_store, lambda: sqlite_store.read_state_history(run_id), "state_history")
    assert not full_scans(plan) and not sorts(plan), plan
    assert any("SEARCH state_history" in line and "flow_run_id=?" in line for line in plan), plan


def _with_logs(store: Store, run_id: str) -> str:
    """Log lines for ``run_id`` (some of its first task run's) and for another run; the
    task run's id."""
    task_run_id = str(store.read_task_runs(run_id)[0].id)
    other = store.read_flow_runs(limit=2)[-1].id
    rows = [
        {
            "flow_run_id": run_id if i % 2 else other,
            "task_run_id": task_run_id if i % 4 == 1 else None,
            "timestamp": 1_000.0 + i,
            "level": ("INFO", "ERROR")[i % 3 == 0],
            "logger": "legato.task_runs",
            "message": f"line {i}",
        }
        for i in range(40)
    ]
    with store.engine.begin() as conn:
        conn.execute(logs.insert(), rows)
    return task_run_id


def test_a_log_page_walks_the_run_s_index_by_id(sqlite_store: Store, run_id: str) -> None:
    _with_logs(sqlite_store, run_id)
    first = sqlite_store.read_log_page(run_id, limit=5)
    assert len(first.logs) == 5 and first.next_cursor is not None

    def read() -> Any:
        return sqlite_store.read_log_page(run_id, limit=5, cursor=first.next_cursor)

    plan = plan_of(sqlite_store, read, "logs")
    assert_indexed(plan, "ix_logs_flow_run_id_id")
    assert any("SEARCH logs" in line and "id>?" in line for line in plan), plan


def test_a_level_filtered_log_page_walks_the_same_index(sqlite_store: Store, run_id: str) -> None:
    _with_logs(sqlite_store, run_id)
    plan = plan_of(sqlite_store, lambda: sqlite_store.read_log_page(run_id, level="error"), "logs")
    assert_indexed(plan, "ix_logs_flow_run_id_id")


def test_a_task_run_s_log_page_walks_its_index(sqlite_store: Store, run_id: str) -> None:
    task_run_id = _with_logs(sqlite_store, run_id)

    def read() -> Any:
        return sqlite_store.read_log_page(run_id, task_run_id=task_run_id, limit=3)

    assert [line.task_run_id for line in read().logs] == [task_run_id] * 3
    plan = plan_of(sqlite_store, read, "logs")
    assert not full_scans(plan) and not sorts(plan), plan
    assert any("USING INDEX ix_logs_task_run_id_id" in line for line in plan), plan


def test_a_task_run_page_after_a_cursor_searches_its_index(
    sqlite_store: Store, run_id: str
) -> None:
    first = sqlite_store.read_task_run_page(run_id, limit=2)
    assert first.next_cursor is not None

    def read() -> Any:
        return sqlite_store.read_task_run_page(run_id, limit=2, cursor=first.next_cursor)

    plan = plan_of(sqlite_store, read, "task_runs")
    assert_indexed(plan, "ix_task_runs_flow_run_id_created")
    assert any("SEARCH task_runs" in line and "created>?" in line for line in plan), plan


def test_the_task_run_summary_searches_by_flow_run_id(sqlite_store: Store, run_id: str) -> None:
    assert sqlite_store.read_task_run_summary(run_id).task_runs == TASKS
    plan = plan_of(sqlite_store, lambda: sqlite_store.read_task_run_summary(run_id), "task_runs")
    assert not full_scans(plan), plan
    assert any(
        "SEARCH task_runs USING INDEX ix_task_runs_flow_run_id_created" in line for line in plan
    ), plan
