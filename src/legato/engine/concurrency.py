"""Tag concurrency slots of one flow run's task runs: what the drivers do for the task
machine's LoadTagSlots, AcquireSlots and ReleaseSlots.

The first task run of a flow run that carries any tag reads which tags have limits
(one call); a task whose tags miss that set never comes here again, so untagged
and unlimited tasks pay nothing. A limited task run takes one lease per limited
tag before each attempt of its body (waiting Pending, polling with a growing
delay) and gives them back after it. A background thread renews the leases held,
so they outlive a long body but not a dead process.

Limits created while a flow run is going apply to its later flow runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from legato.engine.context import FlowRunContext
    from legato.engine.task_run import TaskRun
    from legato.orchestrator.protocol import EngineBackend

logger = logging.getLogger("legato.concurrency")

FIRST_DELAY = 0.05


class TagSlots:
    """The limited tags a flow run knows of, and the leases its task runs hold."""

    def __init__(
        self,
        orchestrator: EngineBackend,
        flow_run_id: str,
        limited: frozenset[str],
        ttl: float,
        poll_max: float,
    ):
        self.orchestrator = orchestrator
        self.flow_run_id = flow_run_id
        self.limited = limited
        self.ttl = ttl
        self.poll_max = poll_max
        self.holder = f"{socket.gethostname()}:{os.getpid()}"
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._renewer: threading.Thread | None = None

    def limited_among(self, tags: Iterable[str]) -> tuple[str, ...]:
        """Those of ``tags`` that have limits."""
        limited = self.limited
        if not limited:
            return ()
        return tuple(tag for tag in tags if tag in limited)

    def acquire(self, task_run: TaskRun, tags: list[str], wait: bool) -> str | None:
        """Take the task run's slots: once (None if held, else why it waits), or, with
        ``wait``, polling in this thread until they are held."""
        reason = self.try_acquire(task_run, tags)
        delay = FIRST_DELAY
        while wait and reason is not None:
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 1.5, self.poll_max)
            reason = self.try_acquire(task_run, tags)
        return reason

    async def acquire_async(self, task_run: TaskRun, tags: list[str], wait: bool) -> str | None:
        """:meth:`acquire` for the event loop: each try in a thread, the waits on the loop."""
        reason = await asyncio.to_thread(self.try_acquire, task_run, tags)
        delay = FIRST_DELAY
        while wait and reason is not None:
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 1.5, self.poll_max)
            reason = await asyncio.to_thread(self.try_acquire, task_run, tags)
        return reason

    def try_acquire(self, task_run: TaskRun, tags: list[str]) -> str | None:
        answer = self.orchestrator.acquire_concurrency_slots(
            tags, task_run.id, self.flow_run_id, self.holder, self.ttl
        )
        if not answer.acquired:
            full = ", ".join(repr(tag) for tag in answer.blocked)
            return f"waiting for a concurrency slot: tag {full} is at its limit"
        self._hold(task_run.id)
        return None

    def release(self, task_run_id: str) -> None:
        """Give back the task run's slots (nothing to do if it holds none)."""
        with self._lock:
            if task_run_id not in self._held:
                return
            self._held.discard(task_run_id)
        self.orchestrator.release_concurrency_slots([task_run_id])

    def _hold(self, task_run_id: str) -> None:
        with self._lock:
            self._held.add(task_run_id)
            if self._renewer is None:
                self._renewer = threading.Thread(
                    target=self._renew, name="legato-tag-slots", daemon=True
                )
                self._renewer.start()

    def _renew(self) -> None:
        """Push the held leases' expiry forward every third of their lifetime; stop
        when none are held (the next acquire starts a new thread)."""
        while True:
            time.sleep(self.ttl / 3)
            with self._lock:
                held = sorted(self._held)
                if not held:
                    self._renewer = None
                    return
            try:
                kept = set(self.orchestrator.renew_concurrency_slots(held, self.ttl))
            except Exception as exc:
                logger.warning("could not renew concurrency slots: %s", exc)
                continue
            lost = [task_run_id for task_run_id in held if task_run_id not in kept]
            if lost:
                logger.warning(
                    "concurrency slots of task run(s) %s expired before renewal "
                    "(LEGATO_CONCURRENCY_LEASE_SECONDS is %gs)",
                    ", ".join(lost),
                    self.ttl,
                )


def load_tag_slots(ctx: FlowRunContext) -> TagSlots:
    """The flow run's tag slots; the first caller reads which tags have limits (once:
    callers racing in other threads wait for that read)."""
    from legato.settings import get_settings

    assert ctx.flow_run_id is not None  # a task run of no flow run takes no slots
    with ctx._lock:
        slots: TagSlots | None = ctx.tag_slots
        if slots is None:
            settings = get_settings()
            slots = TagSlots(
                ctx.orchestrator,
                ctx.flow_run_id,
                frozenset(ctx.orchestrator.read_limited_tags()),
                settings.concurrency_lease_seconds,
                settings.concurrency_poll_max,
            )
            ctx.tag_slots = slots
    return slots
