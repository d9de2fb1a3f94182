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
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from legato.errors import LegatoError

if TYPE_CHECKING:
    from legato.schemas.deployments import DeploymentRecord
    from legato.sdk.flows import Flow


class Deployer(Protocol):
    def deploy(self, flow: Flow[Any, Any], name: str, **options: Any) -> DeploymentRecord:
        """Create or update the deployment ``<flow>/<name>``; its stored record."""
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
    if _deployer is None:
        raise LegatoError("no deployer is plugged in (the package legato plugs its own)")
    return _deployer
