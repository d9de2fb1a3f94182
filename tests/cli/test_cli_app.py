"""The ``legato`` command itself: help, version, ``python -m legato``, a light start-up."""

from __future__ import annotations

import subprocess
import sys

import legato
from fixtures.cli import cli
from fixtures.commands import run_legato


def test_version_prints_the_package_version() -> None:
    done = run_legato("--version")

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"legato {legato.__version__}"


def test_help_says_what_legato_is_and_lists_runs() -> None:
    result = cli("--help")

    assert result.exit_code == 0
    assert "workflow orchestrator" in result.stdout
    assert "runs" in result.stdout


def test_runs_help_lists_its_commands() -> None:
    result = cli("runs", "--help")

    assert result.exit_code == 0
    for command in ("ls", "show", "logs", "retry"):
        assert command in result.stdout


def test_unknown_command_is_a_usage_error() -> None:
    assert cli("runs", "frobnicate").exit_code == 2


def test_starting_the_cli_does_not_open_the_store() -> None:
    code = (
        "import sys\n"
        "from legato.cli.app import app\n"
        "print(sorted(m for m in ('sqlalchemy', 'alembic', 'legato.store') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )

    assert done.stdout.strip() == "[]"
