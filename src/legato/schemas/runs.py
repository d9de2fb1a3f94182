"""Read models of runs, states and logs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from legato.states import StateType


class StateRecord(BaseModel):
    """One stored state of a flow run or task run."""

    model_config = ConfigDict(frozen=True)

    type: StateType
    name: str
    message: str | None = None
    timestamp: datetime
    scheduled_time: datetime | None = None


class TaskRunInput(BaseModel):
    """An edge of the graph: the task run ``upstream_id`` fed parameter ``parameter``
    (``"wait_for"`` when it only had to finish first)."""

    model_config = ConfigDict(frozen=True)

    parameter: str
    upstream_id: str


class TaskRunRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    flow_run_id: str
    name: str
    task_key: str
    dynamic_key: int
    state: StateRecord
    run_count: int
    """How many times the body started (1 + retries used)."""
    tags: list[str] = []
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration_seconds: float | None = None
    created: datetime
    cache_key: str | None = None
    result_key: str | None = None
    upstream_ids: list[str] = []
    inputs: list[TaskRunInput] = []
    subflow_run_id: str | None = None
    """Set when this task run stands for a subflow call."""


class FlowRunRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    flow_name: str
    state: StateRecord
    parameters: dict[str, Any] = {}
    tags: list[str] = []
    run_count: int
    """How many attempts started (in-process retries and resumes both count)."""
    parent_flow_run_id: str | None = None
    parent_task_run_id: str | None = None
    entrypoint: str | None = None
    created: datetime
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration_seconds: float | None = None


class LogRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    timestamp: datetime
    level: str
    logger: str
    message: str
    flow_run_id: str | None = None
    task_run_id: str | None = None
