"""``create_app``: the FastAPI application over one store.

No module-level state: the store is passed in and kept on ``app.state.store``; the
routers reach it through :func:`legato.server.dependencies.get_store`. On shutdown
the store's batched writer is flushed, so accepted writes are durable before the
process exits (the caller owns the store and closes it).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import Depends, FastAPI

from legato.notifications import Notifications
from legato.server.api import (
    automations,
    concurrency,
    crashes,
    deployments,
    events,
    flow_runs,
    flows,
    health,
    hooks,
    ingest,
    logs,
    notifications,
    task_runs,
    webhooks,
    work_pools,
)
from legato.server.auth import AUTH_RESPONSES, ApiKeyGate, require_api_key
from legato.server.errors import ERROR_RESPONSES, install_error_handlers
from legato.server.guards import RequestGuard
from legato.server.limits import BodySizeLimit
from legato.server.services import Service
from legato.server.services.automations import AutomationService, AutomationServiceConfig
from legato.server.services.events import EventService, EventServiceConfig
from legato.settings import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_REQUEST_BYTES
from legato.store import Store


@functools.cache
def server_version() -> str:
    """The installed version, read once (health answers it without I/O)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("legato")
    except PackageNotFoundError:  # a source tree that is not installed
        from legato import __version__

        return __version__


def create_app(
    store: Store,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    services: Sequence[Service] = (),
    keys_required: bool = False,
    allowed_hosts: Sequence[str] | None = None,
    event_config: EventServiceConfig | None = None,
    automation_config: AutomationServiceConfig | None = None,
    notifier: Notifications | None = None,
) -> FastAPI:
    """The REST API over ``store``, under ``/api`` (OpenAPI at ``/api/openapi.json``).

    Once the store holds an API key, every route but health needs one (see
    :mod:`legato.server.auth`); webhooks (``/hooks/<slug>``) need one only if they
    were made to. ``services`` (the scheduler, ...) run while the app does.
    ``keys_required``: keys are needed even when none is stored (a server bound beyond
    loopback). ``allowed_hosts``: the ``Host`` names answered (None: any); mutating
    requests from other sites are refused either way (see :mod:`legato.server.guards`).
    The event service (state changes made events, old events pruned) always runs.
    ``notifier``: the notification channels with the server's encryption key and public
    URL (None: built from the settings on first use).
    """
    services = [
        EventService(store, event_config),
        AutomationService(store, automation_config, notifier),
        *services,
    ]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for service in services:
            service.start()
        try:
            yield
        finally:
            for service in reversed(services):
                await anyio.to_thread.run_sync(service.stop)
            await anyio.to_thread.run_sync(lambda: store.writer.flush(timeout=30))

    app = FastAPI(
        title="legato",
        version=server_version(),
        description="Flow runs, task runs, their states and logs, as recorded by legato.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    app.state.store = store
    app.state.notifications = notifier
    app.state.api_keys = ApiKeyGate(store, keys_required=keys_required)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes, max_other_bytes=max_request_bytes)
    app.add_middleware(RequestGuard, allowed_hosts=allowed_hosts)  # outermost: before the body
    app.include_router(health.router, prefix="/api")
    # Webhooks' own URLs: their slug is their credential (see legato.server.api.hooks).
    app.include_router(hooks.router)
    routers = (
        flows,
        flow_runs,
        task_runs,
        logs,
        deployments,
        work_pools,
        crashes,
        concurrency,
        ingest,
        events,
        automations,
        webhooks,
        notifications,
    )
    for module in routers:
        app.include_router(
            module.router,
            prefix="/api",
            dependencies=[Depends(require_api_key)],
            responses=AUTH_RESPONSES,
        )
    return app
