"""The arrows between rooms point down (DESIGN.md): checked on the source, not by convention.

SDK -> engine -> orchestrator protocol; only the store builds SQL; pure rooms do no I/O.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "legato"

# room (a path under src/legato) -> module prefixes it must never import
FORBIDDEN = {
    "states.py": ("legato.", "sqlalchemy", "httpx", "fastapi"),
    "ops.py": ("legato.", "sqlalchemy", "httpx", "fastapi"),
    "engine": ("legato.store", "legato.sdk", "legato.cli", "legato.server", "sqlalchemy"),
    "sdk": ("legato.store", "legato.cli", "legato.server", "sqlalchemy"),
    "schemas": ("legato.store", "legato.engine", "legato.sdk", "sqlalchemy"),
    "orchestrator/protocol.py": ("legato.store", "legato.engine", "sqlalchemy"),
    "schedules": (
        "legato.store",
        "legato.server",
        "legato.engine",
        "legato.orchestrator",
        "legato.sdk",
        "legato.cli",
        "sqlalchemy",
        "httpx",
        "fastapi",
    ),
}
ALLOWED = {("states.py", "legato.errors")}


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("room", sorted(FORBIDDEN))
def test_room_imports_only_rooms_below_it(room: str) -> None:
    target = SRC / room
    files = [target] if target.is_file() else sorted(target.rglob("*.py"))
    assert files
    offending = [
        f"{path.relative_to(SRC)} imports {name}"
        for path in files
        for name in _imports(path)
        if name.startswith(FORBIDDEN[room]) and (room, name) not in ALLOWED
    ]
    assert offending == []
