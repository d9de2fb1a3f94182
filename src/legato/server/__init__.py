"""The legato server: the REST API over one :class:`legato.store.Store`.

``create_app(store)`` builds the FastAPI application; ``legato server start`` runs it
on uvicorn. Routes only call named Store methods (no SQL here), one router module
per resource under ``api/``.
"""

from legato.server.app import create_app

__all__ = ["create_app"]
