"""The arrows between rooms point down (DESIGN.md): the import-linter contracts of
pyproject.toml (``[tool.importlinter]``, also run by ``make lint``) hold.

Every import counts, inside functions and under ``TYPE_CHECKING`` too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from importlinter.cli import lint_imports

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_import_contracts_are_kept(capsys: pytest.CaptureFixture[str]) -> None:
    code = lint_imports(config_filename=str(PYPROJECT), no_cache=True, no_logo=True)
    assert code == 0, capsys.readouterr().out
