"""Every command's ``--help`` reads cleanly at 80 columns: nothing swallowed as markup,
paragraphs wrapped whole, values named as words (``--tag TEXT``), flags bare."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator

import pytest
import typer
from typer.testing import CliRunner

from legato.cli.app import app


def _commands() -> Iterator[tuple[list[str], str]]:
    def walk(command: object, path: list[str]) -> Iterator[tuple[list[str], str]]:
        yield path, inspect.cleandoc(getattr(command, "help", None) or "")
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(sub, [*path, name])

    return walk(typer.main.get_command(app), [])


COMMANDS = list(_commands())


def _words(text: str) -> str:
    return " ".join(text.split())


def test_every_command_is_covered() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"server start", "runs ls", "deploy", "worker start", "schedule preview"} <= names
    assert len(names) > 30


@pytest.mark.parametrize(
    ("path", "doc"), COMMANDS, ids=[" ".join(p) or "legato" for p, _ in COMMANDS]
)
def test_help_reads_cleanly_at_80_columns(path: list[str], doc: str) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=80, env={"COLUMNS": "80"})

    assert result.exit_code == 0, result.output
    text = result.output
    too_wide = [line for line in text.splitlines() if len(line) > 80]
    assert too_wide == []
    # Values are named as words; a flag takes none (typer's own style: <bool>, <list[str]>).
    assert not re.search(r"--[\w-]+ <", text), text
    # The docstring's text is all there, in order (nothing read as markup and dropped),
    # and a paragraph is rewrapped whole rather than broken where the source broke it.
    assert _words(doc.partition("\f")[0]) in _words(text)
    for paragraph in doc.split("\n\n"):
        if not paragraph.startswith("\b"):
            assert _words(paragraph) in _words(text)


def test_server_start_help_keeps_the_worker_prefix_literal() -> None:
    result = CliRunner().invoke(app, ["server", "start", "--help"], terminal_width=80)

    assert "prefixed with [worker]." in _words(result.output)
    assert "--no-worker " in result.output and "--no-worker <bool>" not in result.output
