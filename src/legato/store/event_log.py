"""The store's events as one object: ``store.events``.

Writes and reads go through :mod:`legato.store.events`; what this adds is a counter
that moves the moment this process stores an event or a state change, which the live
stream watches (other processes' writes are found by polling).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from legato.event_rules.state_events import NewEvent
from legato.schemas.events import EventCursor, EventFilter, EventIn, EventRecord
from legato.store import events as queries

if TYPE_CHECKING:
    from legato.store.database import Database
    from legato.store.state_door import StateChanges


def new_event(event: EventIn, *, now: float) -> NewEvent:
    """An event a client sent, ready to store: its id and time filled in if it left
    them out."""
    occurred = event.occurred.timestamp() if event.occurred is not None else now
    return NewEvent(
        id=str(event.id or uuid.uuid4()),
        event=event.event,
        occurred=occurred,
        resource=dict(event.resource),
        related=[dict(labels) for labels in event.related],
        payload=dict(event.payload),
    )


class EventLog:
    """Events of one database, for one process (thread-safe)."""

    def __init__(self, db: Database):
        self.db = db
        self._changed = threading.Condition()
        self._generation = 0
        db.state_listeners.append(self._on_state_changes)

    # -- waking ------------------------------------------------------------------

    def _on_state_changes(self, changes: StateChanges) -> None:
        self.poke()

    def poke(self) -> None:
        """Something new may be there: wake whoever waits."""
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def generation(self) -> int:
        with self._changed:
            return self._generation

    def wait(self, seen_generation: int, timeout: float) -> int:
        """Wait until poked after ``seen_generation`` (or ``timeout``); the generation now."""
        with self._changed:
            if self._generation == seen_generation:
                self._changed.wait(timeout)
            return self._generation

    # -- writing -----------------------------------------------------------------

    def emit(self, sent: Sequence[EventIn]) -> tuple[int, int]:
        """Store what a client sent (already validated); (stored, already stored)."""
        now = time.time()
        new = [new_event(event, now=now) for event in sent]
        with self.db.writing() as conn:
            seqs = queries.insert_events(conn, new, received=now)
        if seqs:
            self.poke()
        return len(seqs), len(new) - len(seqs)

    def emit_new(self, new: Sequence[NewEvent]) -> int:
        """Store events legato made itself (a deployment paused, a worker gone)."""
        with self.db.writing() as conn:
            seqs = queries.insert_events(conn, new)
        if seqs:
            self.poke()
        return len(seqs)

    def prune(self, *, before: float, batch: int = 5000) -> int:
        """Delete events that occurred before ``before``, a batch per transaction."""
        deleted = 0
        while True:
            with self.db.writing() as conn:
                gone = queries.delete_events_before(conn, before, limit=batch)
            deleted += gone
            if gone < batch:
                return deleted

    # -- reading -----------------------------------------------------------------

    def read(
        self, filt: EventFilter, *, limit: int, state_horizon: int | None = None
    ) -> tuple[list[EventRecord], EventCursor, bool]:
        """A page of events, the place reached, whether more may follow (see
        :func:`legato.store.events.read_events`)."""
        with self.db.reading() as conn:
            return queries.read_events(conn, filt, limit=limit, state_horizon=state_horizon)

    def latest_cursor(self) -> EventCursor:
        with self.db.reading() as conn:
            return queries.latest_cursor(conn)
