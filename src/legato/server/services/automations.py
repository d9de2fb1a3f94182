"""The automation service: evaluate triggers against events, then run the actions.

**Evaluating** runs on one server at a time per database: the one holding the
``automations`` lease (renewed every pass; another server takes over within
``LEASE_TTL`` of it going quiet). A pass reads the events stored since its cursor (a
run's state changes among them) in the order of the feed, hands each to every enabled
automation's trigger (:mod:`legato.event_rules.triggers`), asks the clock about
deadlines, and stores the changed buckets, the firings with their actions, and the
cursor in one transaction (:func:`legato.store.automations.record_pass`). Events that
arrived while no server evaluated (flows run embedded, a restart) are evaluated when
one starts, in their own ``occurred`` time; deadlines that passed meanwhile fire late.

**Acting** runs on every server: pending actions are leased, done, and marked done or
failed (with the error), so each runs once even with two servers; one that may work
later (a receiver that is away) is tried again with backoff, up to
:data:`legato.server.services.automation_actions.MAX_ATTEMPTS` times.

The service wakes when this server stores an event or a state change, and otherwise
every ``poll`` seconds.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from legato.event_rules.triggers import Buckets, Firing, SeenEvent, on_clock, on_event
from legato.schemas.automations import AutomationRecord, AutomationSpec
from legato.schemas.events import EventCursor, EventFilter, EventRecord
from legato.server.services.automation_actions import (
    MAX_ATTEMPTS,
    ActionFailed,
    TryLater,
    run_action,
)
from legato.store import automations as queries

if TYPE_CHECKING:
    from legato.notifications import Notifications
    from legato.settings import Settings
    from legato.store import Store

logger = logging.getLogger("legato.automations")

LEASE_NAME = "automations"
LEASE_TTL = 10.0
EVENTS_POSITION = "automations.events"
STATES_POSITION = "automations.states"
PASS_EVENTS = 500
SKIP_EVERY = 2.0
COALESCE = 0.02
ACTION_THREADS = 4
CLOCK_SKEW = timedelta(seconds=1)
ACTION_LEASE = 120.0
STATE_SETTLE = 1.0
"""PostgreSQL: state ids newer than those seen this long ago are left for the next pass
(a transaction may commit after a later id: its state must not be passed over)."""


@dataclass(frozen=True)
class AutomationServiceConfig:
    poll: float = 1.0
    evaluate: bool = True
    action_lease: float = ACTION_LEASE

    @classmethod
    def from_settings(cls, settings: Settings) -> AutomationServiceConfig:
        return cls(action_lease=settings.automation_action_lease_seconds)


class AutomationService:
    """Evaluates automations (when it holds the lease) and runs their actions."""

    def __init__(
        self,
        store: Store,
        config: AutomationServiceConfig | None = None,
        notifier: Notifications | None = None,
    ):
        self.store = store
        self.notifier = notifier
        self.config = config or AutomationServiceConfig()
        self.holder = f"{uuid.uuid4()}"
        self.started = time.time()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._actions: concurrent.futures.ThreadPoolExecutor | None = None
        self._leading = False
        self._lease_until = 0.0
        self._last_skip = 0.0
        self._buckets: dict[str, Buckets] = {}
        self._specs: dict[str, tuple[float, AutomationRecord]] = {}
        self._last_acted: dict[str, float] = {}
        self._suppressed: dict[str, int] = collections.defaultdict(int)
        self._state_samples: collections.deque[tuple[float, int]] = collections.deque()
        self._postgres = store.engine.dialect.name == "postgresql"

    # -- running ---------------------------------------------------------------

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        self._actions = concurrent.futures.ThreadPoolExecutor(
            ACTION_THREADS, thread_name_prefix="legato-action"
        )
        # Evaluating and acting on threads of their own: a receiver that takes a minute
        # to refuse a notification holds up other actions a little, never evaluation.
        for name, target in (("evaluate", self._evaluate_loop), ("act", self._act_loop)):
            thread = threading.Thread(target=target, name=f"legato-automations-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        self.store.events.poke()
        for thread in self._threads:
            thread.join(timeout=60)
        self._threads = []
        if self._actions is not None:
            self._actions.shutdown(wait=True, cancel_futures=True)
            self._actions = None
        if self._leading:
            with self.store.db.writing() as conn:
                queries.drop_lease(conn, LEASE_NAME, self.holder)
            self._leading = False

    def _loop(self, step: Callable[[], bool], what: str) -> None:
        log = self.store.events
        generation = log.generation()
        while not self._stop.is_set():
            try:
                busy = step()
            except Exception:
                logger.exception("automations: %s failed; trying again", what)
                busy = False
                self._stop.wait(self.config.poll)
            if not busy:
                generation = log.wait(generation, self.config.poll)
                # Writes come in bursts (a flow's batches): one pass for a burst.
                self._stop.wait(COALESCE)

    def _evaluate_loop(self) -> None:
        self._loop(
            lambda: self.config.evaluate and self._lead(None) and self.evaluate(), "evaluating"
        )

    def _act_loop(self) -> None:
        self._loop(self.act, "acting")

    def run_once(self, now: float | None = None) -> bool:
        """One pass: evaluate (if leading), then act. Whether more work is waiting."""
        busy = False
        if self.config.evaluate and self._lead(now):
            busy = self.evaluate(now)
        busy = self.act() or busy
        return busy

    # -- the lease ------------------------------------------------------------------

    def _lead(self, now: float | None) -> bool:
        now = time.time() if now is None else now
        if self._leading and now < self._lease_until - LEASE_TTL / 2:
            return True  # renewed a moment ago: no write for it on every pass
        with self.store.db.writing() as conn:
            leading = queries.take_lease(conn, LEASE_NAME, self.holder, ttl=LEASE_TTL, now=now)
        self._lease_until = now + LEASE_TTL if leading else 0.0
        if leading and not self._leading:
            with self.store.db.reading() as conn:
                self._buckets = queries.load_buckets(conn)
            self._specs.clear()
            logger.info("automations: this server evaluates them now")
        elif not leading and self._leading:
            logger.info("automations: another server evaluates them now")
        self._leading = leading
        return leading

    # -- evaluating -----------------------------------------------------------------

    def _automations(self) -> list[AutomationRecord]:
        with self.store.db.reading() as conn:
            records = queries.enabled_automations(conn)
        for record in records:
            self._buckets.setdefault(record.id, {})
        enabled = {record.id for record in records}
        for gone in [a for a in self._buckets if a not in enabled]:
            del self._buckets[gone]
        return records

    def _cursor(self) -> EventCursor:
        with self.store.db.reading() as conn:
            seq = queries.read_position(conn, EVENTS_POSITION)
            state = queries.read_position(conn, STATES_POSITION)
        return EventCursor(seq or 0, state or 0)

    def _skip_ahead(self) -> None:
        """No automation is enabled: the cursor moves to where the feed is, every few
        seconds at most (a pass costs one read while there is none to evaluate)."""
        now = time.monotonic()
        if now - self._last_skip < SKIP_EVERY:
            return
        self._last_skip = now
        # Where the feed is before the automations are read again: one made a moment
        # later still sees everything after this place.
        place = self.store.events.latest_cursor()
        if self._automations():
            return
        cursor = self._cursor()
        if place != cursor:
            with self.store.db.writing() as conn:
                queries.write_position(conn, EVENTS_POSITION, place.seq, time.time())
                queries.write_position(conn, STATES_POSITION, place.state, time.time())

    def _state_horizon(self) -> int | None:
        """PostgreSQL: the newest state id it is safe to read up to (see STATE_SETTLE)."""
        if not self._postgres:
            return None
        now = time.monotonic()
        latest = self.store.events.latest_cursor().state
        self._state_samples.append((now, latest))
        horizon = None
        while self._state_samples and now - self._state_samples[0][0] >= STATE_SETTLE:
            horizon = self._state_samples.popleft()[1]
        if horizon is not None:
            self._state_samples.appendleft((now - STATE_SETTLE, horizon))
        return horizon if horizon is not None else -1

    def evaluate(self, now: float | None = None) -> bool:
        """Evaluate the events since the cursor and the deadlines due; store it all in one
        transaction. Whether more events are waiting."""
        records = self._automations()
        if not records:
            self._skip_ahead()
            return False
        cursor = self._cursor()
        horizon = self._state_horizon()
        found, reached, more = self.store.events.read(
            EventFilter(after=cursor, names=_interest(records)),
            limit=PASS_EVENTS,
            state_horizon=horizon,
        )
        before = {aid: dict(buckets) for aid, buckets in self._buckets.items()}
        firings: list[queries.NewFiring] = []
        for record in found:
            seen = _seen(record)
            for automation in records:
                if record.received < automation.created - CLOCK_SKEW:
                    continue  # it happened before the automation existed
                for firing in on_event(
                    automation.spec.trigger,
                    seen,
                    self._buckets[automation.id],
                    late_before=self.started,
                ):
                    firings.append(self._firing(automation, firing, record))
        clock = time.time() if now is None else now
        for automation in records:
            for firing in on_clock(
                automation.spec.trigger,
                self._buckets[automation.id],
                clock,
                late_before=self.started,
            ):
                firings.append(self._firing(automation, firing, None))
        changed = {
            aid: _changes(before.get(aid, {}), buckets) for aid, buckets in self._buckets.items()
        }
        changed = {aid: items for aid, items in changed.items() if items}
        if not (found or firings or changed or reached != cursor):
            return False
        with self.store.db.writing() as conn:
            queries.record_pass(
                conn,
                changed=changed,
                firings=firings,
                positions={EVENTS_POSITION: reached.seq, STATES_POSITION: reached.state},
                now=clock,
            )
        for new in firings:
            logger.info(
                "automations: %r %s%s",
                _name(records, new.automation_id),
                new.firing.kind,
                " (late)" if new.firing.late else "",
            )
        return more

    def _firing(
        self, automation: AutomationRecord, firing: Firing, record: EventRecord | None
    ) -> queries.NewFiring:
        spec: AutomationSpec = automation.spec
        event = record.model_dump(mode="json") if record is not None else None
        if firing.kind == "resolved":
            actions = [a.model_dump(mode="json") for a in spec.actions_on_resolve]
            return queries.NewFiring(automation.id, firing, actions, event)
        last = self._last_acted.get(automation.id)
        if spec.cooldown and last is not None and firing.at - last < spec.cooldown:
            self._suppressed[automation.id] += 1
            return queries.NewFiring(automation.id, replace(firing, kind="suppressed"), [], event)
        self._last_acted[automation.id] = firing.at
        suppressed = self._suppressed.pop(automation.id, 0)
        actions = [a.model_dump(mode="json") for a in (*spec.actions, *spec.actions_on_trigger)]
        return queries.NewFiring(automation.id, firing, actions, event, suppressed)

    # -- acting ---------------------------------------------------------------------

    def act(self) -> bool:
        """Run the pending actions (a batch); whether more may be waiting."""
        now = time.time()
        with self.store.db.reading() as conn:
            if not queries.has_open_actions(conn):
                return False
        with self.store.db.writing() as conn:
            held = queries.claim_actions(conn, now=now, lease=self.config.action_lease)
        if self._actions is None:  # driven by hand (run_once): one at a time
            for action in held:
                self._do(action)
        else:
            list(self._actions.map(self._do, held))
        return len(held) == 20

    def _do(self, held: queries.HeldAction) -> None:
        automation_name = held.automation_id
        with contextlib.suppress(Exception):  # deleted meanwhile: its id says what it was
            automation_name = self.store.automations.read(held.automation_id).spec.name
        context: dict[str, Any] = {
            "event": held.event,
            "automation": {"id": held.automation_id, "name": automation_name},
            "firing": {
                "id": held.firing_id,
                "kind": held.firing_kind,
                "at": held.firing_at,
                "key": held.firing_key,
                "position": held.position,
                "suppressed": held.firing_suppressed,
            },
        }
        now = time.time()
        try:
            result = run_action(self.store, held.action, context, self.notifier)
        except TryLater as exc:
            if held.attempts >= MAX_ATTEMPTS:
                self._finish(held, "failed", error=f"{exc} (gave up after {held.attempts} tries)")
            else:
                with self.store.db.writing() as conn:
                    queries.retry_action_later(
                        conn, held.id, at=now + min(60.0, 0.5 * 2**held.attempts), error=str(exc)
                    )
            return
        except ActionFailed as exc:
            self._finish(held, "failed", error=str(exc))
            logger.warning(
                "automations: %r: %s failed: %s", automation_name, held.action.get("type"), exc
            )
            return
        except Exception as exc:  # a bug: say so on the action rather than loop on it
            logger.exception("automations: an action failed unexpectedly")
            self._finish(held, "failed", error=f"{type(exc).__name__}: {exc}")
            return
        self._finish(held, "done", result=result)

    def _finish(
        self,
        held: queries.HeldAction,
        status: str,
        *,
        error: str | None = None,
        result: dict[str, Any] | None = None,
    ) -> None:
        with self.store.db.writing() as conn:
            queries.finish_action(
                conn, held.id, status=status, error=error, result=result, now=time.time()
            )


def _interest(records: list[AutomationRecord]) -> tuple[str, ...]:
    """The event names some automation may count (empty: any), so a pass reads only those:
    with no trigger on task runs, their state changes are not read at all."""
    from legato.event_rules.triggers import event_triggers

    names: set[str] = set()
    for record in records:
        for trigger in event_triggers(record.spec.trigger):
            if not trigger.expect:
                return ()
            names.update(trigger.expect)
            names.update(trigger.after)
    return tuple(sorted(names))


def _seen(record: EventRecord) -> SeenEvent:
    return SeenEvent(
        id=str(record.id),
        event=record.event,
        occurred=record.occurred.timestamp(),
        resource=record.resource,
        related=record.related,
        payload=record.payload,
    )


def _changes(before: Buckets, after: Buckets) -> list[tuple[tuple[str, str], Any]]:
    changed: list[tuple[tuple[str, str], Any]] = []
    for key, bucket in after.items():
        if before.get(key) != bucket:
            changed.append((key, bucket))
    for key in before:
        if key not in after:
            changed.append((key, None))
    return changed


def _name(records: list[AutomationRecord], automation_id: str) -> str:
    return next((r.spec.name for r in records if r.id == automation_id), automation_id)
