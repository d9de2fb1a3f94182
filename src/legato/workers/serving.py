"""``flow.serve(name, cron=... | interval=... | rrule=...)``: deploy a flow and run its
runs in this process, for the simplest case (one script, no separate worker).

The deployment gets a work pool of its own (``serve-NAME``), so only this process
runs its runs. Against a server (``LEGATO_API_URL``) the server's scheduler makes the
runs and wakes this process's worker when one falls due; with the embedded store
nobody else would, so a scheduler thread here makes them (the server's scheduler, for
this one deployment) and the worker polls. Ctrl-C (or SIGTERM) stops both cleanly: no
new runs, running ones get their grace period (a second signal ends them), and
``serve`` returns.

Serving runs a worker, so it lives with the workers; ``Flow.serve`` reaches it through
:mod:`legato.sdk.deploying`, since the SDK imports nothing above itself.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from legato.orchestrator.default import build_orchestrator
from legato.orchestrator.local import LocalOrchestrator
from legato.orchestrator.protocol import WorkerBackend
from legato.schemas.deployments import DeploymentRecord
from legato.services.scheduler import Scheduler, SchedulerConfig
from legato.settings import Settings, get_settings
from legato.workers.deploy import deploy_flow
from legato.workers.worker import Worker, WorkerOptions

if TYPE_CHECKING:
    from legato.schedules import Schedule
    from legato.sdk.flows import Flow

SERVE_POLL_CAP = 1.0
"""The embedded store is polled at least this often: the runs are this process's own."""
MAX_CLAIM_WAIT = 30.0


def serve_pool(name: str) -> str:
    return f"serve-{name}"


def serve_flow(
    flow: Flow[Any, Any],
    *,
    name: str,
    cron: str | None = None,
    interval: float | timedelta | None = None,
    rrule: str | None = None,
    timezone: str | None = None,
    anchor: datetime | None = None,
    schedules: Sequence[Schedule] = (),
    parameters: dict[str, Any] | None = None,
    tags: Iterable[str] = (),
    description: str | None = None,
    limit: int = 10,
    entrypoint: str | None = None,
) -> None:
    """Deploy ``flow`` as ``<flow>/<name>`` on its own pool and serve it (see the module)."""
    settings = get_settings()
    orchestrator = build_orchestrator(settings)
    try:
        deployment = deploy_flow(
            flow,
            name=name,
            work_pool=serve_pool(name),
            cron=cron,
            interval=interval,
            rrule=rrule,
            timezone=timezone,
            anchor=anchor,
            schedules=schedules,
            parameters=parameters,
            tags=tags,
            description=description,
            entrypoint=entrypoint,
            orchestrator=orchestrator,
        )
        serve_deployment(orchestrator, deployment, settings, limit=limit)
    finally:
        orchestrator.close()


def own_scheduler(
    orchestrator: LocalOrchestrator, deployment_id: str, settings: Settings
) -> Scheduler:
    """The scheduler of ``deployment_id`` alone, in the embedded store, passing at least
    every ``5 * SERVE_POLL_CAP`` seconds (the worker polls for what it makes)."""
    config = SchedulerConfig.from_settings(settings)
    config = dataclasses.replace(config, interval=min(config.interval, SERVE_POLL_CAP * 5))
    return Scheduler(orchestrator.store, config, deployment_id=deployment_id)


def serve_deployment(
    orchestrator: WorkerBackend,
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
