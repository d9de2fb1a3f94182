"""One door for state: only ``legato/store/state_door.py`` writes run states.

Scans the store's source (its syntax trees, not text) for anything that writes the state
columns of ``flow_runs`` or ``task_runs`` or appends to ``state_history``: an insert
into those tables, an update whose values name a state column, a row (dict) holding a
state column, SQL text inserting into or updating them, a bulk inserter made for them.
Reads (``flow_runs.c.state_type == ...``, a record built from a row) are fine anywhere.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

STORE = Path(__file__).resolve().parents[2] / "src" / "legato" / "store"
DOOR = "state_door.py"
NOT_WRITERS = {"tables.py"}  # declares the columns
RUN_TABLES = {"flow_runs", "task_runs", "state_history"}
STATE_COLUMNS = {"state_type", "state_name", "state_message", "state_timestamp"}
INSERTERS = {
    "insert",
    "pg_insert",
    "sqlite_insert",
    "row_inserter",
    "_insert_if_absent",
    "insert_if_absent",
}
SQL_WRITE = re.compile(
    r"\b(INSERT\s+INTO|UPDATE|COPY)\s+(flow_runs|task_runs|state_history)\b", re.I
)


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _keys(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Dict):
        return {
            k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)
        }
    return set()


def state_writes(source: str) -> list[str]:
    """Where ``source`` writes run states: one ``line: what`` per finding."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Call):
            func = node.func
            called = _name(func)
            # flow_runs.insert(), state_history.insert()
            if (
                isinstance(func, ast.Attribute)
                and func.attr == "insert"
                and _name(func.value) in RUN_TABLES
            ):
                found.append(f"{line}: {_name(func.value)}.insert()")
            # pg_insert(flow_runs), row_inserter(dialect, "task_runs", ...), ...
            if called in INSERTERS:
                for arg in node.args:
                    table = arg.value if isinstance(arg, ast.Constant) else _name(arg)
                    if table in RUN_TABLES:
                        found.append(f"{line}: {called}({table})")
            # .values(state_type=...), .values({"state_name": ...})
            if isinstance(func, ast.Attribute) and func.attr == "values":
                named = {k.arg for k in node.keywords if k.arg} | set().union(
                    *(_keys(arg) for arg in node.args)
                )
                if named & STATE_COLUMNS:
                    found.append(f"{line}: .values({', '.join(sorted(named & STATE_COLUMNS))})")
        elif isinstance(node, ast.Dict) and _keys(node) & STATE_COLUMNS:
            found.append(f"{line}: a row holding {', '.join(sorted(_keys(node) & STATE_COLUMNS))}")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and SQL_WRITE.search(node.value)
        ):
            found.append(f"{line}: SQL {SQL_WRITE.search(node.value).group(0)!r}")  # type: ignore[union-attr]
    return found


def store_modules() -> list[Path]:
    return sorted(
        path for path in STORE.glob("*.py") if path.name != DOOR and path.name not in NOT_WRITERS
    )


@pytest.mark.parametrize("path", store_modules(), ids=lambda path: path.name)
def test_no_store_module_but_the_door_writes_run_states(path: Path) -> None:
    assert state_writes(path.read_text()) == []


def test_the_door_is_where_the_writes_are() -> None:
    """The scan finds what it looks for (in the door, where every kind of write is)."""
    found = "\n".join(state_writes((STORE / DOOR).read_text()))
    assert "flow_runs.insert()" in found
    assert "state_history.insert()" in found
    assert "row_inserter(task_runs)" in found
    assert "row_inserter(state_history)" in found
    assert ".values(state_message, state_name, state_timestamp)" in found  # Late
    assert "SQL 'UPDATE task_runs'" in found


@pytest.mark.parametrize(
    "source",
    [
        "conn.execute(flow_runs.insert().values(**row))",
        "conn.execute(state_history.insert(), rows)",
        "flow_runs.update().where(w).values(state_type='RUNNING')",
        "task_runs.update().values({'state_name': 'Crashed'})",
        "row = {'id': run_id, 'state_type': 'SCHEDULED'}",
        "pg_insert(flow_runs).on_conflict_do_nothing()",
        "row_inserter(dialect, 'state_history', columns)",
        "conn.exec_driver_sql('UPDATE task_runs SET state_name = ? WHERE id = ?')",
        "self._insert_if_absent(conn, flow_runs, row, ['id'])",
        "insert_if_absent(conn, flow_runs, row, ['id'])",
    ],
)
def test_the_scan_finds_each_kind_of_write(source: str) -> None:
    assert state_writes(source)


@pytest.mark.parametrize(
    "source",
    [
        "sa.select(flow_runs.c.state_type).where(flow_runs.c.state_type == 'RUNNING')",
        "Record(state_type=StateType(row.state_type), state_name=row.state_name)",
        "flow_runs.update().values(heartbeat=now)",
        "conn.execute(flow_run_tags.insert(), rows)",
        "state_history.delete().where(state_history.c.flow_run_id.in_(ids))",
    ],
)
def test_the_scan_lets_reads_and_other_writes_be(source: str) -> None:
    assert state_writes(source) == []
