"""Formatting helpers of the CLI: durations, state colors, JSON documents, error lines."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from legato.cli.output import format_duration, print_json, reports_errors, state_text
from legato.errors import StoreError
from legato.schemas import StateRecord
from legato.states import StateType


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (None, "-"),
        (0.0, "<1ms"),
        (0.0004, "<1ms"),
        (0.25, "250ms"),
        (4.2, "4.20s"),
        (187, "3m 07s"),
        (7500, "2h 05m 00s"),
    ],
)
def test_format_duration(seconds: float | None, expected: str) -> None:
    assert format_duration(seconds) == expected


@pytest.mark.parametrize(
    ("state_type", "name", "color"),
    [
        (StateType.COMPLETED, "Completed", "green"),
        (StateType.COMPLETED, "Cached", "green"),
        (StateType.FAILED, "TimedOut", "red"),
        (StateType.CRASHED, "Crashed", "bold red"),
        (StateType.RUNNING, "Retrying", "blue"),
    ],
)
def test_state_text_colors_by_state_type(state_type: StateType, name: str, color: str) -> None:
    state = StateRecord(type=state_type, name=name, timestamp=datetime.now(UTC))

    text = state_text(state)

    assert text.plain == name
    assert str(text.style) == color


def test_print_json_writes_one_document_in_field_order(capsys: pytest.CaptureFixture[str]) -> None:
    state = StateRecord(
        type=StateType.FAILED,
        name="Failed",
        message="boom",
        timestamp=datetime(2025, 1, 31, 12, 0, tzinfo=UTC),
    )

    print_json(state.model_dump(mode="json"))

    out = capsys.readouterr().out
    assert list(json.loads(out)) == ["type", "name", "message", "timestamp", "scheduled_time"]
    assert json.loads(out)["timestamp"] == "2025-01-31T12:00:00Z"


def test_reports_errors_turns_legato_errors_into_one_line_and_exit_1() -> None:
    app = typer.Typer()

    @app.command()
    @reports_errors
    def broken() -> None:
        raise StoreError("the database /x/legato.db is damaged\nmove it aside")

    result = CliRunner().invoke(app, [])

    assert result.exit_code == 1
    assert result.stderr == "error: the database /x/legato.db is damaged move it aside\n"


def test_reports_errors_lets_other_bugs_raise() -> None:
    app = typer.Typer()

    @app.command()
    @reports_errors
    def broken() -> None:
        raise KeyError("a bug")

    result = CliRunner().invoke(app, [])

    assert isinstance(result.exception, KeyError)


HOSTILE_FLOW = """
from legato import flow, get_run_logger

TITLE = "\\x1b]0;pwned\\x07"
CLEAR = "\\x1b[2J\\x1b[1A\\r"


@flow(name=f"esc{TITLE}name")
def hostile() -> None:
    get_run_logger().warning(f"line{CLEAR}{TITLE}shown")
    raise ValueError(f"boom{CLEAR}")


if __name__ == "__main__":
    hostile(return_state=True)
"""


def _through_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """What ``legato args`` writes to a terminal (a pseudo-terminal: rich's own path)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "legato", *args],
        stdout=follower,
        stderr=follower,
        env={**env, "COLUMNS": "200"},
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=60) == 0, b"".join(chunks)
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("terminal", [False, True], ids=["pipe", "terminal"])
def test_escape_sequences_from_runs_are_not_printed_when_listing_and_reading_logs(
    tmp_path: Path, terminal: bool
) -> None:
    """A flow's name, its failure message and its log lines reached the operator's
    terminal as they were: an escape sequence in one set the window title, cleared the
    screen or rewrote the lines above it."""
    env = {**os.environ, "LEGATO_HOME": str(tmp_path / "home")}
    env.pop("LEGATO_API_URL", None)
    env.pop("LEGATO_DATABASE_URL", None)
    flow_file = tmp_path / "hostile.py"
    flow_file.write_text(HOSTILE_FLOW)
    ran = subprocess.run(
        [sys.executable, str(flow_file)], env=env, capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stderr

    def legato(*args: str) -> str:
        if terminal:
            return _through_a_terminal(list(args), env)
        done = subprocess.run(
            [sys.executable, "-m", "legato", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    listed = json.loads(legato("runs", "ls", "--json")) if not terminal else None
    run_id = listed[0]["id"] if listed else _only_run_id(env)
    outputs = {
        "runs ls": legato("runs", "ls"),
        "flows ls": legato("flows", "ls"),
        "runs show": legato("runs", "show", run_id),
        "runs logs": legato("runs", "logs", run_id),
    }
    for command, output in outputs.items():
        assert "\x1b]0;" not in output, command
        assert "\x1b[2J" not in output and "\x1b[1A" not in output, command
        assert "\x07" not in output and "\r\r" not in output, command
    assert "pwned" in outputs["flows ls"]
    assert "[2J[1A]0;pwnedshown" in outputs["runs logs"]
    assert "boom" in outputs["runs show"]


def _only_run_id(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "legato", "runs", "ls", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    run_id: str = json.loads(done.stdout)[0]["id"]
    return run_id
