"""Dead workers and crashed runs (:mod:`legato.orchestration.crashes`): stale, still held,
whether a crash is retried, and the states a crash writes."""

from __future__ import annotations

import pytest

from legato.orchestration.crashes import (
    HeldRun,
    is_held,
    is_stale,
    plan_crash,
    should_retry_crash,
    stale_before,
    still_held,
)
from legato.states import StateType

S = StateType
NOW = 1_900_000_000.0


def held(
    state_type: StateType = S.RUNNING, worker: str | None = "w1", beat: float | None = NOW - 100
) -> HeldRun:
    return HeldRun(state_type, worker, beat)


@pytest.mark.parametrize(
    ("run", "expected"),
    [
        (held(S.PENDING), True),
        (held(S.RUNNING), True),
        (held(S.CANCELLING), True),
        (held(S.SCHEDULED), True),  # an in-process retry's wait, still held by its worker
        (held(S.SCHEDULED, worker=None), False),  # waiting for any worker
        (held(S.RUNNING, worker=None), True),  # a local run: held by its own process
        (held(S.COMPLETED), False),
        (held(S.CRASHED), False),
        (held(S.PAUSED), False),
    ],
)
def test_is_held_table(run: HeldRun, expected: bool) -> None:
    assert is_held(run) is expected


@pytest.mark.parametrize(
    ("run", "stale"),
    [
        (held(beat=NOW - 100), True),
        (held(beat=NOW - 30), False),  # exactly at the cut-off
        (held(beat=NOW), False),
        (held(beat=None), False),  # never heartbeated: not a worker's run
        (held(worker=None), False),
        (held(S.SCHEDULED), True),
        (held(S.COMPLETED), False),
        (held(S.FAILED), False),
    ],
)
def test_is_stale_table(run: HeldRun, stale: bool) -> None:
    assert is_stale(run, before=stale_before(NOW, 30.0)) is stale


@pytest.mark.parametrize(
    ("run", "worker_name", "before", "expected"),
    [
        (held(), None, None, True),
        (held(), "w1", None, True),
        (held(), "w2", None, False),  # another worker holds it now
        (held(beat=NOW - 100), "w1", NOW - 30, True),
        (held(beat=NOW - 10), "w1", NOW - 30, False),  # it heartbeated meanwhile
        (held(beat=None), "w1", NOW - 30, False),
        (held(S.COMPLETED), None, None, False),  # it finished meanwhile
        (held(S.SCHEDULED, worker=None), None, None, False),  # given back meanwhile
    ],
)
def test_still_held_table(
    run: HeldRun, worker_name: str | None, before: float | None, expected: bool
) -> None:
    assert still_held(run, worker_name=worker_name, stale_before=before) is expected


@pytest.mark.parametrize(
    ("crashes", "retries", "retry"),
    [(1, 0, False), (1, 1, True), (2, 1, False), (2, 2, True), (3, 2, False), (1, 5, True)],
)
def test_should_retry_crash_table(crashes: int, retries: int, retry: bool) -> None:
    assert should_retry_crash(crashes, retries) is retry


@pytest.mark.parametrize(
    ("current", "crashes_before", "retries", "outcome", "names", "crashes"),
    [
        (S.RUNNING, 0, 0, "Crashed", ["Crashed"], 1),
        (S.PENDING, 0, 0, "Crashed", ["Crashed"], 1),
        (S.RUNNING, 0, 1, "AwaitingRetry", ["Crashed", "AwaitingRetry"], 1),
        (S.RUNNING, 1, 1, "Crashed", ["Crashed"], 2),
        (S.RUNNING, 1, 3, "AwaitingRetry", ["Crashed", "AwaitingRetry"], 2),
        (S.SCHEDULED, 0, 2, "AwaitingRetry", ["Crashed", "AwaitingRetry"], 1),
        (S.CANCELLING, 0, 3, "Cancelled", ["Cancelled"], 0),  # a cancel carried out: no retry
        (S.CANCELLING, 5, 0, "Cancelled", ["Cancelled"], 0),
    ],
)
def test_plan_crash_table(
    current: StateType,
    crashes_before: int,
    retries: int,
    outcome: str,
    names: list[str],
    crashes: int,
) -> None:
    plan = plan_crash(
        current, "worker w1 went quiet", crashes_before=crashes_before, retries=retries, now=NOW
    )
    assert plan.outcome == outcome
    assert [step.state.name for step in plan.steps] == names
    assert plan.crashes == crashes
    assert all(step.state.timestamp == NOW for step in plan.steps)


def test_a_retried_crash_is_due_now_held_by_nobody_and_says_which_retry() -> None:
    plan = plan_crash(S.RUNNING, "worker w1 went quiet", crashes_before=1, retries=3, now=NOW)
    crashed, retry = plan.steps
    assert crashed.state.message == "worker w1 went quiet"
    assert dict(crashed.fields) == {"end_time": NOW}
    assert not crashed.rerun
    assert retry.rerun  # out of Crashed, a terminal state
    assert (retry.state.type, retry.state.scheduled_time) == (S.SCHEDULED, NOW)
    assert retry.state.message == "crashed (worker w1 went quiet); retry 2 of 3"
    assert plan.message == retry.state.message
    assert dict(retry.fields) == {
        "expected_start_time": NOW,
        "worker_name": None,
        "heartbeat": None,
        "end_time": None,
    }


def test_a_cancelling_run_that_crashes_ends_cancelled_saying_why() -> None:
    plan = plan_crash(S.CANCELLING, "worker w1 went quiet", crashes_before=0, retries=0, now=NOW)
    (step,) = plan.steps
    assert (step.state.type, step.state.message) == (S.CANCELLED, "cancelled: worker w1 went quiet")
    assert plan.message == "cancelled: worker w1 went quiet"
