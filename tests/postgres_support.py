"""The PostgreSQL server of the test machine: creates and drops one database per use.

PostgreSQL is expected at ``postgresql+psycopg://postgres@127.0.0.1:5432`` (override
with ``LEGATO_TEST_POSTGRES_URL``). The ``postgres_server`` fixture (tests/conftest.py)
skips when it cannot be reached, and fails instead under ``LEGATO_REQUIRE_POSTGRES=1``.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

POSTGRES_URL = os.environ.get(
    "LEGATO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


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


def reachable_postgres_server() -> PostgresServer:
    """The server, or a skip (a failure with LEGATO_REQUIRE_POSTGRES=1)."""
    server = PostgresServer(POSTGRES_URL)
    try:
        server.check()
    except Exception as exc:
        reason = f"PostgreSQL is not reachable at {server.url.render_as_string()}: {exc}"
        if os.environ.get("LEGATO_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} (and LEGATO_REQUIRE_POSTGRES=1)")
        pytest.skip(reason)
    return server
