"""A real server process over a store filled once per session by running real flows.

``served`` runs the flows of :mod:`fixtures.served` in this process (into its own
LEGATO_HOME, or a new PostgreSQL database: the fixture runs once per backend), then
starts ``legato server start`` on that home at a free port and stops it with SIGTERM at
the end, asserting a clean exit. ``api`` points the test at the same home (so
``legato.get_client()`` reads what the server serves) and gives an httpx client on the
server's URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.postgres import BACKENDS
from fixtures.served import Served, record_runs
from fixtures.servers import backend_home, running_server
from fixtures.singletons import reset_singletons

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests on ``served`` make one pytest-xdist group: one worker runs them all, so
    the store is recorded and served once per backend (a module with a ``served`` of its
    own keeps it, and its own group)."""
    for item in items:
        if (
            isinstance(item, pytest.Function)
            and item.path.parent == HERE
            and "served" in item.fixturenames
            and not hasattr(item.module, "served")
        ):
            item.add_marker(pytest.mark.xdist_group("served"))


@pytest.fixture(scope="session", params=BACKENDS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """The server over a recorded store: a SQLite file, then a PostgreSQL database."""
    folder = tmp_path_factory.mktemp(f"served-{request.param}")
    with backend_home(request, folder) as (home, database_url):
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("LEGATO_HOME", str(home))
            if database_url:
                patch.setenv("LEGATO_DATABASE_URL", database_url)
            reset_singletons()
            try:
                recorded = record_runs()
            finally:
                reset_singletons()
        with running_server(home, folder / "server.log", database_url) as server:
            yield Served(home, server, recorded, database_url)
        assert "legato server: stopped" in server.log()


@pytest.fixture
def api(served: Served, monkeypatch: pytest.MonkeyPatch) -> Iterator[httpx.Client]:
    for name, value in served.env.items():
        monkeypatch.setenv(name, value)
    reset_singletons()
    with httpx.Client(base_url=served.url, timeout=30) as client:
        yield client
