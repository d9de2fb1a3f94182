"""A flow run's record as it travels between a running flow and the store.

- :class:`FlowRunRow`: the columns a flow process creates a run with (the engine's
  ``CreateFlowRun``, ``POST /api/orchestrator/flow_runs``);
- :class:`FlowRunFields`: the other columns a state proposal may set with the state;
- :class:`StoredFlowRun`: every stored column of a run but its credential's hash, as
  ``read_flow_run_row`` hands it to the engine and the workers (frozen, read by
  attribute). A test holds it to the ``flow_runs`` table.

The public read record, with datetimes, is :class:`legato.schemas.FlowRunRecord`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from pydantic import BaseModel, ConfigDict

from legato.schemas.fields import Count, Id, Name, Text, Time


class FlowRunRow(BaseModel):
    """The columns of a new flow run (its state comes beside it)."""

    model_config = ConfigDict(extra="forbid")

    id: Id
    flow_name: Name
    name: Name
    parameters: dict[str, Any]
    tags: list[Name]
    entrypoint: Text | None = None
    parent_flow_run_id: Id | None = None
    parent_task_run_id: Id | None = None
    run_count: Count = 0
    created: Time
    start_time: Time | None = None
    end_time: Time | None = None
    # The client process running it (see legato.processes): a server on that host
    # crashes the run once that process is gone.
    process_host: Name | None = None
    process_pid: Count | None = None
    process_started: Time | None = None


class FlowRunFields(BaseModel):
    """The columns a flow-run state proposal may set besides the state."""

    model_config = ConfigDict(extra="forbid")

    start_time: Time | None = None
    end_time: Time | None = None
    run_count: Count | None = None
    process_host: Name | None = None
    process_pid: Count | None = None
    process_started: Time | None = None
    # Only cleared, by a rerun in a process of its own: no worker holds the run then.
    worker_name: None = None
    heartbeat: None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredFlowRun:
    """A flow run as stored (times as epoch seconds), without its credential's hash."""

    id: str
    flow_id: str
    flow_name: str
    name: str
    parameters: dict[str, Any]
    tags: list[str]
    entrypoint: str | None
    parent_flow_run_id: str | None
    parent_task_run_id: str | None
    state_type: str
    state_name: str
    state_message: str | None
    state_timestamp: float
    run_count: int
    created: float
    start_time: float | None
    end_time: float | None
    # Runs of deployments (all None for a flow called from code):
    deployment_id: str | None = None
    work_pool: str | None = None
    schedule_id: str | None = None
    expected_start_time: float | None = None
    idempotency_key: str | None = None
    worker_name: str | None = None
    heartbeat: float | None = None
    # A run called from code: the process running it.
    process_host: str | None = None
    process_pid: int | None = None
    process_started: float | None = None

    @classmethod
    def from_stored(cls, columns: Mapping[str, Any]) -> StoredFlowRun:
        """The record of a run's columns (a row, or the JSON of one); columns it does
        not know (a newer server's) are left out."""
        return cls(**{name: columns[name] for name in STORED_FLOW_RUN_FIELDS if name in columns})

    def columns(self) -> dict[str, Any]:
        """The record as a row of columns (the JSON the server sends)."""
        return {name: getattr(self, name) for name in STORED_FLOW_RUN_FIELDS}


STORED_FLOW_RUN_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(StoredFlowRun))
