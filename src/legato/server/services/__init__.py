"""Background services the server hosts beside its API: the scheduler (the one of
:mod:`legato.services`, waking workers as it makes runs), the reaper, the local worker.

A service is anything with ``start()`` and ``stop()``: the app's lifespan starts each
when the server starts and stops them, in reverse order, before the store's writer is
flushed on shutdown.
"""

from __future__ import annotations

from typing import Protocol


class Service(Protocol):
    def start(self) -> None:
        """Begin working in the background; returns at once."""

    def stop(self) -> None:
        """Finish the current pass and end; returns once the service is idle."""


__all__ = ["Service"]
