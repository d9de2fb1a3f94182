"""At most one message per key per N seconds; the ones held back are counted in the next.

An automation that fires fifty times in a minute (fifty failed runs of one deployment)
should not send fifty messages. The automation executor keeps one :class:`Cooldown` and
asks it before each notification, keyed by automation (or by automation and channel):
the first message goes out, the others within ``seconds`` are suppressed and counted, and
the next one that goes out says "and 7 more since 09:00". Pure: the caller passes the
time; nothing is stored, so a restart forgets the counts (it never holds a message back
longer than ``seconds``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(frozen=True)
class CooldownDecision:
    """Whether to send now, and how many were held back since ``since`` (the time of
    the first one held back) that the message should mention."""

    send: bool
    suppressed: int = 0
    since: float | None = None

    def note(self) -> str | None:
        """``and 7 more since 09:00 UTC`` when some were held back, else None."""
        if not self.send or not self.suppressed or self.since is None:
            return None
        when = datetime.fromtimestamp(self.since, UTC)
        return f"and {self.suppressed} more since {when:%H:%M} UTC"


@dataclass
class _Key:
    last_sent: float
    suppressed: int = 0
    first_suppressed: float | None = None


@dataclass
class Cooldown:
    """Per-key cooldown of ``seconds`` (0: never hold back). Not thread-safe: one caller."""

    seconds: float
    _keys: dict[str, _Key] = field(default_factory=dict)

    def decide(self, key: str, now: float) -> CooldownDecision:
        """Call once per message that would be sent; send it only if ``send``."""
        state = self._keys.get(key)
        if state is None or self.seconds <= 0 or now - state.last_sent >= self.seconds:
            suppressed = 0 if state is None else state.suppressed
            since = None if state is None else state.first_suppressed
            self._keys[key] = _Key(last_sent=now)
            return CooldownDecision(send=True, suppressed=suppressed, since=since)
        state.suppressed += 1
        if state.first_suppressed is None:
            state.first_suppressed = now
        return CooldownDecision(
            send=False, suppressed=state.suppressed, since=state.first_suppressed
        )

    def forget_before(self, before: float) -> None:
        """Drop keys last sent before ``before`` with nothing held back (bounded memory)."""
        for key in [k for k, s in self._keys.items() if s.last_sent < before and not s.suppressed]:
            del self._keys[key]
