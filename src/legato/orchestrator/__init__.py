"""The one door through which runs are created and states proposed.

``protocol.Orchestrator`` is what the engine talks to; ``local.LocalOrchestrator``
calls the store in this process. A client over HTTP (for a server) implements
the same protocol, so the engine never knows which one it has. The store (and
SQLAlchemy) are imported on first use, not when legato is imported.
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
