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

from dataclasses import dataclass, field, fields
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict

from legato.schemas.fields import Count, Id, Key, Name, StateName, Text, Time
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


@dataclass(frozen=True, slots=True, kw_only=True)
class PreviousTaskRun:
    """A task run of an earlier attempt of the same flow run (resume, flow retries).

    Read back from the store (``read_task_runs_by_key``), or made by the engine from
    the attempt it just ran, which may hold the value in memory (``has_value``,
    ``value``: never stored nor sent)."""

    id: str
    task_key: str
    dynamic_key: int
    state_type: str
    state_name: str
    run_count: int
    result_key: str | None
    created: float
    start_time: float | None
    end_time: float | None
    cache_key: str | None = None
    cache_expiration: float | None = None
    subflow_run_id: str | None = None
    has_value: bool = False
    value: Any = field(default=None, repr=False, compare=False)

    def stored(self) -> dict[str, Any]:
        """The columns this record was read from (what the server sends a client)."""
        return {name: getattr(self, name) for name in PREVIOUS_TASK_RUN_FIELDS}

    @classmethod
    def from_stored(cls, columns: Any) -> PreviousTaskRun:
        """The record of a task run's stored columns (a mapping holding at least
        :data:`PREVIOUS_TASK_RUN_FIELDS`; others are ignored)."""
        return cls(**{name: columns[name] for name in PREVIOUS_TASK_RUN_FIELDS})


PREVIOUS_TASK_RUN_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(PreviousTaskRun) if f.name not in ("has_value", "value")
)
"""The stored columns a :class:`PreviousTaskRun` holds (all of them task-run columns)."""
