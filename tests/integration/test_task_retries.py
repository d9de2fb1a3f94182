"""Task retries, read back from the stored state history: counts, delays, jitter, conditions."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import pytest

import legato
from fixtures.scripts import seconds
from legato import exponential_backoff, flow, task
from legato.schemas import StateRecord, TaskRunRecord

TOLERANCE_EARLY = 0.05  # a retry may start this much before its delay is up (clock rounding)
TOLERANCE_LATE = 1.0  # and this much after (a busy 2-core machine); correctness, not speed


def _only_task_run(flow_run_id: str) -> TaskRunRecord:
    (task_run,) = legato.get_client().read_task_runs(flow_run_id)
    return task_run


def approx(value: float) -> object:
    return pytest.approx(value, abs=1e-3)  # stored timestamps keep microseconds


def _retry_gaps(history: list[StateRecord]) -> list[float]:
    """Seconds from each AwaitingRetry to the Retrying that follows it."""
    gaps = []
    for state, after in pairwise(history):
        if state.name == "AwaitingRetry":
            assert after.name == "Retrying"
            gaps.append(seconds(after) - seconds(state))
    return gaps


def _scheduled_delays(history: list[StateRecord]) -> list[float]:
    """The delay each AwaitingRetry state announced (scheduled_time - timestamp)."""
    delays = []
    for state in history:
        if state.name == "AwaitingRetry":
            assert state.scheduled_time is not None
            delays.append(state.scheduled_time.timestamp() - seconds(state))
    return delays


def _failing_times(times: int) -> tuple[list[int], Callable[[], str]]:
    calls: list[int] = []

    def body() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise ConnectionError(f"attempt {len(calls)} failed")
        return "ok"

    return calls, body


def test_task_ends_completed_with_run_count_3_when_it_fails_twice_with_retries_2() -> None:
    calls, body = _failing_times(2)
    flaky = task(retries=2)(body)

    @flow
    def retrying() -> str:
        return flaky()

    state = retrying(return_state=True)
    task_run = _only_task_run(state.run_id)
    history = [s.name for s in legato.get_client().read_state_history(task_run.id)]

    assert state.result() == "ok"
    assert len(calls) == 3
    assert task_run.state.name == "Completed"
    assert task_run.run_count == 3
    assert history == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]


def test_task_ends_failed_when_retries_are_used_up() -> None:
    calls, body = _failing_times(5)
    flaky = task(retries=1)(body)

    @flow
    def exhausting() -> None:
        flaky()

    state = exhausting(return_state=True)
    task_run = _only_task_run(state.run_id)

    assert len(calls) == 2
    assert isinstance(state.exception, ConnectionError)
    assert task_run.state.name == "Failed"
    assert task_run.run_count == 2
    assert "attempt 2 failed" in (task_run.state.message or "")


def test_retry_waits_delay_when_retry_delay_seconds_is_a_number() -> None:
    _calls, body = _failing_times(1)
    flaky = task(retries=1, retry_delay_seconds=0.4)(body)

    @flow
    def delayed() -> None:
        flaky()

    state = delayed(return_state=True)
    history = legato.get_client().read_state_history(_only_task_run(state.run_id).id)
    (gap,) = _retry_gaps(history)

    assert 0.4 - TOLERANCE_EARLY <= gap < 0.4 + TOLERANCE_LATE
    assert _scheduled_delays(history) == [approx(0.4)]


def test_retries_wait_each_listed_delay_when_retry_delay_seconds_is_a_list() -> None:
    _calls, body = _failing_times(3)
    flaky = task(retries=3, retry_delay_seconds=[0.1, 0.5])(body)

    @flow
    def delayed_list() -> None:
        flaky()

    state = delayed_list(return_state=True)
    history = legato.get_client().read_state_history(_only_task_run(state.run_id).id)
    gaps = _retry_gaps(history)

    # One delay per retry; the last one repeats for the retries beyond the list.
    expected = [0.1, 0.5, 0.5]
    assert len(gaps) == len(expected)
    for gap, delay in zip(gaps, expected, strict=True):
        assert delay - TOLERANCE_EARLY <= gap < delay + TOLERANCE_LATE
    assert _scheduled_delays(history) == [approx(d) for d in expected]


def test_retry_delays_stay_within_jitter_bounds_when_retry_jitter_factor_is_set() -> None:
    _calls, body = _failing_times(4)
    flaky = task(retries=4, retry_delay_seconds=0.1, retry_jitter_factor=1.0)(body)

    @flow
    def jittered() -> None:
        flaky()

    state = jittered(return_state=True)
    history = legato.get_client().read_state_history(_only_task_run(state.run_id).id)
    delays = _scheduled_delays(history)
    gaps = _retry_gaps(history)

    assert len(delays) == 4
    # delay * (1 + factor * U[0, 1)): between 0.1 and 0.2 seconds.
    assert all(0.1 - 1e-3 <= d <= 0.2 + 1e-3 for d in delays), delays
    assert any(d > 0.1 + 1e-4 for d in delays), f"no jitter was applied: {delays}"
    for gap, delay in zip(gaps, delays, strict=True):
        assert delay - TOLERANCE_EARLY <= gap < delay + TOLERANCE_LATE


def test_retries_stop_when_retry_condition_fn_returns_false() -> None:
    seen: list[tuple[str, str]] = []

    def only_connection_errors(task_obj: object, task_run: object, state: legato.State) -> bool:
        seen.append((type(state.exception).__name__, state.name))
        return isinstance(state.exception, ConnectionError)

    calls: list[int] = []

    @task(retries=3, retry_condition_fn=only_connection_errors)
    def picky() -> None:
        calls.append(1)
        raise ValueError("not worth retrying")

    @flow
    def conditional() -> None:
        picky()

    state = conditional(return_state=True)
    task_run = _only_task_run(state.run_id)
    history = [s.name for s in legato.get_client().read_state_history(task_run.id)]

    assert len(calls) == 1
    assert seen == [("ValueError", "Failed")]
    assert history == ["Pending", "Running", "Failed"]
    assert task_run.run_count == 1
    assert state.type is legato.StateType.FAILED


def test_retries_continue_when_retry_condition_fn_returns_true() -> None:
    calls, body = _failing_times(1)
    flaky = task(retries=2, retry_condition_fn=lambda t, r, s: True)(body)

    @flow
    def allowed() -> str:
        return flaky()

    state = allowed(return_state=True)

    assert state.result() == "ok"
    assert len(calls) == 2
    assert _only_task_run(state.run_id).run_count == 2


def test_retry_delays_double_when_exponential_backoff_is_used() -> None:
    _calls, body = _failing_times(3)
    flaky = task(retries=3, retry_delay_seconds=exponential_backoff(0.1))(body)

    @flow
    def backing_off() -> None:
        flaky()

    state = backing_off(return_state=True)
    history = legato.get_client().read_state_history(_only_task_run(state.run_id).id)
    gaps = _retry_gaps(history)

    expected = [0.1, 0.2, 0.4]
    assert _scheduled_delays(history) == [approx(d) for d in expected]
    for gap, delay in zip(gaps, expected, strict=True):
        assert delay - TOLERANCE_EARLY <= gap < delay + TOLERANCE_LATE


def test_retry_messages_are_stored_when_a_task_is_retried() -> None:
    _calls, body = _failing_times(1)
    flaky = task(retries=1)(body)

    @flow
    def noted() -> None:
        flaky()

    state = noted(return_state=True)
    history = legato.get_client().read_state_history(_only_task_run(state.run_id).id)
    awaiting = next(s for s in history if s.name == "AwaitingRetry")

    assert "ConnectionError: attempt 1 failed" in (awaiting.message or "")
    assert awaiting.type is legato.StateType.SCHEDULED
