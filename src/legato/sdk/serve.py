"""``flow.serve(name, cron=... | interval=... | rrule=...)``: deploy a flow and run its
runs in this process, for the simplest case (one script, no separate worker).

The deployment gets a work pool of its own (``serve-NAME``), so only this process
runs its runs. With ``LEGATO_API_URL`` the server schedules them and wakes this
process when one is due; with the embedded store this process schedules them too.
Ctrl-C (or SIGTERM) stops it cleanly: no new runs, running ones get their grace
period, and ``serve`` returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from legato.schedules import Schedule
    from legato.sdk.flows import Flow


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
    from legato.orchestrator.default import build_orchestrator
    from legato.sdk.deployments import deploy_flow
    from legato.settings import get_settings
    from legato.workers.serving import serve_deployment

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
