"""Task runs with no flow run: listed newest first a keyset page at a time, their log
lines read by task run, and found by a start of the id or by name (on both backends)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from legato.engine.task_run import TaskRun
from legato.errors import ObjectNotFound
from legato.ids import new_id
from legato.ops import RecordLog
from legato.states import State, StateType
from legato.store import Store


def _task_run(flow_run_id: str | None, name: str, created: float) -> TaskRun:
    return TaskRun(
        id=new_id(),
        flow_run_id=flow_run_id,
        name=name,
        task_key="script.work",
        dynamic_key=0,
        tags=[],
        state=State(StateType.PENDING, "Pending", timestamp=created),
        created=created,
    )


def _log(task_run_id: str | None, message: str, level: str = "INFO") -> RecordLog:
    return RecordLog(
        {
            "flow_run_id": None,
            "task_run_id": task_run_id,
            "timestamp": 1000.0,
            "level": level,
            "logger": "legato.task_runs",
            "message": message,
        }
    )


@pytest.fixture
def standalone(store: Store, make_flow_run: Any) -> list[TaskRun]:
    """Seven standalone task runs (three made at the same instant) and one of a flow run."""
    made = [_task_run(None, f"work-{i}", 1000.0 + min(i, 3)) for i in range(7)]
    in_flow = _task_run(make_flow_run(), "work-99", 5000.0)
    for task_run in [*made, in_flow]:
        store.writer.put(task_run.insert_op())
    store.writer.flush()
    return made


def test_pages_hold_every_standalone_task_run_once_newest_first(
    store: Store, standalone: list[TaskRun]
) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        page = store.read_standalone_task_run_page(limit=2, cursor=cursor)
        assert len(page.task_runs) <= 2
        seen.extend(task_run.id for task_run in page.task_runs)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    # (created, id) descending: ties on created are ordered by id, none lost or repeated.
    expected = sorted(standalone, key=lambda run: (run.created, run.id), reverse=True)
    assert seen == [run.id for run in expected]
    assert store.read_standalone_task_run_page(limit=10).next_cursor is None


def test_a_standalone_task_runs_lines_are_read_by_task_run(
    store: Store, standalone: list[TaskRun]
) -> None:
    mine, other = standalone[0].id, standalone[1].id
    for i in range(5):
        store.writer.put(_log(mine, f"line {i}", "DEBUG" if i % 2 else "WARNING"))
        store.writer.put(_log(other, f"other {i}"))
    store.writer.flush()
    page = store.read_task_run_log_page(mine, limit=3)
    assert [line.message for line in page.logs] == ["line 0", "line 1", "line 2"]
    assert {(line.flow_run_id, line.task_run_name) for line in page.logs} == {(None, "work-0")}
    rest = store.read_task_run_log_page(mine, cursor=page.next_cursor)
    assert ([line.message for line in rest.logs], rest.next_cursor) == (["line 3", "line 4"], None)
    warnings = store.read_task_run_log_page(mine, level="warning")
    assert [line.message for line in warnings.logs] == ["line 0", "line 2", "line 4"]


def test_a_task_run_is_found_by_id_start_or_standalone_name(
    store: Store, standalone: list[TaskRun]
) -> None:
    target = standalone[4]
    assert store.resolve_task_run_id(target.id) == target.id
    assert store.resolve_task_run_id(target.id.upper()[:33]) == target.id
    assert store.resolve_task_run_id(" work-4 ") == target.id
    with pytest.raises(ObjectNotFound, match="no task run with id or name 'work-99'"):
        store.resolve_task_run_id("work-99")  # a flow's task run: by id only
    with pytest.raises(ObjectNotFound, match="no task run with id or name"):
        store.resolve_task_run_id(target.id[-12:])  # its end, not its start
    with pytest.raises(ObjectNotFound, match="the start of the ids of several task runs"):
        shared = os.path.commonprefix([run.id for run in standalone])  # noqa: RUF071 - ids
        store.resolve_task_run_id(shared)
