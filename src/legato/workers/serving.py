"""What ``flow.serve()`` runs: a worker for one deployment's own pool, and, with the
embedded store, a scheduler for that deployment only.

Against a server (``LEGATO_API_URL``) the server's scheduler makes the runs and wakes
the worker when one falls due; with the embedded store nobody else would, so a
scheduler thread here makes them (the same pass as the server's, for one deployment)
and the worker polls. Ctrl-C or SIGTERM stops both; a second one ends running runs.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import threading
from collections.abc import Callable
from typing import Any

from legato.orchestrator.local import LocalOrchestrator
from legato.orchestrator.protocol import Orchestrator
from legato.schemas.deployments import DeploymentRecord
from legato.services.scheduler import Scheduler, SchedulerConfig
from legato.settings import Settings
from legato.workers.worker import Worker, WorkerOptions

SERVE_POLL_CAP = 1.0
"""The embedded store is polled at least this often: the runs are this process's own."""
MAX_CLAIM_WAIT = 30.0


def own_scheduler(
    orchestrator: LocalOrchestrator, deployment_id: str, settings: Settings
) -> Scheduler:
    """The scheduler of ``deployment_id`` alone, in the embedded store, passing at least
    every ``5 * SERVE_POLL_CAP`` seconds (the worker polls for what it makes)."""
    config = SchedulerConfig.from_settings(settings)
    config = dataclasses.replace(config, interval=min(config.interval, SERVE_POLL_CAP * 5))
    return Scheduler(orchestrator.store, config, deployment_id=deployment_id)


def serve_deployment(
    orchestrator: Orchestrator,
    deployment: DeploymentRecord,
    settings: Settings,
    *,
    limit: int = 10,
    say: Callable[[str], None] = print,
    echo: Callable[[str], None] = print,
) -> None:
    """Run ``deployment``'s runs here until SIGINT/SIGTERM (see the module)."""
    embedded = isinstance(orchestrator, LocalOrchestrator)
    poll = min(settings.worker_poll_interval, SERVE_POLL_CAP) if embedded else None
    options = WorkerOptions(
        pool=deployment.work_pool,
        name=f"{socket.gethostname()}-{os.getpid()}-serve",
        limit=limit,
        poll_interval=poll or settings.worker_poll_interval,
        heartbeat_interval=settings.worker_heartbeat_interval,
        claim_wait=0.0 if embedded else min(settings.worker_poll_interval, MAX_CLAIM_WAIT),
        launcher=settings.worker_launcher,
    )
    env: dict[str, str] = {}
    if settings.api_url:
        env["LEGATO_API_URL"] = settings.api_url
        if settings.api_key:
            env["LEGATO_API_KEY"] = settings.api_key
    worker = Worker(orchestrator, options, env=env, say=say, echo=echo)
    scheduler = (
        own_scheduler(orchestrator, deployment.id, settings)
        if isinstance(orchestrator, LocalOrchestrator)
        else None
    )
    previous: dict[signal.Signals, Any] = {}

    def on_signal(signum: int, _frame: object) -> None:
        say(f"Serving {deployment.full_name!r}: {signal.Signals(signum).name}, stopping")
        worker.stop()

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, on_signal)
    say(
        f"Serving deployment {deployment.full_name!r} (pool {deployment.work_pool!r}); "
        "Ctrl-C to stop"
    )
    if scheduler is not None:
        scheduler.start()
    try:
        worker.run()
    finally:
        if scheduler is not None:
            scheduler.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
