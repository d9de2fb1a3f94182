"""A real server process over a store filled once per session by running real flows.

``served`` runs the flows of :mod:`server_support` in this process (into its own
LEGATO_HOME, or a new PostgreSQL database: the fixture runs once per backend), then starts ``legato server start`` on that home at a free port and
stops it with SIGTERM at the end, asserting a clean exit. ``api`` points the test
at the same home (so ``legato.get_client()`` reads what the server serves) and
gives an httpx client on the server's URL.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from server_support import Served, record_runs, start_server


def _reset_singletons() -> None:
    from legato.orchestrator.default import reset_default_orchestrator
    from legato.settings import reset_settings

    reset_default_orchestrator()
    reset_settings()


@pytest.fixture(
    scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """The server over a recorded store: a SQLite file, then a PostgreSQL database."""
    folder = tmp_path_factory.mktemp(f"served-{request.param}")
    home = folder / "home"
    database_url, postgres, database = None, None, None
    if request.param == "postgres":
        postgres = request.getfixturevalue("postgres_server")
        database = postgres.create()
        database_url = postgres.url_of(database)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("LEGATO_HOME", str(home))
            if database_url:
                patch.setenv("LEGATO_DATABASE_URL", database_url)
            _reset_singletons()
            try:
                recorded = record_runs()
            finally:
                _reset_singletons()
        server = start_server(home, folder / "server.log", database_url=database_url)
        try:
            yield Served(home, server, recorded, database_url)
        finally:
            code = server.stop()
            assert code == 0, server.log()
            assert "legato server: stopped" in server.log()
    finally:
        if postgres is not None and database is not None:
            postgres.drop(database)


@pytest.fixture
def api(served: Served, monkeypatch: pytest.MonkeyPatch) -> Iterator[httpx.Client]:
    for name, value in served.env.items():
        monkeypatch.setenv(name, value)
    _reset_singletons()
    with httpx.Client(base_url=served.url, timeout=30) as client:
        yield client
