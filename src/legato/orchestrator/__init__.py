"""The one door through which runs are created and states proposed.

``protocol`` says what each caller needs (``EngineBackend`` for a running flow,
``WorkerBackend`` for a worker, ``ApiClient`` for ``get_client()`` and the CLI;
``Orchestrator`` is all of them). ``local.LocalOrchestrator`` calls the store in this
process; ``client.ClientOrchestrator`` speaks HTTP to a server (``http`` for the
requests, ``bulk_sender`` for the batched records), so the engine never knows which one
it has. The store (and SQLAlchemy) are imported on first use, not when legato is
imported.
"""

from __future__ import annotations

from legato.orchestrator.protocol import Orchestrator


def get_orchestrator() -> Orchestrator:
    """The default orchestrator of this process (see :mod:`legato.orchestrator.default`)."""
    from legato.orchestrator import default

    return default.get_orchestrator()


def reset_default_orchestrator() -> None:
    from legato.orchestrator import default

    default.reset_default_orchestrator()


__all__ = ["Orchestrator", "get_orchestrator", "reset_default_orchestrator"]
