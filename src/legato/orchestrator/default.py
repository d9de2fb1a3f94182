"""The process's default orchestrator, built from settings on first use.

This is the one process-wide handle besides the run context: ``python my_flow.py``
has nobody to pass it a store. Code that has an orchestrator passes it on.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from typing import TYPE_CHECKING

from legato.attempts import RUN_TOKEN_VARIABLE
from legato.errors import LegatoError
from legato.orchestrator.local import LocalOrchestrator
from legato.orchestrator.protocol import Orchestrator
from legato.settings import Settings, get_settings

if TYPE_CHECKING:
    from legato.orchestrator.client import ClientOrchestrator

_default: LocalOrchestrator | ClientOrchestrator | None = None
_lock = threading.Lock()


def build_orchestrator(settings: Settings) -> LocalOrchestrator | ClientOrchestrator:
    """A client of the server at LEGATO_API_URL if set, else the store under LEGATO_HOME.

    In the process a worker launched for a run, LEGATO_RUN_TOKEN holds the run's attempt
    token: the orchestrator carries it (and, against a server, uses it as its credential).
    """
    token = os.environ.get(RUN_TOKEN_VARIABLE) or None
    if settings.api_url:
        from legato.orchestrator.client import ClientOrchestrator

        return ClientOrchestrator(
            settings.api_url,
            api_key=settings.api_key,
            run_token=token,
            max_outage=settings.client_max_outage,
        )
    from legato.store import Store

    store = Store(
        settings.effective_database_url,
        lock_timeout=settings.store_lock_timeout,
        writer_linger=settings.writer_linger,
    )
    return LocalOrchestrator(store, token=token, settings=settings)


def get_orchestrator() -> Orchestrator:
    """The default orchestrator for this process (the embedded store unless configured)."""
    global _default
    if _default is None:
        with _lock:
            if _default is None:
                _default = build_orchestrator(get_settings())
                atexit.register(_flush_at_exit)
    return _default


def _flush_at_exit() -> None:
    if _default is not None:
        with contextlib.suppress(LegatoError):
            _default.flush(timeout=30)


def reset_default_orchestrator() -> None:
    """Flush and forget the default orchestrator (tests; a changed LEGATO_HOME)."""
    global _default
    with _lock:
        if _default is not None:
            try:
                _default.flush(timeout=30)
            finally:
                _default.close()
                _default = None
