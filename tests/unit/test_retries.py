"""Retry policy (:mod:`legato.engine.retries`): pure decisions as input -> decision tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from legato import flow, task
from legato.engine.retries import (
    RetryDecision,
    decide_retry,
    delay_for,
    exponential_backoff,
    validate_retry_settings,
)


def fixed(value: float) -> Callable[[], float]:
    return lambda: value


@pytest.mark.parametrize(
    ("run_count", "retries", "delay", "expected"),
    [
        # no retries configured
        (1, 0, None, RetryDecision(False, reason="no retries configured")),
        (1, 0, 10, RetryDecision(False, reason="no retries configured")),
        # a plain number: the same delay for every retry
        (1, 2, None, RetryDecision(True, 0.0, "retry 1 of 2")),
        (1, 2, 5, RetryDecision(True, 5.0, "retry 1 of 2")),
        (2, 2, 5, RetryDecision(True, 5.0, "retry 2 of 2")),
        (3, 2, 5, RetryDecision(False, reason="all 2 retries used")),
        (7, 2, 5, RetryDecision(False, reason="all 2 retries used")),
        (1, 1, 0.25, RetryDecision(True, 0.25, "retry 1 of 1")),
        # a list: one delay per retry, the last one repeats
        (1, 4, [1, 5, 30], RetryDecision(True, 1.0, "retry 1 of 4")),
        (2, 4, [1, 5, 30], RetryDecision(True, 5.0, "retry 2 of 4")),
        (3, 4, [1, 5, 30], RetryDecision(True, 30.0, "retry 3 of 4")),
        (4, 4, [1, 5, 30], RetryDecision(True, 30.0, "retry 4 of 4")),
        (5, 4, [1, 5, 30], RetryDecision(False, reason="all 4 retries used")),
        (2, 3, (2, 4), RetryDecision(True, 4.0, "retry 2 of 3")),
        (1, 3, [], RetryDecision(True, 0.0, "retry 1 of 3")),
        # a callable: exponential backoff
        (1, 3, exponential_backoff(10), RetryDecision(True, 10.0, "retry 1 of 3")),
        (2, 3, exponential_backoff(10), RetryDecision(True, 20.0, "retry 2 of 3")),
        (3, 3, exponential_backoff(10), RetryDecision(True, 40.0, "retry 3 of 3")),
        (4, 3, exponential_backoff(10), RetryDecision(False, reason="all 3 retries used")),
        (2, 5, lambda n: [7] * n, RetryDecision(True, 7.0, "retry 2 of 5")),
    ],
)
def test_decide_retry_table(
    run_count: int, retries: int, delay: Any, expected: RetryDecision
) -> None:
    decision = decide_retry(
        run_count=run_count, retries=retries, delay=delay, jitter_factor=None, rng=fixed(0.9)
    )
    assert decision == expected


def test_decide_retry_when_condition_declines() -> None:
    decision = decide_retry(
        run_count=1, retries=3, delay=10, jitter_factor=None, condition_allows=False
    )
    assert decision == RetryDecision(False, reason="retry_condition_fn declined to retry")


def test_decide_retry_exhausted_wins_over_condition() -> None:
    decision = decide_retry(
        run_count=3, retries=2, delay=10, jitter_factor=None, condition_allows=False
    )
    assert decision.reason == "all 2 retries used"


@pytest.mark.parametrize(
    ("rng_value", "jitter", "expected"),
    [
        (0.0, 0.5, 10.0),
        (0.5, 0.5, 12.5),
        (0.5, 1.0, 15.0),
        (0.25, 2.0, 15.0),
        (0.999, 0.0, 10.0),  # no jitter: rng is ignored
        (0.7, None, 10.0),
    ],
)
def test_decide_retry_jitter_uses_injected_rng(
    rng_value: float, jitter: float | None, expected: float
) -> None:
    decision = decide_retry(
        run_count=1, retries=1, delay=10, jitter_factor=jitter, rng=fixed(rng_value)
    )
    assert decision.retry
    assert decision.delay == pytest.approx(expected)


def test_decide_retry_jitter_not_called_when_no_retry() -> None:
    def rng() -> float:
        raise AssertionError("rng must not be drawn when no retry follows")

    assert not decide_retry(run_count=2, retries=1, delay=10, jitter_factor=0.5, rng=rng).retry


@given(
    delay=st.floats(min_value=0, max_value=1e6),
    jitter=st.floats(min_value=0, max_value=10),
    draw=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_jittered_delay_stays_within_bounds(delay: float, jitter: float, draw: float) -> None:
    decision = decide_retry(
        run_count=1, retries=1, delay=delay, jitter_factor=jitter, rng=fixed(draw)
    )
    assert delay <= decision.delay <= delay * (1 + jitter) + 1e-9


def test_decide_retry_default_rng_stays_within_bounds() -> None:
    for _ in range(200):
        decision = decide_retry(run_count=1, retries=1, delay=4, jitter_factor=0.5)
        assert 4.0 <= decision.delay < 6.0


@pytest.mark.parametrize(
    ("factor", "retries", "expected"),
    [
        (10, 3, [10, 20, 40]),
        (1, 5, [1, 2, 4, 8, 16]),
        (0.5, 2, [0.5, 1.0]),
        (0, 3, [0, 0, 0]),
        (3, 0, [3]),  # always at least one delay
        (3, 1, [3]),
    ],
)
def test_exponential_backoff_values(factor: float, retries: int, expected: list[float]) -> None:
    assert exponential_backoff(factor)(retries) == expected


def test_exponential_backoff_rejects_negative_factor() -> None:
    with pytest.raises(ValueError, match="backoff_factor must be >= 0"):
        exponential_backoff(-1)


@pytest.mark.parametrize(
    ("attempt", "retries", "delay", "expected"),
    [
        (1, 1, None, 0.0),
        (3, 5, 2, 2.0),
        (1, 5, [4], 4.0),
        (9, 5, [4], 4.0),
        (2, 3, [], 0.0),
    ],
)
def test_delay_for(attempt: int, retries: int, delay: Any, expected: float) -> None:
    assert delay_for(attempt, retries, delay) == expected


@pytest.mark.parametrize(
    ("retries", "delay", "jitter"),
    [
        (0, None, None),
        (3, 0, 0),
        (3, 2.5, 0.5),
        (3, [1, 2, 3], 1),
        (3, (1.5,), None),
        (3, [], None),
        (3, exponential_backoff(2), 0.1),
        (10**6, 0, None),
    ],
)
def test_validate_retry_settings_accepts(retries: int, delay: Any, jitter: Any) -> None:
    validate_retry_settings(retries, delay, jitter)


@pytest.mark.parametrize(
    ("retries", "delay", "jitter", "message"),
    [
        (-1, None, None, "retries must be a whole number >= 0, got -1"),
        (True, None, None, "retries must be a whole number >= 0, got True"),
        (1.5, None, None, "retries must be a whole number >= 0, got 1.5"),
        ("3", None, None, "retries must be a whole number >= 0, got '3'"),
        (1, -1, None, "retry_delay_seconds must be a number >= 0 or a list of them, got -1"),
        (1, True, None, "retry_delay_seconds must be a number >= 0 or a list of them, got True"),
        (1, "5", None, "retry_delay_seconds must be a number >= 0 or a list of them, got '5'"),
        (
            1,
            [1, -2],
            None,
            "retry_delay_seconds must be a number >= 0 or a list of them, got [1, -2]",
        ),
        (
            1,
            [1, "2"],
            None,
            "retry_delay_seconds must be a number >= 0 or a list of them, got [1, '2']",
        ),
        (
            1,
            [1, False],
            None,
            "retry_delay_seconds must be a number >= 0 or a list of them, got [1, False]",
        ),
        (
            1,
            [None],
            None,
            "retry_delay_seconds must be a number >= 0 or a list of them, got [None]",
        ),
        (1, 1, -0.1, "retry_jitter_factor must be a number >= 0, got -0.1"),
        (1, 1, "0.1", "retry_jitter_factor must be a number >= 0, got '0.1'"),
    ],
)
def test_validate_retry_settings_rejects(
    retries: Any, delay: Any, jitter: Any, message: str
) -> None:
    with pytest.raises(ValueError) as info:
        validate_retry_settings(retries, delay, jitter)
    assert str(info.value) == message


def test_validate_retry_settings_rejects_bool_jitter() -> None:
    # retries and delays refuse booleans; a boolean jitter factor is as much a mistake.
    with pytest.raises(ValueError, match="retry_jitter_factor"):
        validate_retry_settings(1, 1, True)


def test_task_decorator_refuses_bad_retry_settings_at_definition() -> None:
    with pytest.raises(ValueError, match="retries must be a whole number"):

        @task(retries=-1)
        def bad_task() -> None: ...


def test_flow_decorator_refuses_bad_retry_settings_at_definition() -> None:
    with pytest.raises(ValueError, match="retry_delay_seconds"):

        @flow(retries=1, retry_delay_seconds=[1, -5])
        def bad_flow() -> None: ...
