"""Tags added to every run made inside a ``with legato.tags(...)`` block (as in Prefect):
the task runs and subflow runs created there carry them beside their own, and tag
concurrency limits apply to them too.

The block's tags live in a context variable, read where a run is made (in the caller's
thread or task), so a run submitted inside the block keeps them wherever it executes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar

_block_tags: ContextVar[tuple[str, ...]] = ContextVar("legato_block_tags", default=())


@contextlib.contextmanager
def tags(*names: str) -> Iterator[tuple[str, ...]]:
    """Add ``names`` to the runs made inside the block; yields all the block's tags
    (nested blocks add up)."""
    for name in names:
        if not isinstance(name, str) or not name or "\x00" in name:
            raise TypeError(f"tags(...) takes non-empty strings, not {name!r}")
    merged = tuple(sorted(set(_block_tags.get()) | set(names)))
    token = _block_tags.set(merged)
    try:
        yield merged
    finally:
        _block_tags.reset(token)


def with_block_tags(own: Sequence[str]) -> Sequence[str]:
    """A run's tags: its own, plus those of the ``tags`` blocks around the call (the
    same object when there are none: the common case costs one lookup)."""
    extra = _block_tags.get()
    if not extra:
        return own
    return sorted(set(own) | set(extra))


def block_tags() -> Iterable[str]:
    return _block_tags.get()
