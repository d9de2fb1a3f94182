"""Log lines are read a bounded page at a time, keyset on the line id (issue 8, item 11).

A run that printed a million lines used to be read whole by one request; here a run with
a few thousand lines is paged through and every line must come back exactly once, in the
order stored, with each page bounded in lines and in text.
"""

from __future__ import annotations

from typing import Any

import pytest

from legato.engine.task_run import TaskRun
from legato.ids import new_id
from legato.ops import RecordLog
from legato.states import State, StateType
from legato.store import Store, queries

LINES = 2_500


def _log(
    flow_run_id: str, task_run_id: str | None, message: str, *, level: str = "INFO"
) -> RecordLog:
    return RecordLog(
        {
            "flow_run_id": flow_run_id,
            "task_run_id": task_run_id,
            "timestamp": 1000.0,
            "level": level,
            "logger": "legato.task_runs",
            "message": message,
        }
    )


def _task_run(flow_run_id: str, name: str) -> TaskRun:
    return TaskRun(
        id=new_id(),
        flow_run_id=flow_run_id,
        name=name,
        task_key="flows.work",
        dynamic_key=0,
        tags=[],
        state=State(StateType.PENDING, "Pending", timestamp=1000.0),
        created=1000.0,
    )


LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "TRACE"]


@pytest.fixture
def noisy_run(store: Store, make_flow_run: Any) -> tuple[str, str]:
    """A flow run with LINES lines through the store's writer, every third one from a
    task run, levels cycling (TRACE: a custom level); its id and the task run's id."""
    flow_run_id = make_flow_run()
    task_run = _task_run(flow_run_id, "work-0")
    store.writer.put(task_run.insert_op())
    for i in range(LINES):
        owner = task_run.id if i % 3 == 0 else None
        store.writer.put(_log(flow_run_id, owner, f"line {i}", level=LEVELS[i % len(LEVELS)]))
    store.writer.flush()
    return flow_run_id, task_run.id


def test_paging_returns_every_line_once_in_order(store: Store, noisy_run: tuple[str, str]) -> None:
    flow_run_id, _ = noisy_run
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = store.read_log_page(flow_run_id, limit=300, cursor=cursor)
        assert len(page.logs) <= 300
        seen.extend(line.message for line in page.logs)
        pages += 1
        if page.next_cursor is None:
            break
        assert page.next_cursor == str(page.logs[-1].id)
        cursor = page.next_cursor
    assert pages == -(-LINES // 300)
    assert seen == [f"line {i}" for i in range(LINES)]
    assert [line.message for line in store.iter_logs(flow_run_id, page_size=7)] == seen


def test_default_page_is_bounded(store: Store, noisy_run: tuple[str, str]) -> None:
    page = store.read_log_page(noisy_run[0])
    assert len(page.logs) == 1000
    assert page.next_cursor is not None


def test_task_run_filter_pages_its_lines_only(store: Store, noisy_run: tuple[str, str]) -> None:
    flow_run_id, task_run_id = noisy_run
    lines = list(store.iter_logs(flow_run_id, task_run_id=task_run_id, page_size=100))
    assert [line.message for line in lines] == [f"line {i}" for i in range(0, LINES, 3)]
    assert {line.task_run_name for line in lines} == {"work-0"}


@pytest.mark.parametrize(
    ("level", "kept"),
    [
        ("warning", {"WARNING", "ERROR", "CRITICAL", "TRACE"}),
        ("WARN", {"WARNING", "ERROR", "CRITICAL", "TRACE"}),
        (40, {"ERROR", "CRITICAL", "TRACE"}),
        ("debug", set(LEVELS)),
    ],
)
def test_level_filter_keeps_that_level_and_above(
    store: Store, noisy_run: tuple[str, str], level: str | int, kept: set[str]
) -> None:
    lines = list(store.iter_logs(noisy_run[0], level=level, page_size=250))
    assert {line.level for line in lines} == kept
    expected = [f"line {i}" for i in range(LINES) if LEVELS[i % len(LEVELS)] in kept]
    assert [line.message for line in lines] == expected


def test_unknown_level_name_is_refused(store: Store, noisy_run: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        store.read_log_page(noisy_run[0], level="loud")


def test_a_page_ends_after_its_text_budget(
    store: Store, make_flow_run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "LOG_PAGE_TEXT", 10_000)
    flow_run_id = make_flow_run()
    for i in range(10):
        store.writer.put(_log(flow_run_id, None, f"{i}" * 3_000))
    store.writer.flush()
    sizes = []
    cursor = None
    while True:
        page = store.read_log_page(flow_run_id, limit=100, cursor=cursor)
        sizes.append(len(page.logs))
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sizes == [3, 3, 3, 1]
    # A single line above the budget still makes a page: paging always moves on.
    store.writer.put(_log(flow_run_id, None, "x" * 50_000))
    store.writer.flush()
    page = store.read_log_page(flow_run_id, cursor=cursor)
    assert [len(line.message) for line in page.logs] == [3_000]
    assert page.next_cursor is not None
    page = store.read_log_page(flow_run_id, cursor=page.next_cursor)
    assert [len(line.message) for line in page.logs] == [50_000]
    assert page.next_cursor is None


def test_lines_stored_after_a_read_come_after_its_last_id(
    store: Store, noisy_run: tuple[str, str]
) -> None:
    flow_run_id, _ = noisy_run
    last = list(store.iter_logs(flow_run_id))[-1]
    assert store.read_log_page(flow_run_id, cursor=str(last.id)).logs == []
    store.writer.put(_log(flow_run_id, None, "later"))
    store.writer.flush()
    assert [
        line.message for line in store.read_log_page(flow_run_id, cursor=str(last.id)).logs
    ] == ["later"]


def test_a_cursor_of_another_shape_is_refused(store: Store, noisy_run: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match="invalid cursor"):
        store.read_log_page(noisy_run[0], cursor="12; DROP TABLE logs")
