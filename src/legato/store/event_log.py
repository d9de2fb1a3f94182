"""The store's events as one object: ``store.events``.

Writes and reads go through :mod:`legato.store.events`; what this adds is the state
a process keeps about them: the gaps the projection is waiting on, and a condition
the live stream and the event service wait on, woken the moment this process stores
an event or a state change (other processes' writes are found by polling).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from legato.event_rules.state_events import NewEvent
from legato.schemas.events import EventFilter, EventIn, EventRecord
from legato.store import events as queries

if TYPE_CHECKING:
    from legato.store.database import Database
    from legato.store.state_door import StateChanges

GAP_WAIT_POSTGRES = 10.0
"""How long the projection waits on a missing state-change id before passing it (see
:mod:`legato.event_rules.projection`); SQLite never needs to."""


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
        self._gaps: dict[int, float] = {}
        self._gap_wait = GAP_WAIT_POSTGRES if db.engine.dialect.name == "postgresql" else 0.0
        self._project_lock = threading.Lock()
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

    def project(self, *, max_steps: int = 1000) -> int:
        """Make every stored state change not yet an event one; how many were made.
        One transaction per step of :data:`queries.PROJECTION_BATCH` changes."""
        made = 0
        with self._project_lock:
            with self.db.reading() as conn:
                if not queries.states_waiting(conn):
                    return 0
            for _ in range(max_steps):
                with self.db.writing() as conn:
                    stored, more = queries.project_states(conn, self._gaps, gap_wait=self._gap_wait)
                made += stored
                if not more:
                    break
        if made:
            self.poke()
        return made

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
        self, filt: EventFilter, *, limit: int, project: bool = True
    ) -> tuple[list[EventRecord], int | None, bool]:
        """A page of events (state changes made events first, so a read right after a
        run sees its states), the seq of the last row looked at, whether more may follow
        (see :func:`legato.store.events.read_events`)."""
        if project:
            self.project()
        with self.db.reading() as conn:
            return queries.read_events(conn, filt, limit=limit)

    def read_one(self, event_id: str) -> EventRecord | None:
        with self.db.reading() as conn:
            return queries.read_event(conn, event_id)

    def latest_seq(self) -> int:
        with self.db.reading() as conn:
            return queries.latest_seq(conn)
