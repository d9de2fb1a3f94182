"""Logs and task runs over HTTP a page at a time (issue 8, items 11 and 13).

A read-only request for the logs of a run that printed a million lines took 1.86 GB of
server memory; ``runs show`` of a run with 100,000 task runs, 725 MB. Here runs with
thousands of lines and task runs are written through the store's batched writer into the
served store; the API answers bounded pages with an ``X-Next-Cursor`` header, paging
returns every row exactly once in order, and the server's memory stays flat while a run
with 120 MB of log text is read.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import legato
from fixtures.served import Served
from fixtures.servers import start_server
from legato.engine.task_run import TaskRun
from legato.ids import new_id
from legato.ops import RecordLog
from legato.orchestrator.client import ClientOrchestrator
from legato.states import State, StateType
from legato.store import Store

LINES = 3_000
TASKS = 2_500
LEVELS = ("INFO", "WARNING", "ERROR", "CRITICAL", "DEBUG")


def _flow_run(store: Store, name: str) -> str:
    run_id = new_id()
    row = {
        "id": run_id,
        "flow_name": name,
        "name": f"{name}-run",
        "parameters": {},
        "tags": [],
        "entrypoint": None,
        "parent_flow_run_id": None,
        "parent_task_run_id": None,
        "run_count": 1,
        "created": time.time(),
        "start_time": None,
        "end_time": None,
    }
    store.create_flow_run(row, State(StateType.RUNNING, "Running"))
    return run_id


def _task_run(flow_run_id: str, name: str, key: str, index: int, state: State) -> TaskRun:
    return TaskRun(
        id=new_id(),
        flow_run_id=flow_run_id,
        name=f"{name}-{index}",
        task_key=key,
        dynamic_key=index,
        tags=[],
        state=state,
        created=1_000.0 + index // 3,  # ties on created: the id breaks them
    )


def _log(flow_run_id: str, task_run_id: str | None, message: str, level: str) -> Any:
    return RecordLog(
        {
            "flow_run_id": flow_run_id,
            "task_run_id": task_run_id,
            "timestamp": time.time(),
            "level": level,
            "logger": "legato.task_runs",
            "message": message,
        }
    )


def _served_store() -> Store:
    store = legato.get_client().store  # type: ignore[attr-defined]
    assert isinstance(store, Store)
    return store


@pytest.fixture
def noisy(api: httpx.Client) -> dict[str, str]:
    """A run with LINES lines (every 10th from its one task run); ids of both."""
    store = _served_store()
    run_id = _flow_run(store, "noisy")
    task_run = _task_run(run_id, "talk", "talk-key", 0, State(StateType.RUNNING, "Running"))
    store.writer.put(task_run.insert_op())
    for i in range(LINES):
        owner = task_run.id if i % 10 == 0 else None
        store.writer.put(_log(run_id, owner, f"line {i:05d}", LEVELS[i % len(LEVELS)]))
    store.writer.flush()
    return {"run": run_id, "task_run": task_run.id}


@pytest.fixture
def wide(api: httpx.Client) -> str:
    """A run with TASKS task runs: two tasks, in two states."""
    store = _served_store()
    run_id = _flow_run(store, "wide")
    for i in range(TASKS):
        failed = i % 5 == 4
        state = (
            State(StateType.FAILED, "Failed") if failed else State(StateType.COMPLETED, "Completed")
        )
        name, key = ("load", "load-k") if i % 2 else ("extract", "extract-k")
        task_run = _task_run(run_id, name, key, i, state)
        store.writer.put(task_run.insert_op())
        store.writer.put(task_run.state_op())
    store.writer.flush()
    return run_id


def _walk(api: httpx.Client, path: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every row of a paged listing, and how many pages it took."""
    rows: list[dict[str, Any]] = []
    pages = 0
    cursor = None
    while True:
        answer = api.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        rows.extend(answer.json())
        pages += 1
        cursor = answer.headers.get("X-Next-Cursor")
        if cursor is None:
            return rows, pages


# -- logs ----------------------------------------------------------------------------


def test_logs_default_to_one_bounded_page_with_the_next_cursor(
    api: httpx.Client, noisy: dict[str, str]
) -> None:
    answer = api.get(f"/api/flow_runs/{noisy['run']}/logs")
    assert answer.status_code == 200
    assert [line["message"] for line in answer.json()] == [f"line {i:05d}" for i in range(1000)]
    assert answer.headers["X-Next-Cursor"] == str(answer.json()[-1]["id"])


def test_paging_through_logs_returns_every_line_once_in_order(
    api: httpx.Client, noisy: dict[str, str]
) -> None:
    lines, pages = _walk(api, f"/api/flow_runs/{noisy['run']}/logs", limit=700)
    assert [line["message"] for line in lines] == [f"line {i:05d}" for i in range(LINES)]
    assert pages == 5
    assert len({line["id"] for line in lines}) == LINES


def test_logs_filtered_by_minimum_level_and_task_run(
    api: httpx.Client, noisy: dict[str, str]
) -> None:
    path = f"/api/flow_runs/{noisy['run']}/logs"
    errors, _ = _walk(api, path, level="error", limit=300)
    assert {line["level"] for line in errors} == {"ERROR", "CRITICAL"}
    assert len(errors) == 2 * LINES // len(LEVELS)
    task_lines, _ = _walk(api, path, task_run_id=noisy["task_run"], limit=100)
    assert [line["message"] for line in task_lines] == [
        f"line {i:05d}" for i in range(0, LINES, 10)
    ]
    assert {line["task_run_name"] for line in task_lines} == {"talk-0"}


