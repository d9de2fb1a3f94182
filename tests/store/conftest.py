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

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from store_helpers import FlowRunFactory, flow_run_row

from legato.states import State, StateType
from legato.store import Store
from legato.store.tables import metadata

POSTGRES_URL = os.environ.get(
    "LEGATO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


class PostgresServer:
    """Creates and drops databases on one PostgreSQL server (through psycopg, autocommit)."""

    def __init__(self, url: str):
        self.url = sa.make_url(url)

    def _admin(self) -> Any:
        import psycopg

        conninfo = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        return psycopg.connect(conninfo, autocommit=True, connect_timeout=5)

    def check(self) -> None:
        with self._admin() as conn:
            conn.execute("SELECT 1")

    def url_of(self, database: str) -> str:
        return self.url.set(database=database).render_as_string(hide_password=False)

    def create(self, *, template: str | None = None) -> str:
        name = f"legato_test_{uuid.uuid4().hex[:16]}"
        sql = f'CREATE DATABASE "{name}"'
        if template is not None:
            sql += f' TEMPLATE "{template}"'
        with self._admin() as conn:
            conn.execute(sql)
        return name

    def drop(self, name: str) -> None:
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    """The PostgreSQL server, or a skip (a failure with LEGATO_REQUIRE_POSTGRES=1)."""
    server = PostgresServer(POSTGRES_URL)
    try:
        server.check()
    except Exception as exc:
        reason = f"PostgreSQL is not reachable at {server.url.render_as_string()}: {exc}"
        if os.environ.get("LEGATO_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} (and LEGATO_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    return server


@pytest.fixture(scope="module")
def postgres_database(postgres_server: PostgresServer) -> Iterator[str]:
    """A migrated database for one test module (tests empty it after use); its URL."""
    name = postgres_server.create()
    try:
        url = postgres_server.url_of(name)
        Store(url).close()
        yield url
    finally:
        postgres_server.drop(name)


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
    name = server.create()
    try:
        yield server.url_of(name)
    finally:
        server.drop(name)


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
