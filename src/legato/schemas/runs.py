"""Read models of runs, states and logs."""

from __future__ import annotations

from collections.abc import Iterable
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
    deployment_id: str | None = None
    """Set for runs of a deployment (with the fields below)."""
    work_pool: str | None = None
    expected_start_time: datetime | None = None
    """When it was due: its schedule slot, or when it was asked for."""
    worker_name: str | None = None
    """The worker that claimed it (runs of deployments)."""


class LogRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    timestamp: datetime
    level: str
    logger: str
    message: str
    flow_run_id: str | None = None
    task_run_id: str | None = None


class FlowRunFilter(BaseModel):
    """Which flow runs a listing returns; every given field must match (AND).

    ``tags``: runs carrying all of them. ``created_after`` is inclusive,
    ``created_before`` exclusive (aware datetimes; naive ones are read as UTC).
    """

    model_config = ConfigDict(frozen=True)

    flow_name: str | None = None
    state: str | None = None
    """A state type (``FAILED``) or a state name (``TimedOut``), any case."""
    tags: tuple[str, ...] = ()
    parent_flow_run_id: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


NEXT_CURSOR_HEADER = "X-Next-Cursor"
"""The HTTP API answers a list of flow runs; the next page's cursor travels in this
response header (absent on the last page), as GitHub's API sends ``Link``."""


class FlowRunPage(BaseModel):
    """One page of a listing, newest first, and the cursor of the next (None: last page)."""

    flow_runs: list[FlowRunRecord]
    next_cursor: str | None = None


class ListsFlowRuns:
    """``read_flow_runs(**filters)``, written once for every reader that can answer
    ``read_flow_run_page`` (the store, the local and the HTTP orchestrators)."""

    def read_flow_run_page(
        self,
        where: FlowRunFilter | None = None,
        *,
        limit: int = 50,
        offset: int = 0,
        cursor: str | None = None,
    ) -> FlowRunPage:
        raise NotImplementedError

    def read_flow_runs(
        self,
        *,
        flow_name: str | None = None,
        state: str | None = None,
        tags: Iterable[str] = (),
        parent_flow_run_id: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
        cursor: str | None = None,
    ) -> list[FlowRunRecord]:
        """Flow runs, newest first; every given filter must match (see FlowRunFilter)."""
        where = FlowRunFilter(
            flow_name=flow_name,
            state=state,
            tags=tuple(tags),
            parent_flow_run_id=parent_flow_run_id,
            created_after=created_after,
            created_before=created_before,
        )
        return self.read_flow_run_page(where, limit=limit, offset=offset, cursor=cursor).flow_runs


class FlowRecord(BaseModel):
    """A flow: registered by name the first time it runs."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    created: datetime
