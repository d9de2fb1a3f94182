"""A run's run time, summed from its state history: the stretches it spends running."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from legato.cli.run_time import run_time_seconds
from legato.schemas import StateRecord
from legato.states import StateType

S = StateType
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _history(*states: tuple[float, StateType, str]) -> list[StateRecord]:
    return [
        StateRecord(type=kind, name=name, timestamp=T0 + timedelta(seconds=at))
        for at, kind, name in states
    ]


@pytest.mark.parametrize(
    ("history", "now", "expected"),
    [
        ([], 10, None),
        ([(0, S.SCHEDULED, "Scheduled"), (1, S.PENDING, "Pending")], 10, None),
        (
            [(0, S.PENDING, "Pending"), (1, S.RUNNING, "Running"), (3.5, S.COMPLETED, "Completed")],
            99,
            2.5,
        ),
        (  # two attempts, a long wait between them: only the running stretches count
            [
                (0, S.PENDING, "Pending"),
                (1, S.RUNNING, "Running"),
                (3, S.FAILED, "Failed"),
                (30, S.SCHEDULED, "AwaitingRetry"),
                (31, S.PENDING, "Pending"),
                (32, S.RUNNING, "Retrying"),
                (35, S.COMPLETED, "Completed"),
            ],
            99,
            5.0,
        ),
        (  # in-process retries follow each other; Cancelling still runs
            [
                (0, S.RUNNING, "Running"),
                (1, S.RUNNING, "Retrying"),
                (2, S.CANCELLING, "Cancelling"),
                (4, S.CANCELLED, "Cancelled"),
            ],
            99,
            4.0,
        ),
        ([(0, S.PENDING, "Pending"), (2, S.RUNNING, "Running")], 7, 5.0),  # still running
    ],
)
def test_run_time_sums_the_running_stretches(
    history: list[tuple[float, StateType, str]], now: float, expected: float | None
) -> None:
    assert run_time_seconds(_history(*history), T0 + timedelta(seconds=now)) == expected
