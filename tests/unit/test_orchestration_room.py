"""The orchestration room is pure: it imports only pure rooms below it, never the store,
the server, the engine or an I/O library (DESIGN.md: decisions as pure functions)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOM = Path(__file__).resolve().parents[2] / "src" / "legato" / "orchestration"
ALLOWED = ("legato.states", "legato.errors", "legato.orchestration", "__future__")
STANDARD = ("collections", "dataclasses", "enum", "typing")


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_orchestration_imports_only_pure_modules() -> None:
    files = sorted(ROOM.rglob("*.py"))
    assert files
    offending = [
        f"{path.name} imports {name}"
        for path in files
        for name in _imports(path)
        if not name.startswith(ALLOWED) and name.split(".")[0] not in STANDARD
    ]
    assert offending == []
