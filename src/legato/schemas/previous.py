"""What a flow run's earlier attempt left, as the engine reads it back (resume, a flow
retry): a plain frozen record, kept apart from the pydantic models so that the engine
(and ``import legato``) does not build them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


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
