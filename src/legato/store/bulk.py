"""Multi-row INSERT statements for the batched writer.

One ``INSERT ... VALUES (...), (...), ...`` per few hundred rows instead of one
``executemany`` step per row: the database does the same work, but the driver
releases and re-takes the GIL once per statement instead of once per row. With
the flow's own thread busy, those re-takes were what made the writer slow.
"""

from __future__ import annotations

import sqlite3
from itertools import chain
from typing import Any

from sqlalchemy.engine import Connection


def placeholder(paramstyle: str) -> str:
    return "?" if paramstyle in ("qmark", "numeric") else "%s"


def max_parameters(dialect_name: str) -> int:
    if dialect_name == "sqlite":
        return 32_766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
    return 65_535


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