@pytest.mark.parametrize(
    "params",
    [{"cursor": "abc"}, {"cursor": "1" * 19}, {"level": "loud"}, {"limit": 10_001}],
)
def test_bad_log_paging_parameters_are_422(
    api: httpx.Client, noisy: dict[str, str], params: dict[str, Any]
) -> None:
    answer = api.get(f"/api/flow_runs/{noisy['run']}/logs", params=params)
    assert answer.status_code == 422, answer.text
    assert next(iter(params)) in answer.text


@pytest.mark.parametrize("cursor", [str(2**31 - 1), str(2**31), "9" * 18])
def test_a_cursor_past_every_line_is_an_empty_last_page_when_beyond_the_id_column(
    api: httpx.Client, noisy: dict[str, str], cursor: str
) -> None:
    """The pattern takes 18 digits; PostgreSQL's log ids are int4, and a larger cursor
    failed the query: 503 "integer out of range", as if the store were down."""
    answer = api.get(f"/api/flow_runs/{noisy['run']}/logs", params={"cursor": cursor})
    assert answer.status_code == 200, answer.text
    assert answer.json() == []
    assert "X-Next-Cursor" not in answer.headers


def test_the_http_client_reads_every_line_a_page_at_a_time(
    served: Served, noisy: dict[str, str]
) -> None:
    client = ClientOrchestrator(served.url)
    try:
        assert [line.message for line in client.read_logs(noisy["run"])] == [
            f"line {i:05d}" for i in range(LINES)
        ]
        assert len(client.read_logs(noisy["run"], limit=1234)) == 1234
        page = client.read_log_page(noisy["run"], level="critical", limit=10)
        assert {line.level for line in page.logs} == {"CRITICAL"}
        assert page.next_cursor is not None
    finally:
        client.close()


# -- task runs -------------------------------------------------------------------------


def test_task_runs_default_to_one_page_and_page_through_once_in_order(
    api: httpx.Client, wide: str
) -> None:
    first = api.get(f"/api/flow_runs/{wide}/task_runs")
    assert first.status_code == 200
    assert len(first.json()) == 1000
    assert "X-Next-Cursor" in first.headers
    task_runs, pages = _walk(api, f"/api/flow_runs/{wide}/task_runs", limit=400)
    assert pages == 7
    assert sorted(t["dynamic_key"] for t in task_runs) == list(range(TASKS))
    assert task_runs == sorted(task_runs, key=lambda t: (t["created"], t["id"]))
    assert task_runs[:1000] == first.json()


def test_the_task_run_summary_counts_by_task_and_state(api: httpx.Client, wide: str) -> None:
    answer = api.get(f"/api/flow_runs/{wide}/task_runs/summary")
    assert answer.status_code == 200
    summary = answer.json()
    assert summary["task_runs"] == TASKS
    assert [(c["task"], c["state_name"], c["count"]) for c in summary["counts"]] == [
        ("extract", "Completed", 1000),
        ("extract", "Failed", 250),
        ("load", "Completed", 1000),
        ("load", "Failed", 250),
    ]
    missing = api.get(f"/api/flow_runs/{new_id()}/task_runs/summary")
    assert missing.status_code == 404


def test_the_http_client_reads_every_task_run_and_their_histories(
    served: Served, wide: str
) -> None:
    client = ClientOrchestrator(served.url)
    try:
        task_runs = client.read_task_runs(wide)
        assert sorted(t.dynamic_key for t in task_runs) == list(range(TASKS))
        assert client.read_task_run_summary(wide).task_runs == TASKS
        ids = [t.id for t in task_runs[:250]]
        histories = client.read_task_state_histories(wide, ids)
        assert set(histories) == set(ids)
    finally:
        client.close()


# -- memory ----------------------------------------------------------------------------

BIG_LINES = 40_000
BIG_LINE = 3_000  # characters: 120 MB of log text in all


def _memory(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` memory field (VmRSS, VmHWM) in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for process {pid}")


@pytest.mark.slow
def test_reading_a_huge_run_s_logs_keeps_server_memory_flat(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = Store(f"sqlite:///{home / 'legato.db'}")
    try:
        run_id = _flow_run(store, "huge")
        for i in range(BIG_LINES):
            store.writer.put(_log(run_id, None, f"{i:06d}".ljust(BIG_LINE, "x"), "INFO"))
        store.writer.flush()
    finally:
        store.close()
    server = start_server(home, tmp_path / "server.log")
    try:
        with httpx.Client(base_url=server.url, timeout=120) as api:
            path = f"/api/flow_runs/{run_id}/logs"
            assert api.get(path, params={"limit": 10}).status_code == 200  # warm up
            before = _memory(server.process.pid, "VmRSS")
            # What an old client sends: no limit at all, then the largest one allowed.
            for params in ({}, {"limit": 10_000}):
                answer = api.get(path, params=params)
                assert answer.status_code == 200
                assert len(answer.content) < 8_000_000
            seen = 0
            cursor = None
            while True:
                answer = api.get(
                    path, params={"limit": 10_000, **({"cursor": cursor} if cursor else {})}
                )
                lines = answer.json()
                assert [int(line["message"][:6]) for line in lines] == list(
                    range(seen, seen + len(lines))
                )
                seen += len(lines)
                cursor = answer.headers.get("X-Next-Cursor")
                if cursor is None:
                    break
            assert seen == BIG_LINES
            grown = _memory(server.process.pid, "VmHWM") - before
            assert grown < 100 * 1024 * 1024, f"server memory grew by {grown / 2**20:.0f} MB"
    finally:
        assert server.stop() == 0, server.log()
