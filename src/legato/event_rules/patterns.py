"""Patterns with ``*`` wildcards, as filters and triggers write them: ``legato.flow-run.*``,
``legato.deployment.*``, ``*.Failed``. Only ``*`` is special (any run of characters,
including none); everything else matches itself, so a resource id holding ``?`` or ``[``
needs no escaping.

Matching walks the value once per literal part (``str.find``), never backtracks: a
client-supplied pattern cannot make the server spin.
"""

from __future__ import annotations

from functools import lru_cache

MAX_WILDCARDS = 16


class PatternError(ValueError):
    """A pattern legato will not match with (too many wildcards)."""


@lru_cache(maxsize=4096)
def _parts(pattern: str) -> tuple[str, ...]:
    parts = tuple(pattern.split("*"))
    if len(parts) - 1 > MAX_WILDCARDS:
        raise PatternError(
            f"the pattern {pattern[:80]!r} has {len(parts) - 1} wildcards; "
            f"at most {MAX_WILDCARDS} are allowed"
        )
    return parts


def check_pattern(pattern: str) -> str:
    """``pattern`` itself, or PatternError saying why it cannot be used."""
    _parts(pattern)
    return pattern


def matches(pattern: str, value: str) -> bool:
    """Whether ``value`` matches ``pattern`` (``*``: any characters)."""
    parts = _parts(pattern)
    if len(parts) == 1:
        return value == pattern
    first, *middle, last = parts
    if len(value) < len(first) + len(last):
        return False
    if not value.startswith(first) or not value.endswith(last):
        return False
    at = len(first)
    end = len(value) - len(last)
    for part in middle:
        found = value.find(part, at, end)
        if found < 0:
            return False
        at = found + len(part)
    return True


def literal_prefix(pattern: str) -> str:
    """The text every match starts with (before the first ``*``): what an index can
    narrow by before the pattern is checked."""
    return pattern.split("*", 1)[0]


def is_literal(pattern: str) -> bool:
    return "*" not in pattern


def matches_any(patterns: tuple[str, ...] | list[str], value: str) -> bool:
    return any(matches(pattern, value) for pattern in patterns)
