"""A task run in memory, and the ops that record it.

The engine keeps the current facts of a task run here and sends a snapshot of
them with each state change; the batched writer keeps only the last snapshot
per task run in a batch, so three state changes cost one row update.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from legato.states import TERMINAL_TYPES, State, StateType

_RUNNING = StateType.RUNNING


@dataclass(eq=False, slots=True)
class TaskRun:
    id: str
    flow_run_id: str
    name: str
    task_key: str
    dynamic_key: int
    tags: list[str]
    state: State
    run_count: int = 0
    created: float = field(default_factory=time.time)
    start_time: float | None = None
    end_time: float | None = None
    cache_key: str | None = None
    cache_expiration: float | None = None
    result_key: str | None = None
    subflow_run_id: str | None = None

    def fields(self) -> dict[str, Any]:
        state = self.state
        return {
            "state_type": state.type._value_,
            "state_name": state.name,
            "state_message": state.message,
            "state_timestamp": state.timestamp,
            "run_count": self.run_count,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "cache_key": self.cache_key,
            "cache_expiration": self.cache_expiration,
            "result_key": self.result_key,
            "subflow_run_id": self.subflow_run_id,
        }

    def insert_op(self) -> tuple[str, dict[str, Any]]:
        row = self.fields()
        row.update(
            id=self.id,
            flow_run_id=self.flow_run_id,
            name=self.name,
            task_key=self.task_key,
            dynamic_key=self.dynamic_key,
            tags=self.tags,
            created=self.created,
        )
        return ("task_run", row)

    def state_op(self) -> tuple[str, dict[str, Any], dict[str, Any]]:
        state = self.state
        history = {
            "flow_run_id": self.flow_run_id,
            "task_run_id": self.id,
            "type": state.type._value_,
            "name": state.name,
            "message": state.message,
            "timestamp": state.timestamp,
            "scheduled_time": state.scheduled_time,
        }
        return ("state", history, self.fields())

    def move_to(self, state: State) -> State:
        """Take ``state`` as current, keeping start/end times and the attempt count right."""
        kind = state.type
        if kind is _RUNNING:
            self.run_count += 1
            if self.start_time is None:
                self.start_time = state.timestamp
            self.end_time = None
        elif kind in TERMINAL_TYPES:
            self.end_time = state.timestamp
        self.state = state
        return state
