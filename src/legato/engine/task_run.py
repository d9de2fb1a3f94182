"""A task run in memory, and the ops that record it.

The engine keeps the current facts of a task run here and enqueues the object
itself with each state change; the batched writer reads its columns when it
writes, once per task run per batch, so three state changes cost one row write
and no copies are made on the engine's thread.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from legato.ops import InsertTaskRun, RecordState, UpdateTaskRun
from legato.states import TERMINAL_TYPES, State, StateType

_RUNNING = StateType.RUNNING


@dataclass(eq=False, slots=True)
class TaskRun:
    id: str
    flow_run_id: str | None  # None: a task called outside any flow
    name: str
    task_key: str
    dynamic_key: int
    tags: Sequence[str]
    state: State
    run_count: int = 0
    created: float = field(default_factory=time.time)
    start_time: float | None = None
    end_time: float | None = None
    cache_key: str | None = None
    cache_expiration: float | None = None
    result_key: str | None = None
    subflow_run_id: str | None = None

    # The current-state columns, read by the store's writer when it writes the row.
    @property
    def state_type(self) -> str:
        return self.state.type._value_

    @property
    def state_name(self) -> str:
        return self.state.name

    @property
    def state_message(self) -> str | None:
        return self.state.message

    @property
    def state_timestamp(self) -> float:
        return self.state.timestamp

    def insert_op(self) -> InsertTaskRun:
        return InsertTaskRun(self)

    def state_op(self) -> RecordState:
        return RecordState(self, self.state)

    def update_op(self) -> UpdateTaskRun:
        return UpdateTaskRun(self)

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
