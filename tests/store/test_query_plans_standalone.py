"""The reads of standalone task runs use indexes (SQLite's EXPLAIN QUERY PLAN), with and
without the statistics of a big store: see test_query_plans.py, whose helpers these are."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.store_rows import flow_run_row
from legato.states import State, StateType
from legato.store import Store
from legato.store.tables import logs, task_runs
from store.test_query_plans import (
    STATISTICS_OF_100K_RUNS,
    _task_run,
    assert_indexed,
    full_scans,
    plan_of,
    sorts,
)


@pytest.fixture(params=["no_statistics", "statistics_of_100k_runs"])
def standalone_store(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    """Eight standalone task runs with log lines, beside a flow run's five task runs."""
    path = tmp_path / "store.db"
    with contextlib.closing(Store(f"sqlite:///{path}")) as store:
        row = flow_run_row(flow_name="flow", created=1_000.0)
        store.create_flow_run(row, State(StateType.COMPLETED, "Completed"))
        in_flow = [_task_run(row["id"], j, 1_000.0 + j) for j in range(5)]
        alone = [{**_task_run(row["id"], 0, 2_000.0 + j), "flow_run_id": None} for j in range(8)]
        with store.engine.begin() as conn:
            conn.execute(task_runs.insert(), in_flow + alone)
            conn.execute(
                logs.insert(),
                [
                    {
                        "flow_run_id": None,
                        "task_run_id": alone[i % 2]["id"],
                        "timestamp": 2_000.0 + i,
                        "level": "INFO",
                        "logger": "legato.task_runs",
                        "message": f"line {i}",
                    }
                    for i in range(20)
                ],
            )
    if request.param == "statistics_of_100k_runs":
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("ANALYZE")
            conn.execute("DELETE FROM sqlite_stat1")
            conn.executemany(
                "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)",
                [(table, index, stat) for (table, index), stat in STATISTICS_OF_100K_RUNS.items()],
            )
            conn.commit()
    opened = Store(f"sqlite:///{path}", lock_timeout=5)
    try:
        yield opened
    finally:
        opened.close()


def test_the_standalone_listing_walks_the_flow_run_id_index(standalone_store: Store) -> None:
    first = standalone_store.read_standalone_task_run_page(limit=3)
    assert len(first.task_runs) == 3 and first.next_cursor is not None

    def read() -> Any:
        return standalone_store.read_standalone_task_run_page(limit=3, cursor=first.next_cursor)

    for reader in (lambda: standalone_store.read_standalone_task_run_page(limit=3), read):
        plan = plan_of(standalone_store, reader, "task_runs")
        assert_indexed(plan, "ix_task_runs_flow_run_id_created")
    assert any("SEARCH task_runs" in line and "created<?" in line for line in plan), plan


def test_a_standalone_task_run_s_lines_walk_its_index(standalone_store: Store) -> None:
    task_run_id = standalone_store.read_standalone_task_run_page(limit=8).task_runs[-1].id

    def read() -> Any:
        return standalone_store.read_task_run_log_page(task_run_id, limit=4)

    assert [line.task_run_id for line in read().logs] == [task_run_id] * 4
    plan = plan_of(standalone_store, read, "logs")
    assert not full_scans(plan) and not sorts(plan), plan
    assert any("USING INDEX ix_logs_task_run_id_id" in line for line in plan), plan
