"""Log lines of a flow run (and of its task runs), or of one task run, a bounded page at
a time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.exceptions import RequestValidationError

from legato.schemas import NEXT_CURSOR_HEADER, LogPage, LogRecord
from legato.schemas.runs import (
    DEFAULT_LOG_PAGE,
    LOG_CURSOR_PATTERN,
    LOG_LEVEL_PATTERN,
    MAX_LOG_PAGE,
)
from legato.server.api.flow_runs import PAGED
from legato.server.dependencies import UUID_PATTERN, FlowRunId, StoreDep, TaskRunId

router = APIRouter(tags=["logs"])


LevelQuery = Annotated[
    str | None,
    Query(
        pattern=LOG_LEVEL_PATTERN,
        description="Minimum level: DEBUG, INFO, WARNING, ERROR, CRITICAL (any case) or a "
        "number. Lines of levels legato cannot rank (custom ones) are always included.",
    ),
]
LimitQuery = Annotated[
    int,
    Query(
        ge=1,
        le=MAX_LOG_PAGE,
        description="Most lines in the page; a page also ends after about 4 MB of text.",
    ),
]


def _page_answer(response: Response, page: LogPage) -> list[LogRecord]:
    """The page's lines; the next page's cursor in the response header."""
    if page.next_cursor is not None:
        response.headers[NEXT_CURSOR_HEADER] = page.next_cursor
    return page.logs


@router.get(
    "/flow_runs/{flow_run_id}/logs",
    responses=PAGED,
)
def read_logs(
    store: StoreDep,
    response: Response,
    flow_run_id: FlowRunId,
    task_run_id: Annotated[
        str | None, Query(pattern=UUID_PATTERN, description="Only this task run's lines.")
    ] = None,
    level: LevelQuery = None,
    limit: LimitQuery = DEFAULT_LOG_PAGE,
    cursor: Annotated[
        str | None,
        Query(
            pattern=LOG_CURSOR_PATTERN,
            description=f"The {NEXT_CURSOR_HEADER} header of the previous page, or the id of "
            "the last line read (to follow a run: lines stored since).",
        ),
    ] = None,
) -> list[LogRecord]:
    """The flow run's log lines in the order stored (its task runs' lines included):
    one page, the next one's cursor in a response header."""
    store.read_flow_run(flow_run_id.lower())  # 404 for an unknown flow run
    try:
        page = store.read_log_page(
            flow_run_id.lower(),
            task_run_id=task_run_id.lower() if task_run_id else None,
            level=level,
            limit=limit,
            cursor=cursor,
        )
    except ValueError as exc:  # a level the pattern let through but no table knows
        raise RequestValidationError(
            [{"loc": ("query", "level"), "msg": str(exc), "type": "value_error"}]
        ) from None
    return _page_answer(response, page)


@router.get(
    "/task_runs/{task_run_id}/logs",
    responses=PAGED,
)
def read_task_run_logs(
    store: StoreDep,
    response: Response,
    task_run_id: TaskRunId,
    level: LevelQuery = None,
    limit: LimitQuery = DEFAULT_LOG_PAGE,
    cursor: Annotated[
        str | None,
        Query(
            pattern=LOG_CURSOR_PATTERN,
            description=f"The {NEXT_CURSOR_HEADER} header of the previous page, or the id of "
            "the last line read.",
        ),
    ] = None,
) -> list[LogRecord]:
    """One task run's log lines in the order stored, whether or not it has a flow run
    (a task called outside any flow has none): one page, the next one's cursor in a
    response header."""
    store.read_task_run(task_run_id.lower())  # 404 for an unknown task run
    try:
        page = store.read_task_run_log_page(
            task_run_id.lower(), level=level, limit=limit, cursor=cursor
        )
    except ValueError as exc:  # a level the pattern let through but no table knows
        raise RequestValidationError(
            [{"loc": ("query", "level"), "msg": str(exc), "type": "value_error"}]
        ) from None
    return _page_answer(response, page)
