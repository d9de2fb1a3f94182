"""Async flows and tasks: awaited calls, submits from sync flows, all tracked like sync ones."""

from __future__ import annotations

import asyncio

import legato
from fixtures.scripts import state_names
from legato import flow, task


def test_async_flow_awaits_async_tasks_when_called_with_await() -> None:
    @task
    async def fetch(x: int) -> int:
        await asyncio.sleep(0.01)
        return x + 1

    @flow
    async def gathering(n: int) -> list[int]:
        first = await fetch(n)
        second = await fetch(first)
        return [first, second]

    state = asyncio.run(gathering(1, return_state=True))
    client = legato.get_client()
    runs = {t.name: t for t in client.read_task_runs(state.run_id)}

    assert state.result() == [2, 3]
    assert sorted(runs) == ["fetch-0", "fetch-1"]
    assert all(t.state.name == "Completed" for t in runs.values())
    assert state_names(runs["fetch-0"].id) == ["Pending", "Running", "Completed"]
    assert client.read_flow_run(state.run_id).state.name == "Completed"
    assert client.read_flow_run(state.run_id).parameters == {"n": 1}


def test_async_flow_returns_value_when_awaited_without_return_state() -> None:
    @flow
    async def simple() -> str:
        await asyncio.sleep(0)
        return "async value"

    assert asyncio.run(simple()) == "async value"


def test_async_tasks_run_concurrently_when_gathered_in_async_flow() -> None:
    @flow
    async def gathered() -> list[bool]:
        events = {"a": asyncio.Event(), "b": asyncio.Event()}

        @task
        async def meet(me: str, other: str) -> bool:
            events[me].set()
            try:
                await asyncio.wait_for(events[other].wait(), timeout=5)
            except TimeoutError:
                return False
            return True

        return list(await asyncio.gather(meet("a", "b"), meet("b", "a")))

    state = asyncio.run(gathered(return_state=True))

    assert state.result() == [True, True]
    assert len(legato.get_client().read_task_runs(state.run_id)) == 2


def test_async_task_runs_when_submitted_from_a_sync_flow() -> None:
    @task
    async def compute(x: int) -> int:
        await asyncio.sleep(0.01)
        return x * 3

    @flow
    def sync_host() -> int:
        return compute.submit(5).result()

    state = sync_host(return_state=True)
    (task_run,) = legato.get_client().read_task_runs(state.run_id)

    assert state.result() == 15
    assert task_run.state.name == "Completed"
    assert state_names(task_run.id) == ["Pending", "Running", "Completed"]


def test_async_task_failure_fails_async_flow_when_not_caught() -> None:
    @task(retries=1)
    async def broken() -> None:
        raise ValueError("async boom")

    @flow
    async def failing() -> None:
        await broken()

    state = asyncio.run(failing(return_state=True))
    (task_run,) = legato.get_client().read_task_runs(state.run_id)

    assert isinstance(state.exception, ValueError)
    assert task_run.state.name == "Failed"
    assert task_run.run_count == 2
    assert legato.get_client().read_flow_run(state.run_id).state.name == "Failed"


def test_sync_task_runs_when_called_from_an_async_flow() -> None:
    @task
    def plain(x: int) -> int:
        return x - 1

    @flow
    async def mixed() -> int:
        return plain(10)

    assert asyncio.run(mixed()) == 9
