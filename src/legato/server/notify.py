"""Waking waiting workers when a run of their pool becomes due, instead of letting
them find it on their next poll.

A worker's claim may wait (a long poll): it subscribes to its pool here, claims, and
if nothing was due sleeps until poked, until the pool's next known due time, or until
its wait is over, then claims again. Whoever makes a run due pokes the pool: the
deployments API after a run is created, the scheduler after it inserts runs. On
PostgreSQL a poke is also sent with NOTIFY, and each server LISTENs, so a run made
through one replica wakes workers waiting on another. Subscribing before claiming
means a poke between the claim and the sleep is never lost. Pokes are hints: a lost
one costs a wait (bounded by the worker's poll interval), never a double claim.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from legato.store.wakeups import listen, publish, shares_notifications

if TYPE_CHECKING:
    from legato.store import Store

logger = logging.getLogger("legato.notify")

Wake = Callable[[], None]


class PoolNotifier:
    """The waiting claims of one store's server, by pool (see the module)."""

    def __init__(self, store: Store):
        self.store = store
        self.shared = shares_notifications(store)
        self._lock = threading.Lock()
        self._waiters: dict[str, set[Wake]] = {}
        self._listener: threading.Thread | None = None
        self._stop = threading.Event()

    def poke(self, pool: str | None) -> None:
        """``pool`` has a new run (due now or later): every claim waiting on it looks again."""
        if not pool:
            return
        self.wake_local(pool)
        if self.shared:
            try:
                publish(self.store, pool)
            except Exception:
                logger.warning("wake-ups: could not NOTIFY pool %s", pool, exc_info=True)

    def wake_local(self, pool: str) -> None:
        with self._lock:
            waiters = list(self._waiters.get(pool, ()))
        for wake in waiters:
            wake()

    @contextlib.contextmanager
    def subscription(self, pool: str) -> Iterator[asyncio.Event]:
        """An event set when ``pool`` is poked while inside the block (call from a loop)."""
        self._ensure_listener()
        event = asyncio.Event()
        loop = asyncio.get_running_loop()

        def wake() -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(event.set)

        with self._lock:
            self._waiters.setdefault(pool, set()).add(wake)
        try:
            yield event
        finally:
            with self._lock:
                waiters = self._waiters.get(pool)
                if waiters is not None:
                    waiters.discard(wake)
                    if not waiters:
                        del self._waiters[pool]

    def _ensure_listener(self) -> None:
        if not self.shared or self._listener is not None:
            return
        with self._lock:
            if self._listener is None:
                self._listener = threading.Thread(
                    target=listen,
                    args=(self.store, self.wake_local, self._stop),
                    name="legato-wakeups",
                    daemon=True,
                )
                self._listener.start()

    def close(self) -> None:
        self._stop.set()


_notifiers: weakref.WeakKeyDictionary[Store, PoolNotifier] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def notifier_for(store: Store) -> PoolNotifier:
    """The one notifier of ``store`` in this process (API routes and services share it)."""
    with _registry_lock:
        notifier = _notifiers.get(store)
        if notifier is None:
            notifier = _notifiers[store] = PoolNotifier(store)
        return notifier
