"""Store fixtures: a real :class:`legato.store.Store` on SQLite and on PostgreSQL.

Every store test runs once per backend (``params=["sqlite", "postgres"]``). The
SQLite store is a new file under ``tmp_path`` per test; the PostgreSQL store
is a database made and migrated once per test module, emptied after each test
and dropped after the module (``database_url`` gives a fresh empty database per
test, for the migration tests). PostgreSQL is expected at
``postgresql+psycopg://postgres@127.0.0.1:5432`` (override with
``LEGATO_TEST_POSTGRES_URL``); when it cannot be reached the postgres cases are
skipped, unless ``LEGATO_REQUIRE_POSTGRES=1``, where they fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fixtures.postgres import BACKENDS, PostgresServer
from fixtures.store_rows import FlowRunFactory, flow_run_row
from legato.states import State, StateType
from legato.store import Store
from legato.store.tables import metadata


@pytest.fixture(scope="module")
def postgres_database(postgres_server: PostgresServer) -> Iterator[str]:
    """A migrated database for one test module (tests empty it after use); its URL."""
    with postgres_server.database() as url:
        Store(url).close()
        yield url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of an empty, never-migrated database on ``backend`` (a new one per test)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    with server.database() as url:
        yield url


@pytest.fixture
def store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    """A migrated store with no runs in it on ``backend``; closed after the test.

    SQLite: a new file per test. PostgreSQL: the module's database, emptied after each test
    (a database per test costs a CREATE DATABASE, about half a second, per test).
    """
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("postgres_database")
    opened = Store(url, lock_timeout=5)
    try:
        yield opened
    finally:
        try:
            if backend == "postgres":
                tables = ", ".join(f'"{name}"' for name in metadata.tables)
                with opened.engine.begin() as conn:
                    conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY")
        finally:
            opened.close()


@pytest.fixture
def make_flow_run(store: Store) -> FlowRunFactory:
    """``make_flow_run(state=..., **columns) -> id``: insert a flow run through the store."""

    def make(state: State | None = None, **columns: Any) -> str:
        row = flow_run_row(**columns)
        store.create_flow_run(row, state or State(StateType.PENDING, "Pending"))
        return str(row["id"])

    return make
