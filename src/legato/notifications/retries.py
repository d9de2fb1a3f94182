"""When a failed try at a delivery is worth another, and how long to wait first (pure).

A timeout, a refused or dropped connection and a 5xx may pass: they are retried with
exponential backoff. A 4xx says the request itself is wrong (a revoked webhook, a
malformed body) and is not retried, except 408 (the receiver timed out reading it) and
429 (too many requests), which say "later". SMTP says the same with its codes: 4xx
transient, 5xx permanent.
"""

from __future__ import annotations

from dataclasses import dataclass

RETRY_LATER_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``attempts`` tries; the wait before try n+1 is ``first_delay * factor**(n-1)``
    seconds, at most ``max_delay``."""

    attempts: int = 5
    first_delay: float = 0.5
    factor: float = 2.0
    max_delay: float = 8.0

    def delay_after(self, attempt: int) -> float | None:
        """Seconds to wait after failed try number ``attempt`` (1-based) before the next;
        None when it was the last."""
        if attempt >= self.attempts:
            return None
        return min(self.first_delay * self.factor ** (attempt - 1), self.max_delay)


DEFAULT_POLICY = RetryPolicy()


def http_status_retryable(status: int) -> bool:
    """Whether an HTTP error answer may be met by another try."""
    return status >= 500 or status in RETRY_LATER_STATUSES


def smtp_code_retryable(code: int) -> bool:
    """Whether an SMTP error reply is transient (4xx) rather than permanent (5xx)."""
    return 400 <= code < 500
