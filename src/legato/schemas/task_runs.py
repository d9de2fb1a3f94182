"""A task run's record as it travels: the one list of its columns.

:class:`TaskRunRow` is every column of a task run, as a client sends it in
``POST /api/bulk`` and as the store's batched writer reads it (by attribute, off this
model or off the engine's :class:`~legato.engine.task_run.TaskRun`, which keeps the
same names). The name tuples below are derived from it; the client's sender, the
writer's statements and the state door take them from here, and tests hold the
``task_runs`` table and the engine's ``TaskRun`` to the same names.

:class:`PreviousTaskRun` is what a flow run's earlier attempt left, as the engine
reads it back (resume, a flow retry).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

from legato.schemas.fields import Count, Id, Key, Name, StateName, Text, Time
from legato.schemas.previous import PREVIOUS_TASK_RUN_FIELDS as PREVIOUS_TASK_RUN_FIELDS
from legato.schemas.previous import PreviousTaskRun as PreviousTaskRun
from legato.states import StateType


def _state_type(value: StateType) -> str:
    # The store's bulk statements read the plain value.
    return value.value


class TaskRunRow(BaseModel):
    """Every column of a task run; read by the store's bulk statements by attribute."""

    model_config = ConfigDict(extra="forbid")

    id: Id
    flow_run_id: Id | None  # None: a task called outside any flow
    name: Name
    task_key: Key
    dynamic_key: Count
    tags: list[Name]
    state_type: Annotated[StateType, AfterValidator(_state_type)]
    state_name: StateName
    state_message: Text | None = None
    state_timestamp: Time
    run_count: Count
    created: Time
    start_time: Time | None = None
    end_time: Time | None = None
    cache_key: Key | None = None
    cache_expiration: Time | None = None
    result_key: Key | None = None
    subflow_run_id: Id | None = None


TASK_RUN_FIELDS: tuple[str, ...] = tuple(TaskRunRow.model_fields)
"""Every column of a task run, in the order of :class:`TaskRunRow`."""

TASK_RUN_STATE_FIELDS = ("state_type", "state_name", "state_message", "state_timestamp")
"""The current-state columns (the state door alone writes them)."""

TASK_RUN_SET_ONCE = ("id", "flow_run_id", "name", "task_key", "dynamic_key", "tags", "created")
"""The columns fixed when a task run is inserted."""

TASK_RUN_CURRENT_FIELDS: tuple[str, ...] = tuple(
    name for name in TASK_RUN_FIELDS if name not in TASK_RUN_SET_ONCE
)
"""The columns of a task run that change after it is inserted (its current facts),
in the order of :class:`TaskRunRow`: the state columns first."""
