"""The event service: events older than the retention deleted.

Every ``prune_every`` seconds, stored events that occurred more than ``retention``
seconds ago are deleted, a batch per transaction. (A run's state events are its state
history, kept as long as the run is: see :mod:`legato.store.events`.)
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from legato.settings import Settings
    from legato.store import Store

logger = logging.getLogger("legato.events")


@dataclass(frozen=True)
class EventServiceConfig:
    poll: float = 1.0
    retention: float = 7 * 24 * 3600.0
    prune_every: float = 600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> EventServiceConfig:
        return cls(retention=settings.events_retention_days * 24 * 3600.0)


class EventService:
    """Runs the pruning on one daemon thread."""

    def __init__(self, store: Store, config: EventServiceConfig | None = None):
        self.store = store
        self.config = config or EventServiceConfig()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_prune = 0.0

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="legato-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None

    def run_once(self, now: float | None = None) -> int:
        """One pass: prune if it is time; how many events were deleted."""
        now = time.time() if now is None else now
        if now - self._last_prune < self.config.prune_every:
            return 0
        self._last_prune = now
        deleted = self.store.events.prune(before=now - self.config.retention)
        if deleted:
            logger.info("events: deleted %d events older than the retention", deleted)
        return deleted

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                logger.exception("events: the pass failed; trying again")
            self._stop.wait(self.config.poll)
