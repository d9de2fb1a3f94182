"""The server's scheduler: :class:`legato.services.scheduler.Scheduler` over every
deployment, waking the workers waiting on a pool as soon as it has new runs (a run
due later wakes them to note its time) instead of leaving them to their next poll."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from legato.server.notify import notifier_for
from legato.services.scheduler import Scheduler, SchedulerConfig

if TYPE_CHECKING:
    from legato.store import Store


def wake_pools(store: Store, pools: set[str]) -> None:
    """Wake the workers waiting on ``pools``."""
    notifier = notifier_for(store)
    for pool in sorted(pools):
        notifier.poke(pool)


def server_scheduler(store: Store, config: SchedulerConfig) -> Scheduler:
    return Scheduler(store, config, wake=functools.partial(wake_pools, store))
