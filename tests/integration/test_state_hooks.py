"""State hooks of flows and tasks, run against the embedded SQLite store: which hook
fires on which state, with what it is told, and that a failing hook is logged and
changes nothing stored or returned."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

import legato
from legato import FlowRunInfo, State, TaskRunInfo, flow, task
from legato.schemas import LogRecord


@dataclass(frozen=True)
class Call:
    """What one hook call was given (and, for a flow, the run's state stored by then)."""

    hook: str
    definition: str
    run_id: str
    run_name: str
    run_count: int
    state: str
    message: str | None
    stored: str | None = None


class Recorder:
    """Hooks that append what they were called with to ``calls``."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def hook(self, label: str, *, read_stored: bool = False) -> Any:
        def record(definition: Any, run: FlowRunInfo | TaskRunInfo, state: State) -> None:
            stored = None
            if read_stored:
                stored = legato.get_client().read_flow_run(run.id).state.name
            self.calls.append(
                Call(
                    label,
                    definition.name,
                    run.id,
                    run.name,
                    run.run_count,
                    state.name,
                    state.message,
                    stored,
                )
            )

        record.__name__ = label
        return record

    def states(self, label: str) -> list[str]:
        return [call.state for call in self.calls if call.hook == label]


def _broken(definition: Any, run: Any, state: State) -> None:
    raise RuntimeError(f"the hook broke on {state.name}")


def _logs(flow_run_id: str) -> list[LogRecord]:
    return legato.get_client().read_logs(flow_run_id)


def _history(run_id: str) -> list[str]:
    return [state.name for state in legato.get_client().read_state_history(run_id)]


# -- flows ------------------------------------------------------------------------------------


def test_flow_hooks_see_running_then_completed_after_the_state_is_stored() -> None:
    seen = Recorder()

    @flow(on_running=[seen.hook("running")], on_completion=[seen.hook("done", read_stored=True)])
    def loads(n: int) -> int:
        return n * 2

    state = loads(21, return_state=True)

    assert state.result() == 42
    assert _history(state.run_id) == ["Pending", "Running", "Completed"]
    running, done = seen.calls
    assert (running.hook, running.state, running.run_id, running.run_count) == (
        "running",
        "Running",
        state.run_id,
        1,
    )
    assert (done.hook, done.definition, done.state, done.stored) == (
        "done",
        "loads",
        "Completed",
        "Completed",
    )
    assert done.run_name == legato.get_client().read_flow_run(state.run_id).name


def test_flow_on_failure_runs_once_on_the_final_failure_and_not_on_retried_attempts() -> None:
    seen = Recorder()

    @flow(
        retries=2,
        on_running=[seen.hook("running")],
        on_failure=[seen.hook("failed", read_stored=True)],
        on_completion=[seen.hook("done")],
    )
    def always_fails() -> None:
        raise ValueError("no rows")

    state = always_fails(return_state=True)

    assert _history(state.run_id) == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "AwaitingRetry",
        "Retrying",
        "Failed",
    ]
    assert seen.states("running") == ["Running", "Retrying", "Retrying"]
    assert [c.run_count for c in seen.calls if c.hook == "running"] == [1, 2, 3]
    (failed,) = [c for c in seen.calls if c.hook == "failed"]
    assert (failed.state, failed.message, failed.stored, failed.run_count) == (
        "Failed",
        "ValueError: no rows",
        "Failed",
        3,
    )
    assert seen.states("done") == []


def test_a_raising_flow_hook_is_logged_and_the_next_hook_and_the_return_value_stand() -> None:
    seen = Recorder()

    @flow(on_completion=[_broken, seen.hook("after")])
    def fine() -> str:
        return "value"

    state = fine(return_state=True)

    assert state.result() == "value"
    assert legato.get_client().read_flow_run(state.run_id).state.name == "Completed"
    assert _history(state.run_id) == ["Pending", "Running", "Completed"]
    assert seen.states("after") == ["Completed"]
    (line,) = [line for line in _logs(state.run_id) if "_broken" in line.message]
    assert line.level == "ERROR"
    assert line.task_run_id is None
    assert "State hook '_broken' (on_completion) failed on flow run" in line.message
    assert "RuntimeError: the hook broke on Completed" in line.message
    assert "Traceback (most recent call last)" in line.message
    assert "raise RuntimeError" in line.message


def test_a_failing_flow_raises_its_own_error_when_its_on_failure_hook_raises() -> None:
    @flow(on_failure=[_broken])
    def failing() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        failing()


def test_flow_hooks_of_a_timed_out_run_are_its_on_failure_hooks() -> None:
    seen = Recorder()

    @flow(timeout_seconds=0.2, on_failure=[seen.hook("failed")])
    def stuck() -> None:
        import time

        time.sleep(30)

    state = stuck(return_state=True)

    assert seen.states("failed") == ["TimedOut"]
    assert legato.get_client().read_flow_run(state.run_id).state.name == "TimedOut"


def test_flow_on_failure_runs_when_its_parameters_do_not_fit() -> None:
    seen = Recorder()

    @flow(on_running=[seen.hook("running")], on_failure=[seen.hook("failed")])
    def typed(n: int) -> int:
        return n

    state = typed("not a number", return_state=True)  # type: ignore[arg-type]

    assert legato.get_client().read_flow_run(state.run_id).state.name == "Failed"
    (failed,) = seen.calls
    assert (failed.hook, failed.state, failed.run_count) == ("failed", "Failed", 0)


def test_flow_on_crashed_runs_when_the_body_is_interrupted() -> None:
    seen = Recorder()

    @flow(on_crashed=[seen.hook("crashed", read_stored=True)], on_failure=[seen.hook("failed")])
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()

    (crashed,) = seen.calls
    assert (crashed.hook, crashed.state, crashed.stored) == ("crashed", "Crashed", "Crashed")
    assert crashed.message == "interrupted (KeyboardInterrupt)"


def test_subflow_hooks_are_told_their_parent_flow_run() -> None:
    parents: list[str | None] = []

    def record_parent(definition: Any, run: FlowRunInfo, state: State) -> None:
        parents.append(None if run.parent_flow_run is None else run.parent_flow_run.id)

    @flow(on_completion=[record_parent])
    def child() -> int:
        return 1

    @flow(on_completion=[record_parent])
    def parent() -> int:
        return child()

    state = parent(return_state=True)

    assert parents == [state.run_id, None]


def test_with_options_and_the_decorator_form_add_flow_hooks() -> None:
    seen = Recorder()

    @flow
    def plain() -> None:
        return None

    hooked = plain.with_options(on_completion=[seen.hook("option")])

    @hooked.on_completion
    def decorated(definition: Any, run: FlowRunInfo, state: State) -> None:
        seen.calls.append(Call("decorated", definition.name, run.id, run.name, 1, state.name, None))

    plain()
    assert seen.calls == []
    hooked()
    assert [call.hook for call in seen.calls] == ["option", "decorated"]


# -- tasks ------------------------------------------------------------------------------------


def test_task_on_failure_runs_once_on_the_final_failure_and_on_running_on_each_attempt() -> None:
    seen = Recorder()

    @task(
        retries=2,
        on_running=[seen.hook("running")],
        on_failure=[seen.hook("failed")],
        on_completion=[seen.hook("done")],
    )
    def flaky() -> None:
        raise ConnectionError("down")

    @flow
    def calls_flaky() -> State:
        return flaky(return_state=True)

    calls_flaky(return_state=True)

    (task_run,) = legato.get_client().read_task_runs(
        legato.get_client().read_flow_runs(limit=1)[0].id
    )
    assert task_run.state.name == "Failed"
    assert seen.states("running") == ["Running", "Retrying", "Retrying"]
    assert [c.run_count for c in seen.calls if c.hook == "running"] == [1, 2, 3]
    (failed,) = [c for c in seen.calls if c.hook == "failed"]
    assert (failed.run_id, failed.run_name, failed.definition, failed.message) == (
        task_run.id,
        task_run.name,
        "flaky",
        "ConnectionError: down",
    )
    assert seen.states("done") == []


def test_task_hooks_run_for_each_mapped_and_submitted_task_run() -> None:
    seen = Recorder()

    @task(on_completion=[seen.hook("done")], on_failure=[seen.hook("failed")])
    def square(x: int) -> int:
        if x == 3:
            raise ValueError("three")
        return x * x

    @flow
    def squares() -> list[State]:
        mapped = square.map([1, 2, 3])
        submitted = square.submit(4)
        return [f.wait() or f.state for f in [*mapped, submitted]]

    state = squares(return_state=True)

    stored = {t.id: t for t in legato.get_client().read_task_runs(state.run_id)}
    assert len(stored) == 4
    assert sorted(c.run_id for c in seen.calls) == sorted(stored)
    for call in seen.calls:
        assert call.run_name == stored[call.run_id].name
        assert call.state == stored[call.run_id].state.name
    assert sorted(seen.states("done")) == ["Completed"] * 3
    assert seen.states("failed") == ["Failed"]


def test_a_raising_task_hook_is_logged_on_the_task_run_and_changes_nothing() -> None:
    seen = Recorder()

    @task(on_completion=[_broken, seen.hook("after")])
    def fine() -> int:
        return 7

    @flow
    def uses_fine() -> int:
        return fine() + 1

    state = uses_fine(return_state=True)

    assert state.result() == 8
    (task_run,) = legato.get_client().read_task_runs(state.run_id)
    assert task_run.state.name == "Completed"
    assert _history(task_run.id) == ["Pending", "Running", "Completed"]
    assert seen.states("after") == ["Completed"]
    (line,) = [line for line in _logs(state.run_id) if "_broken" in line.message]
    assert (line.level, line.task_run_id) == ("ERROR", task_run.id)
    assert f"State hook '_broken' (on_completion) failed on task run '{task_run.name}'" in (
        line.message
    )
    assert "Traceback (most recent call last)" in line.message


def test_task_hooks_see_a_cached_run_as_completed() -> None:
    seen = Recorder()

    @task(cache_key_fn=lambda ctx, params: "fixed", on_completion=[seen.hook("done")])
    def cached() -> int:
        return 5

    @flow
    def twice() -> int:
        return cached() + cached()

    assert twice() == 10
    assert seen.states("done") == ["Completed", "Cached"]


def test_task_on_failure_runs_for_a_task_that_could_not_run_for_its_upstream() -> None:
    seen = Recorder()

    @task
    def broken() -> int:
        raise ValueError("upstream")

    @task(on_running=[seen.hook("running")], on_failure=[seen.hook("failed")])
    def downstream(x: int) -> int:
        return x

    @flow
    def chain() -> None:
        downstream.submit(broken.submit()).wait()

    chain(return_state=True)

    assert seen.states("running") == []
    assert seen.states("failed") == ["UpstreamFailed"]


def test_hooks_of_a_task_called_outside_any_flow_run_too() -> None:
    seen = Recorder()

    @task(on_running=[seen.hook("running")], on_completion=[seen.hook("done")])
    def alone(x: int) -> int:
        return x

    state = alone(3, return_state=True)

    assert state.result() == 3
    assert seen.states("running") == ["Running"]
    assert [c.run_id for c in seen.calls] == [state.run_id, state.run_id]


def test_task_with_options_and_decorator_form_add_hooks() -> None:
    seen = Recorder()

    @task
    def plain() -> int:
        return 1

    hooked = plain.with_options(on_completion=seen.hook("option"))
    hooked.on_running(seen.hook("decorated"))

    @flow
    def both() -> int:
        return plain() + hooked()

    assert both() == 2
    assert [(c.hook, c.state) for c in seen.calls] == [
        ("decorated", "Running"),
        ("option", "Completed"),
    ]


def test_an_interrupt_in_an_on_running_hook_stops_the_task_before_its_body() -> None:
    ran: list[int] = []

    def interrupt(definition: Any, run: Any, state: State) -> None:
        raise KeyboardInterrupt

    @task(on_running=[interrupt])
    def never() -> None:
        ran.append(1)

    @flow
    def stops() -> None:
        never()

    with pytest.raises(KeyboardInterrupt):
        stops()

    flow_run = legato.get_client().read_flow_runs(limit=1)[0]
    (task_run,) = legato.get_client().read_task_runs(flow_run.id)
    assert ran == []
    assert (flow_run.state.name, task_run.state.name) == ("Crashed", "Crashed")


# -- async ------------------------------------------------------------------------------------


def test_async_hooks_are_awaited_on_the_loop_of_an_async_flow_and_its_tasks() -> None:
    loops: dict[str, asyncio.AbstractEventLoop] = {}

    def async_hook(label: str) -> Any:
        async def hook(definition: Any, run: Any, state: State) -> None:
            await asyncio.sleep(0)
            loops[f"{label} {state.name}"] = asyncio.get_running_loop()

        return hook

    @task(on_running=[async_hook("task")], on_completion=[async_hook("task")])
    async def fetch() -> int:
        return 1

    @flow(on_running=[async_hook("flow")], on_completion=[async_hook("flow")])
    async def gather() -> int:
        loops["body"] = asyncio.get_running_loop()
        return await fetch()

    assert asyncio.run(gather()) == 1
    assert sorted(loops) == [
        "body",
        "flow Completed",
        "flow Running",
        "task Completed",
        "task Running",
    ]
    assert len(set(map(id, loops.values()))) == 1


def test_an_async_hook_of_a_sync_flow_runs_to_its_end() -> None:
    done: list[str] = []

    async def hook(definition: Any, run: Any, state: State) -> None:
        await asyncio.sleep(0.01)
        done.append(state.name)

    @task(on_completion=[hook])
    def step() -> int:
        return 1

    @flow(on_completion=[hook])
    def sync_flow() -> int:
        return step()

    assert sync_flow() == 1
    assert done == ["Completed", "Completed"]


def test_a_raising_async_hook_of_an_async_flow_is_logged() -> None:
    async def broken(definition: Any, run: Any, state: State) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("async hook broke")

    @flow(on_failure=[broken])
    async def fails() -> None:
        raise ValueError("body")

    state = asyncio.run(fails(return_state=True))

    assert legato.get_client().read_flow_run(state.run_id).state.name == "Failed"
    (line,) = [line for line in _logs(state.run_id) if "async hook broke" in line.message]
    assert line.message.startswith("State hook 'broken' (on_failure) failed on flow run")
