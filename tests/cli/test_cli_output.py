"""Formatting helpers of the CLI: durations, state colors, JSON documents, error lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime

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
