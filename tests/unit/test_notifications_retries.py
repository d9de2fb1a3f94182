"""Which failed deliveries are tried again, and after how long (a table)."""

from __future__ import annotations

import pytest

from legato.notifications import DEFAULT_POLICY, RetryPolicy
from legato.notifications.retries import http_status_retryable, smtp_code_retryable


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (408, True),
        (429, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (410, False),
        (413, False),
        (302, False),
    ],
)
def test_http_status_retryable(status: int, retryable: bool) -> None:
    assert http_status_retryable(status) is retryable


@pytest.mark.parametrize(
    ("code", "retryable"), [(421, True), (450, True), (451, True), (535, False), (550, False)]
)
def test_smtp_code_retryable(code: int, retryable: bool) -> None:
    assert smtp_code_retryable(code) is retryable


def test_default_policy_waits_half_a_second_doubling_for_five_tries() -> None:
    delays = [DEFAULT_POLICY.delay_after(n) for n in range(1, 6)]
    assert delays == [0.5, 1.0, 2.0, 4.0, None]


def test_waits_are_capped() -> None:
    policy = RetryPolicy(attempts=8, first_delay=1.0, factor=3.0, max_delay=10.0)
    assert [policy.delay_after(n) for n in range(1, 9)] == [1, 3, 9, 10, 10, 10, 10, None]


def test_one_attempt_never_waits() -> None:
    assert RetryPolicy(attempts=1).delay_after(1) is None
