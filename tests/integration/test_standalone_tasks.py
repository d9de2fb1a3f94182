"""A task called outside any flow is a task run of its own: read back from the store."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

import legato
from fixtures.cli import cli
from legato import get_run_logger, task
from legato.engine.caching import task_input_hash
from legato.errors import RunFailed
from legato.settings import get_settings
from legato.states import Failed, State
from legato.store.tables import logs


def _stored(run_id: str | None) -> Any:
    assert run_id is not None
    return legato.get_client().read_task_run(run_id)


def _history(run_id: str | None) -> list[str]:
    assert run_id is not None
    return [s.name for s in legato.get_client().read_state_history(run_id)]


def _stored_lines(task_run_id: str | None) -> list[tuple[str | None, str]]:
    """The task run's rows in the logs table (the API reads lines by flow run)."""
    engine = sa.create_engine(get_settings().effective_database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(logs.c.flow_run_id, logs.c.message).where(
                    logs.c.task_run_id == task_run_id
                )
            )
            return [(row.flow_run_id, row.message) for row in rows]
    finally:
        engine.dispose()


def test_a_task_called_outside_a_flow_is_recorded_with_no_flow_run() -> None:
    @task
    def add(x: int, y: int) -> int:
        get_run_logger().info("adding %d and %d", x, y)
        return x + y

    assert add(1, 2) == 3
    state = add(2, 3, return_state=True)
    assert state.result() == 5
    run = _stored(state.run_id)
    assert (run.flow_run_id, run.name, run.state.type, run.run_count) == (
        None,
        "add-0",
        "COMPLETED",
        1,
    )
    assert _history(state.run_id) == ["Pending", "Running", "Completed"]
    assert _stored_lines(state.run_id) == [(None, "adding 2 and 3")]


def test_a_task_called_outside_a_flow_is_retried() -> None:
    calls: list[int] = []

    @task(retries=2, retry_delay_seconds=0)
    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError(f"attempt {len(calls)}")
        return "ok"

    state = flaky(return_state=True)
    assert state.result() == "ok"
    assert _stored(state.run_id).run_count == 3
    assert _history(state.run_id) == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]


def test_a_task_called_outside_a_flow_that_fails_raises_and_is_stored_failed() -> None:
    @task
    def broken() -> None:
        raise ValueError("no such file")

    @task
    def refuses() -> State:
        return Failed(message="bad rows")

    with pytest.raises(ValueError, match="no such file"):
        broken()
    with pytest.raises(RunFailed, match="bad rows"):
        refuses()
    state = refuses(return_state=True)
    assert (state.type.value, _stored(state.run_id).state.message) == ("FAILED", "bad rows")


def test_a_task_called_outside_a_flow_is_cached_by_its_cache_key_fn() -> None:
    calls: list[int] = []

    @task(cache_key_fn=task_input_hash)
    def expensive(x: int) -> int:
        calls.append(x)
        return x * 10

    first = expensive(4, return_state=True)
    second = expensive(4, return_state=True)
    other = expensive(5, return_state=True)
    assert (first.result(), second.result(), other.result()) == (40, 40, 50)
    assert calls == [4, 5]
    assert _stored(second.run_id).state.name == "Cached"
    assert _stored(first.run_id).state.name == "Completed"


def test_an_async_task_called_outside_a_flow_is_recorded() -> None:
    import asyncio

    @task
    async def fetch(n: int) -> int:
        await asyncio.sleep(0)
        return n + 1

    state = asyncio.run(fetch(1, return_state=True))
    assert state.result() == 2
    assert _stored(state.run_id).state.type == "COMPLETED"


def test_runs_listings_leave_standalone_task_runs_out() -> None:
    @task
    def alone() -> int:
        return 1

    @legato.flow(name="beside")
    def beside() -> int:
        return alone()  # type: ignore[no-any-return]

    state = alone(return_state=True)
    beside()
    listed = cli("runs", "ls", "--json")
    assert listed.exit_code == 0, listed.output
    assert [run["flow_name"] for run in json.loads(listed.stdout)] == ["beside"]
    assert [r.flow_name for r in legato.get_client().read_flow_runs()] == ["beside"]
    shown = cli("runs", "show", json.loads(listed.stdout)[0]["id"], "--json")
    assert shown.exit_code == 0, shown.output
    assert _stored(state.run_id).flow_run_id is None
