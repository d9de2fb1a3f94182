"""Fixtures of the end-to-end tests: real flows, a real SQLite file, reads through the client.

Every test already has its own ``LEGATO_HOME`` (see ``tests/conftest.py``). The fixtures
here run flow files in a child process, for what needs a real file: resume by entrypoint,
signals, process pools, a second reader of the database.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.scripts import Scripts


@pytest.fixture
def scripts(tmp_path: Path) -> Scripts:
    folder = tmp_path / "flows"
    folder.mkdir()
    return Scripts(folder)


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    """Child processes a test started; any still alive at the end are killed and reaped."""
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)
