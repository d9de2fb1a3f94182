"""How far the projection of state changes into events may move its cursor.

State changes are read in ``state_history.id`` order after the cursor. On SQLite ids
are handed out and committed in one order (one writer at a time). On PostgreSQL a
transaction can take id 10, and commit after another one took 11 and committed: a
reader at that moment sees 11 and not 10. If the cursor went past 10 then, its change
would never become an event. So the cursor only moves over ids it has seen, up to the
first gap; a gap is waited for (its later rows are made events meanwhile, idempotently)
until it is older than ``gap_wait`` seconds, after which it is taken for a rolled-back
transaction, or rows deleted with their run, and passed.
"""

from __future__ import annotations

from collections.abc import Iterable


def advance(
    cursor: int,
    seen_ids: Iterable[int],
    gaps_first_seen: dict[int, float],
    *,
    now: float,
    gap_wait: float,
) -> int:
    """The new cursor after reading ``seen_ids`` (ascending, all > ``cursor``).

    ``gaps_first_seen`` (gap id -> when first seen) is updated in place: gaps behind
    the new cursor are forgotten, new ones are remembered from ``now``."""
    position = cursor
    for seen in seen_ids:
        if seen > position + 1:
            # A gap, known by its first missing id; waited for as a whole.
            first = gaps_first_seen.setdefault(position + 1, now)
            if now - first < gap_wait:
                break
        position = seen
    for gap in [g for g in gaps_first_seen if g <= position]:
        del gaps_first_seen[gap]
    return position
