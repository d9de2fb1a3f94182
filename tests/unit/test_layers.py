"""The arrows between rooms point down (DESIGN.md): the import-linter contracts of
pyproject.toml (``[tool.importlinter]``, also run by ``make lint``) hold.

Every import counts, inside functions and under ``TYPE_CHECKING`` too. import-linter
runs in its own process: it imports every module of legato and changes the logging
set-up, which the tests run after it must not inherit.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint_imports), str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
