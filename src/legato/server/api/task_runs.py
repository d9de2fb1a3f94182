"""Task runs: list those called outside any flow, resolve one, read one and its state
history (a flow run's task runs are listed under ``/flow_runs/{id}/task_runs``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from legato.schemas import NEXT_CURSOR_HEADER, StateRecord, TaskRunRecord
from legato.schemas.fields import NO_NUL_PATTERN
from legato.server.api.flow_runs import PAGED
from legato.server.dependencies import StoreDep, TaskRunId
from legato.store.queries import CURSOR_PATTERN

router = APIRouter(prefix="/task_runs", tags=["task runs"])


class ResolvedTaskRunId(BaseModel):
    id: str


@router.get("", responses=PAGED)
def list_task_runs(
    store: StoreDep,
    response: Response,
    standalone: Annotated[
        bool,
        Query(
            description="Task runs called outside any flow (no flow run); the only listing "
            "here: a flow run's task runs are at /flow_runs/{flow_run_id}/task_runs.",
            json_schema_extra={"enum": [True]},
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[
        str | None,
        Query(
            pattern=CURSOR_PATTERN,
            description=f"The {NEXT_CURSOR_HEADER} header of the previous page.",
        ),
    ] = None,
) -> list[TaskRunRecord]:
    """Task runs with no flow run, newest first: one page, the next one's cursor in a
    response header."""
    if not standalone:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "standalone"),
                    "msg": "only standalone=true is listed here; read a flow run's task runs "
                    "with GET /api/flow_runs/{flow_run_id}/task_runs",
                    "type": "value_error",
                }
            ]
        )
    page = store.read_standalone_task_run_page(limit=limit, cursor=cursor)
    if page.next_cursor is not None:
        response.headers[NEXT_CURSOR_HEADER] = page.next_cursor
    return page.task_runs


@router.get("/resolve_id")
def resolve_task_run_id(
    store: StoreDep,
    prefix: Annotated[
        str,
        Query(
            min_length=1,
            max_length=500,
            pattern=NO_NUL_PATTERN,
            description="A unique start of the task run's id, or the name of a task run "
            "called outside any flow.",
        ),
    ],
) -> ResolvedTaskRunId:
    return ResolvedTaskRunId(id=store.resolve_task_run_id(prefix))


@router.get("/{task_run_id}")
def read_task_run(store: StoreDep, task_run_id: TaskRunId) -> TaskRunRecord:
    return store.read_task_run(task_run_id.lower())


@router.get("/{task_run_id}/state_history")
def read_state_history(store: StoreDep, task_run_id: TaskRunId) -> list[StateRecord]:
    """The task run's states, oldest first."""
    store.read_task_run(task_run_id.lower())  # 404 for an unknown task run
    return store.read_state_history(task_run_id.lower())
