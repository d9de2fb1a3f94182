"""The one door through which runs are created and states proposed.

``protocol.Orchestrator`` is what the engine talks to; ``local.LocalOrchestrator``
calls the store in this process. A client over HTTP (for a server) implements
the same protocol, so the engine never knows which one it has.
"""

from legato.orchestrator.default import get_orchestrator, reset_default_orchestrator
from legato.orchestrator.protocol import Orchestrator

__all__ = ["Orchestrator", "get_orchestrator", "reset_default_orchestrator"]
