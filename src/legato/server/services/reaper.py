"""The reaper service: every ``reaper_interval`` seconds, crash the runs of dead workers.

A worker heartbeats the runs it holds; one killed outright (kill -9, a lost machine)
stops, and its runs would stay Pending or Running forever. The reaper finds runs whose
heartbeat is older than ``heartbeat_timeout`` and hands each to
:meth:`legato.store.reaping.ReapingStore.crash_flow_run`: Crashed, or Cancelled if a
cancel was asked for, and back to Scheduled for another worker when the deployment's
``retries`` allow. Rows are locked one by one (``SKIP LOCKED`` on PostgreSQL), so two
servers reaping one database never write the same crash twice.

The same pass crashes the unfinished local runs of this host (flows called from code,
no worker) whose process is gone (:mod:`legato.store.local_runs`); runs recorded by
other hosts are left to the commands and servers of those hosts.

A pass that fails (the database is down) is logged and retried on the next tick.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from legato.processes import host_name, process_start_time
from legato.server.notify import notifier_for
from legato.services.periodic import PeriodicService

if TYPE_CHECKING:
    from legato.settings import Settings
    from legato.store import Store
    from legato.store.reaping import CrashOutcome

logger = logging.getLogger("legato.reaper")


@dataclass(frozen=True)
class ReaperConfig:
    interval: float = 5.0
    heartbeat_timeout: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ReaperConfig:
        return cls(interval=settings.reaper_interval, heartbeat_timeout=settings.heartbeat_timeout)


def reap_once(store: Store, config: ReaperConfig, now: float | None = None) -> list[CrashOutcome]:
    """One pass: crash (or retry) every run whose worker has gone quiet, and every local
    run of this host whose process is gone; wake the workers of the pools that got a
    run back."""
    outcomes = store.reap_stale_flow_runs(timeout=config.heartbeat_timeout, now=now)
    _announce_lost_workers(store, outcomes)
    outcomes += store.reap_gone_local_runs(host_name(), process_start_time, now=now)
    for outcome in outcomes:
        logger.warning(
            "reaper: flow run %s is %s: %s",
            outcome.flow_run_id,
            outcome.state_name,
            outcome.message,
        )
    pools = {o.work_pool for o in outcomes if o.state_name == "AwaitingRetry" and o.work_pool}
    if pools:
        notifier = notifier_for(store)
        for pool in sorted(pools):
            notifier.poke(pool)
    return outcomes


def _announce_lost_workers(store: Store, outcomes: list[CrashOutcome]) -> None:
    """One ``legato.worker.lost`` event per worker whose runs went quiet."""
    from legato.event_rules.resource_events import worker_lost_event

    runs: dict[tuple[str, str | None], list[str]] = {}
    for outcome in outcomes:
        if outcome.worker_name:
            runs.setdefault((outcome.worker_name, outcome.work_pool), []).append(
                outcome.flow_run_id
            )
    if runs:
        store.events.emit_new(
            [worker_lost_event(name, pool, ids) for (name, pool), ids in runs.items()]
        )


class Reaper(PeriodicService):
    """Runs :func:`reap_once` every ``config.interval`` seconds."""

    def __init__(self, store: Store, config: ReaperConfig):
        self.store = store
        self.config = config
        super().__init__("reaper", config.interval, self._pass, logger)

    def _pass(self) -> None:
        reap_once(self.store, self.config)
