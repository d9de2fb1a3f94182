"""The seam through which ``Flow.deploy`` and ``Flow.serve`` reach the workers.

Deploying imports the flow back from its entrypoint the way a worker will (with the
workers' loader, :mod:`legato.workers.entrypoints`), and serving runs a worker in this
process: both belong to the workers' room, above this one, and the SDK imports nothing
above itself (``make lint`` checks it). The two methods stay on ``Flow``, where users
know them, and call the :class:`Deployer` plugged in here. The package ``legato`` plugs
in the workers' one (:class:`legato.workers.deploy.WorkersDeployer`) as it is imported,
which is before any flow can exist: importing any ``legato.*`` module runs
``legato/__init__.py`` first. It is the only one; this is a seam for the layering, not
an extension point.

While legato imports a flow's file (to check it before deploying, or to run one of its
runs: :func:`loading_entrypoint`), a ``serve`` or ``deploy`` call only returns. Prefect's
documentation calls ``my_flow.serve(...)`` at the top level of a file, with no
``if __name__ == "__main__":`` guard; importing that file must not start a second
server inside the first (or a third one in the process a run starts).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

from legato.errors import LegatoError

if TYPE_CHECKING:
    from legato.schemas.deployments import DeploymentRecord
    from legato.sdk.flows import Flow

logger = logging.getLogger("legato.deploy")

_importing: ContextVar[str | None] = ContextVar("legato_importing_entrypoint", default=None)
"""The entrypoint legato is importing in this context, if any."""


class Deployer(Protocol):
    def deploy(self, flow: Flow[Any, Any], name: str, **options: Any) -> DeploymentRecord | None:
        """Create or update the deployment ``<flow>/<name>``; its stored record (None:
        skipped, see the module)."""
        ...

    def serve(self, flow: Flow[Any, Any], name: str, **options: Any) -> None:
        """Deploy the flow on a pool of its own and run its runs here until stopped."""
        ...


_deployer: Deployer | None = None


def plug_deployer(deployer: Deployer) -> None:
    """Make ``deployer`` the one ``Flow.deploy`` and ``Flow.serve`` call (see the module)."""
    global _deployer
    _deployer = deployer


def deployer() -> Deployer:
    """The plugged-in deployer; while legato imports an entrypoint, one that skips."""
    importing = _importing.get()
    if importing is not None:
        return _Skipping(importing)
    if _deployer is None:
        raise LegatoError("no deployer is plugged in (the package legato plugs its own)")
    return _deployer


@contextlib.contextmanager
def loading_entrypoint(entrypoint: str) -> Iterator[None]:
    """Mark the import of ``entrypoint`` done inside this block as legato's own: a
    ``serve`` or ``deploy`` its code calls is skipped (see the module)."""
    token = _importing.set(entrypoint)
    try:
        yield
    finally:
        _importing.reset(token)


class _Skipping:
    """The deployer while legato imports ``entrypoint``: each call is logged and skipped."""

    def __init__(self, entrypoint: str):
        self.entrypoint = entrypoint

    def _skip(self, what: str, flow: Flow[Any, Any], name: str) -> None:
        logger.info(
            "skipped %s.%s(%r): legato is importing %s to load a flow, not to run the "
            'file (put the call under `if __name__ == "__main__":` to silence this)',
            flow.name,
            what,
            name,
            self.entrypoint,
        )

    def deploy(self, flow: Flow[Any, Any], name: str, **options: Any) -> DeploymentRecord | None:
        self._skip("deploy", flow, name)
        return None

    def serve(self, flow: Flow[Any, Any], name: str, **options: Any) -> None:
        self._skip("serve", flow, name)
