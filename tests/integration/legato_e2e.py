"""Shared helpers of the end-to-end tests (imported by their modules and conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import legato
from legato.schemas import StateRecord


def state_names(run_id: str) -> list[str]:
    """The stored state names of a flow run or task run, oldest first."""
    return [state.name for state in legato.get_client().read_state_history(run_id)]


def seconds(state: StateRecord) -> float:
    return state.timestamp.timestamp()


@dataclass
class Scripts:
    """Writes flow files into a test's tmp_path and runs them with this venv's Python."""

    folder: Path

    def write(self, name: str, source: str) -> Path:
        path = self.folder / name
        path.write_text(textwrap.dedent(source))
        return path

    def env(self) -> dict[str, str]:
        env = dict(os.environ)  # carries the test's LEGATO_HOME
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def run(self, path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(path), *args],
            env=self.env(),
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, path: Path, *args: str) -> subprocess.Popen[str]:
        """Start ``path`` in the background; its output goes to ``<path>.out`` / ``.err``."""
        with (
            open(f"{path}.out", "w") as out,
            open(f"{path}.err", "w") as err,
        ):
            return subprocess.Popen(
                [sys.executable, str(path), *args],
                env=self.env(),
                cwd=self.folder,
                stdout=out,
                stderr=err,
                text=True,
            )

    @staticmethod
    def output(path: Path) -> str:
        """What a started script printed so far (for assertion messages)."""
        parts = []
        for suffix in (".out", ".err"):
            file = Path(f"{path}{suffix}")
            if file.exists():
                parts.append(f"--- {file.name} ---\n{file.read_text()}")
        return "\n".join(parts)


def poll(check: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """Call ``check`` until it returns something truthy or ``timeout`` passes; return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)
