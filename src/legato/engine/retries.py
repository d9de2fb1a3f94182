"""Retry policy: pure decisions, no clocks and no I/O.

``retry_delay_seconds`` may be a number, a list (one delay per retry; the last one
repeats), or a callable ``retries -> list`` such as :func:`exponential_backoff`.
Jitter stretches each delay by a random fraction up to ``retry_jitter_factor``
so that many failing tasks do not all come back at the same instant.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

RetryDelay = float | int | Sequence[float | int] | Callable[[int], Sequence[float | int]] | None


@dataclass(frozen=True, slots=True)
class RetryDecision:
    retry: bool
    delay: float = 0.0
    reason: str = ""


def exponential_backoff(backoff_factor: float) -> Callable[[int], list[float]]:
    """Delays ``factor, 2*factor, 4*factor, ...`` for use as ``retry_delay_seconds``."""
    if backoff_factor < 0:
        raise ValueError("backoff_factor must be >= 0")

    def delays(retries: int) -> list[float]:
        return [backoff_factor * (2**i) for i in range(max(retries, 1))]

    return delays


def validate_retry_settings(retries: int, delay: RetryDelay, jitter: float | None) -> None:
    """Refuse nonsensical settings when the task or flow is defined, not when it fails."""
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise ValueError(f"retries must be a whole number >= 0, got {retries!r}")
    if jitter is not None and (
        not isinstance(jitter, int | float) or isinstance(jitter, bool) or jitter < 0
    ):
        raise ValueError(f"retry_jitter_factor must be a number >= 0, got {jitter!r}")
    if delay is None or callable(delay):
        return
    values = [delay] if isinstance(delay, int | float) else list(delay)
    for value in values:
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise ValueError(
                f"retry_delay_seconds must be a number >= 0 or a list of them, got {delay!r}"
            )


def delay_for(attempt: int, retries: int, delay: RetryDelay) -> float:
    """The delay before retry number ``attempt`` (1-based)."""
    if delay is None:
        return 0.0
    if callable(delay):
        delay = list(delay(retries))
    if isinstance(delay, int | float):
        return float(delay)
    values = list(delay)
    if not values:
        return 0.0
    return float(values[min(attempt, len(values)) - 1])


def decide_retry(
    *,
    run_count: int,
    retries: int,
    delay: RetryDelay,
    jitter_factor: float | None,
    condition_allows: bool = True,
    rng: Callable[[], float] = random.random,
) -> RetryDecision:
    """Whether a run that just failed on its ``run_count``-th start should start again."""
    if run_count > retries:
        if retries:
            return RetryDecision(False, reason=f"all {retries} retries used")
        return RetryDecision(False, reason="no retries configured")
    if not condition_allows:
        return RetryDecision(False, reason="retry_condition_fn declined to retry")
    seconds = delay_for(run_count, retries, delay)
    if jitter_factor:
        seconds *= 1 + jitter_factor * rng()
    return RetryDecision(True, delay=seconds, reason=f"retry {run_count} of {retries}")
