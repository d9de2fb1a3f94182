"""Bulk INSERT statements for the batched writer.

SQLite gets one ``INSERT ... VALUES (...), (...), ...`` per few hundred rows
instead of one ``executemany`` step per row: the database does the same work, but
the driver releases and re-takes the GIL once per statement instead of once per
row. With the flow's own thread busy, those re-takes were what made the writer slow.

PostgreSQL gets ``COPY ... FROM STDIN`` instead: psycopg parses a statement's
text for placeholders on every execute of a long one (it caches only short
statements), and for a 500-row INSERT that parsing cost several times what the
server spent on the rows. COPY sends the rows as data, formatted in C.
"""

from __future__ import annotations

import sqlite3
from itertools import chain
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection


class RowInserter(Protocol):
    def execute(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None: ...


def placeholder(paramstyle: str) -> str:
    return "?" if paramstyle in ("qmark", "numeric") else "%s"


def max_parameters(dialect_name: str) -> int:
    if dialect_name == "sqlite":
        return 32_766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
    return 65_535


def row_inserter(dialect: sa.Dialect, table: str, columns: list[str]) -> RowInserter:
    """The fastest way this database takes many rows of ``columns`` into ``table``."""
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        return CopyInsert(table, columns)
    return MultiRowInsert(
        table, columns, placeholder(dialect.paramstyle), max_parameters(dialect.name)
    )


class MultiRowInsert:
    """Inserts lists of positional tuples into ``columns`` of ``table``."""

    def __init__(self, table: str, columns: list[str], mark: str, max_params: int):
        self.head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        self.row = "(" + ", ".join([mark] * len(columns)) + ")"
        self.rows_per_statement = max(1, min(500, max_params // len(columns)))
        self._sql: dict[int, str] = {}

    def sql(self, rows: int) -> str:
        text = self._sql.get(rows)
        if text is None:
            text = self._sql[rows] = self.head + ", ".join([self.row] * rows)
        return text

    def execute(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        step = self.rows_per_statement
        for start in range(0, len(rows), step):
            part = rows[start : start + step]
            conn.exec_driver_sql(self.sql(len(part)), tuple(chain.from_iterable(part)))


class CopyInsert:
    """Copies lists of positional tuples into ``columns`` of ``table`` (psycopg 3).

    The COPY runs on the connection's own transaction, so it commits or rolls back
    with the rest of the batch; a driver error is raised as SQLAlchemy's, as an
    ``exec_driver_sql`` would raise it, so callers translate both the same way.
    """

    def __init__(self, table: str, columns: list[str]):
        self.statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"

    def execute(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        import psycopg

        if not conn.in_transaction():
            conn.begin()  # else a later conn.commit() would not commit the copied rows
        driver_conn = conn.connection.driver_connection
        assert isinstance(driver_conn, psycopg.Connection)
        try:
            with driver_conn.cursor() as cursor, cursor.copy(self.statement) as copy:
                write_row = copy.write_row
                for row in rows:
                    write_row(row)
        except psycopg.Error as exc:
            raise sa.exc.DBAPIError.instance(
                self.statement, None, exc, psycopg.Error, dialect=conn.dialect
            ) from exc
