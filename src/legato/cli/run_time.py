"""A flow run's run time: how long its attempts ran, summed, shown beside its duration.

A run's duration is the wall-clock span from its first attempt's start to its end, so
a run retried by hand twice counts the time between its attempts too (39.8 s shown for
about 5 s of work). Its run time sums the stretches its state history spends running
(Running or Retrying, and Cancelling while its process stops), read from that history.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from legato.states import StateType

if TYPE_CHECKING:
    from legato.orchestrator.protocol import Orchestrator
    from legato.schemas import FlowRunRecord, StateRecord

RUNNING_TYPES = frozenset({StateType.RUNNING, StateType.CANCELLING})
"""The state types in which a run's process is at work."""


def run_time_seconds(history: Sequence[StateRecord], now: datetime) -> float | None:
    """The seconds ``history`` (a run's states, oldest first) spends in a running state,
    up to ``now`` for a run still running; None for a run that never ran."""
    total = 0.0
    ran = False
    for index, state in enumerate(history):
        if StateType(state.type) not in RUNNING_TYPES:
            continue
        ran = True
        end = history[index + 1].timestamp if index + 1 < len(history) else now
        total += max(0.0, (end - state.timestamp).total_seconds())
    return round(total, 6) if ran else None


def run_time_of(client: Orchestrator, record: FlowRunRecord, now: datetime) -> float | None:
    """The run time of ``record``: its duration when it ran once (one stretch, nothing
    between), else summed from its state history (one read)."""
    if record.run_count <= 1 and record.end_time is not None:
        return record.duration_seconds
    if record.run_count == 0:
        return None
    return run_time_seconds(client.read_state_history(record.id), now)
