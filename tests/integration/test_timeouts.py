"""timeout_seconds on tasks and flows: the run ends TimedOut (a Failed type) and is handled
like any failure.

The "< 4 s" bounds below are about correctness, not speed: a body that sleeps 5 s must not
be waited for once its timeout has passed.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

import legato
from fixtures.scripts import Scripts, state_names
from legato import StateType, flow, task
from legato.errors import TaskTimeout
from legato.states import TERMINAL_TYPES


def test_task_ends_timed_out_when_it_runs_past_timeout_seconds() -> None:
    @task(timeout_seconds=0.3)
    def sleepy() -> None:
        time.sleep(5)

    @flow
    def impatient() -> None:
        sleepy()

    started = time.monotonic()
    state = impatient(return_state=True)
    elapsed = time.monotonic() - started
    (task_run,) = legato.get_client().read_task_runs(state.run_id)

    assert elapsed < 4, f"the flow waited {elapsed:.1f}s for a task that timed out after 0.3s"
    assert task_run.state.name == "TimedOut"
    assert task_run.state.type is StateType.FAILED
    assert "timeout" in (task_run.state.message or "").lower()
    assert state_names(task_run.id) == ["Pending", "Running", "TimedOut"]


def test_flow_handles_task_timeout_like_any_failure_when_it_catches_it() -> None:
    @task(timeout_seconds=0.3)
    def sleepy() -> None:
        time.sleep(5)

    @task
    def fallback() -> str:
        return "fallback"

    @flow
    def forgiving() -> str:
        try:
            sleepy()
        except TimeoutError:
            return fallback()
        return "no timeout"

    state = forgiving(return_state=True)
    names = {t.name: t.state.name for t in legato.get_client().read_task_runs(state.run_id)}

    assert state.result() == "fallback"
    assert names == {"sleepy-0": "TimedOut", "fallback-0": "Completed"}
    assert legato.get_client().read_flow_run(state.run_id).state.name == "Completed"


def test_flow_run_fails_when_a_task_times_out_uncaught() -> None:
    @task(timeout_seconds=0.3)
    def sleepy() -> None:
        time.sleep(5)

    @flow
    def unforgiving() -> None:
        sleepy()

    with pytest.raises(TaskTimeout):
        unforgiving()

    (run,) = legato.get_client().read_flow_runs(flow_name="unforgiving")
    assert run.state.type is StateType.FAILED


def test_timed_out_task_is_retried_when_it_has_retries() -> None:
    calls: list[int] = []

    @task(timeout_seconds=0.3, retries=1)
    def slow_first() -> str:
        calls.append(1)
        if len(calls) == 1:
            time.sleep(5)
        return "second try"

    @flow
    def retry_after_timeout() -> str:
        return slow_first()

    started = time.monotonic()
    state = retry_after_timeout(return_state=True)
    elapsed = time.monotonic() - started
    (task_run,) = legato.get_client().read_task_runs(state.run_id)

    assert elapsed < 4
    assert state.result() == "second try"
    assert task_run.run_count == 2
    assert state_names(task_run.id) == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]


def test_flow_ends_timed_out_when_its_body_runs_past_timeout_seconds() -> None:
    @flow(timeout_seconds=0.3)
    def slow_flow() -> None:
        time.sleep(5)

    started = time.monotonic()
    state = slow_flow(return_state=True)
    elapsed = time.monotonic() - started
    record = legato.get_client().read_flow_run(state.run_id)

    assert elapsed < 4
    assert record.state.name == "TimedOut"
    assert record.state.type is StateType.FAILED
    assert state_names(state.run_id) == ["Pending", "Running", "TimedOut"]
    assert isinstance(state.exception, TaskTimeout)


def test_async_task_ends_timed_out_when_it_awaits_past_timeout_seconds() -> None:
    @task(timeout_seconds=0.3)
    async def sleepy() -> None:
        await asyncio.sleep(5)

    @flow
    async def impatient_async() -> None:
        await sleepy()

    started = time.monotonic()
    state = asyncio.run(impatient_async(return_state=True))
    elapsed = time.monotonic() - started
    (task_run,) = legato.get_client().read_task_runs(state.run_id)

    assert elapsed < 4
    assert task_run.state.name == "TimedOut"
    assert task_run.state.type is StateType.FAILED
    assert legato.get_client().read_flow_run(state.run_id).state.type is StateType.FAILED


def test_async_flow_ends_timed_out_when_it_awaits_past_timeout_seconds() -> None:
    @flow(timeout_seconds=0.3)
    async def slow_async_flow() -> None:
        await asyncio.sleep(5)

    started = time.monotonic()
    state = asyncio.run(slow_async_flow(return_state=True))
    elapsed = time.monotonic() - started

    assert elapsed < 4
    assert legato.get_client().read_flow_run(state.run_id).state.name == "TimedOut"


def test_submitted_task_ends_timed_out_when_it_runs_past_timeout_seconds() -> None:
    @task(timeout_seconds=0.3)
    def sleepy() -> None:
        time.sleep(5)

    @flow
    def submitting() -> str:
        future = sleepy.submit()
        future.result(raise_on_failure=False)  # look at the failure: the flow may complete
        return future.state.name

    started = time.monotonic()
    state = submitting(return_state=True)
    elapsed = time.monotonic() - started

    assert elapsed < 4
    assert state.result() == "TimedOut"
    (task_run,) = legato.get_client().read_task_runs(state.run_id)
    assert task_run.state.name == "TimedOut"


FLOW_TIMEOUT_SCRIPT = """
import json
import time

from legato import flow, task


@task
def slow():
    time.sleep(3)


@flow(timeout_seconds=0.3)
def bounded():
    slow()


if __name__ == "__main__":
    state = bounded(return_state=True)
    print(json.dumps({"flow_run_id": state.run_id, "state": state.name}))
"""


def test_running_task_does_not_stay_running_when_its_flow_times_out_and_process_exits(
    scripts: Scripts,
) -> None:
    path = scripts.write("bounded.py", FLOW_TIMEOUT_SCRIPT)
    done = scripts.run(path)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    (task_run,) = legato.get_client().read_task_runs(outcome["flow_run_id"])

    assert outcome["state"] == "TimedOut"
    assert task_run.state.type in TERMINAL_TYPES, (
        f"task run {task_run.name} is still {task_run.state.name} after its flow run timed "
        "out and the process exited"
    )
