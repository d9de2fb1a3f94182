"""Read models of runs, states and logs."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, Literal

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
    flow_run_id: str | None
    """None for a task called outside any flow (a task run of its own)."""
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
    task_run_name: str | None = None
    """The name of the task run that logged it (None for the flow run's own lines)."""
    id: int | None = None
    """The line's position in its store: lines read back in this order, and a page
    continues after it (``cursor=str(id)``)."""


FlowRunOrder = Literal["created", "start", "due"]


class FlowRunFilter(BaseModel):
    """Which flow runs a listing returns; every given field must match (AND).

    ``tags``: runs carrying all of them. ``created_after`` is inclusive,
    ``created_before`` exclusive (aware datetimes; naive ones are read as UTC).
    ``due_before``: runs that started, or are due to start, before that time (what has
    happened; leaves out runs planned for later); ``due_after``: runs not started yet and
    due at or after it (what is planned).

    ``order``: ``created`` (newest created first), ``start`` (newest started, or due,
    first: a planned run counts from when it is due, not from when the scheduler made
    it) or ``due`` (soonest due first, for what is planned).
    """

    model_config = ConfigDict(frozen=True)

    flow_name: str | None = None
    state: str | None = None
    """A state type (``FAILED``) or a state name (``TimedOut``), any case."""
    tags: tuple[str, ...] = ()
    parent_flow_run_id: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None
    order: FlowRunOrder = "created"


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
        due_before: datetime | None = None,
        due_after: datetime | None = None,
        order: FlowRunOrder = "created",
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
            due_before=due_before,
            due_after=due_after,
            order=order,
        )
        return self.read_flow_run_page(where, limit=limit, offset=offset, cursor=cursor).flow_runs


class FlowRecord(BaseModel):
    """A flow: registered by name the first time it runs."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    created: datetime


# -- log pages ---------------------------------------------------------------------------

DEFAULT_LOG_PAGE = 1000
MAX_LOG_PAGE = 10_000
LOG_CURSOR_PATTERN = r"^[0-9]{1,18}$"
"""A log cursor is the id of the last line read (18 digits: always a valid 64-bit id)."""

LOG_LEVELS: dict[str, int] = {
    "DEBUG": 10,
    "INFO": 20,
    "WARNING": 30,
    "ERROR": 40,
    "CRITICAL": 50,
}
"""The level names Python's logging stores, by number; ``WARN`` and ``FATAL`` are read
as their aliases. A line of a level outside this table (a custom level) is always shown."""

LOG_LEVEL_PATTERN = r"^(?i:debug|info|warn|warning|error|critical|fatal|[0-9]{1,3})$"


def log_level_floor(level: str | int) -> int:
    """The number of a minimum level given by name (any case) or number."""
    if isinstance(level, int):
        return level
    text = level.strip().upper()
    text = {"WARN": "WARNING", "FATAL": "CRITICAL"}.get(text, text)
    if text in LOG_LEVELS:
        return LOG_LEVELS[text]
    if text.isdigit():
        return int(text)
    raise ValueError(
        f"unknown log level {level!r}; use one of {', '.join(LOG_LEVELS)} (any case) or a number"
    )


def levels_at_or_above(level: str | int | None) -> list[str] | None:
    """The stored level names a minimum level keeps (None: keep every line)."""
    if level is None:
        return None
    floor = log_level_floor(level)
    if floor <= min(LOG_LEVELS.values()):
        return None
    return [name for name, number in LOG_LEVELS.items() if number >= floor]


class LogPage(BaseModel):
    """Log lines in the order stored, and the cursor of the next page (None: none yet).

    A page holds at most its ``limit`` lines and, past its first line, about 4 MB of
    message text, so that one read of a run that printed a million lines stays small.
    """

    logs: list[LogRecord]
    next_cursor: str | None = None


class ReadsLogs:
    """``read_logs`` and ``iter_logs``, written once over ``read_log_page`` for the
    store and the local and HTTP orchestrators."""

    def read_log_page(
        self,
        flow_run_id: str,
        *,
        task_run_id: str | None = None,
        level: str | int | None = None,
        limit: int = DEFAULT_LOG_PAGE,
        cursor: str | None = None,
    ) -> LogPage:
        raise NotImplementedError

    def iter_logs(
        self,
        flow_run_id: str,
        *,
        task_run_id: str | None = None,
        level: str | int | None = None,
        cursor: str | None = None,
        page_size: int = DEFAULT_LOG_PAGE,
    ) -> Iterator[LogRecord]:
        """Every line after ``cursor``, one page in memory at a time."""
        while True:
            page = self.read_log_page(
                flow_run_id, task_run_id=task_run_id, level=level, limit=page_size, cursor=cursor
            )
            yield from page.logs
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def read_logs(
        self,
        flow_run_id: str,
        *,
        task_run_id: str | None = None,
        level: str | int | None = None,
        limit: int | None = None,
    ) -> list[LogRecord]:
        """The flow run's lines (its task runs' included) in the order stored: the first
        ``limit``, or all of them (read page by page)."""
        lines = self.iter_logs(
            flow_run_id,
            task_run_id=task_run_id,
            level=level,
            page_size=min(limit or MAX_LOG_PAGE, MAX_LOG_PAGE),
        )
        return list(lines if limit is None else itertools.islice(lines, limit))


# -- task run pages ----------------------------------------------------------------------

DEFAULT_TASK_RUN_PAGE = 1000
MAX_TASK_RUN_PAGE = 1000


class TaskRunPage(BaseModel):
    """Task runs in creation order, and the cursor of the next page (None: last page)."""

    task_runs: list[TaskRunRecord]
    next_cursor: str | None = None


class TaskRunCount(BaseModel):
    """How many task runs of one task are in one state."""

    model_config = ConfigDict(frozen=True)

    task: str
    """The task's name (its task runs are named ``<task>-0``, ``<task>-1``, ...)."""
    task_key: str
    state_type: StateType
    state_name: str
    count: int


class TaskRunSummary(BaseModel):
    """A flow run's task runs counted by task and state (one GROUP BY, however many)."""

    flow_run_id: str
    task_runs: int
    """How many task runs the flow run has in all."""
    counts: list[TaskRunCount]
    """By task (in order of each task's first task run), then state type and name."""
