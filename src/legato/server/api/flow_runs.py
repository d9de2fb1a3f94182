"""Flow runs: list with filters, read one, its task runs and states; propose a state."""

from __future__ import annotations

from typing import Annotated, Any, Self

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, model_validator

from legato import states
from legato.schemas import (
    NEXT_CURSOR_HEADER,
    FlowRunFilter,
    FlowRunOrder,
    FlowRunRecord,
    StateRecord,
    TaskRunRecord,
    TaskRunSummary,
)
from legato.schemas.fields import NO_NUL_PATTERN as NO_NUL_PATTERN
from legato.schemas.fields import IsoTime
from legato.schemas.runs import DEFAULT_TASK_RUN_PAGE, MAX_TASK_RUN_PAGE
from legato.server.dependencies import STATE_FILTER_PATTERN, UUID_PATTERN, FlowRunId, StoreDep
from legato.server.errors import ErrorBody
from legato.states import STATE_NAMES, State, StateType
from legato.store.queries import CURSOR_PATTERN

router = APIRouter(prefix="/flow_runs", tags=["flow runs"])

MAX_OFFSET = 2**31 - 1
PAGED: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            NEXT_CURSOR_HEADER: {
                "description": "Pass as ``cursor`` for the next page; absent on the last.",
                "schema": {"type": "string"},
            }
        }
    }
}
"""The OpenAPI answer of a listing read a page at a time (the next cursor in a header)."""

_TYPE_OF_NAME: dict[str, StateType] = {name: getattr(states, name)().type for name in STATE_NAMES}


@router.get(
    "",
    responses=PAGED,
)
def list_flow_runs(
    store: StoreDep,
    response: Response,
    flow_name: Annotated[str | None, Query(max_length=500, pattern=NO_NUL_PATTERN)] = None,
    state: Annotated[
        str | None,
        Query(
            pattern=STATE_FILTER_PATTERN,
            description="A state type (FAILED) or name (TimedOut), any case.",
        ),
    ] = None,
    tag: Annotated[
        list[Annotated[str, Field(max_length=255, pattern=NO_NUL_PATTERN)]],
        Query(max_length=20, description="Runs carrying every tag given (repeat the parameter)."),
    ] = [],  # noqa: B006 - FastAPI copies defaults; a list is how it declares a repeatable query
    parent_flow_run_id: Annotated[str | None, Query(pattern=UUID_PATTERN)] = None,
    created_after: Annotated[
        IsoTime | None,
        Query(description="ISO 8601; runs created at or after it (no offset: UTC)."),
    ] = None,
    created_before: Annotated[
        IsoTime | None, Query(description="ISO 8601; runs created before it (no offset: UTC).")
    ] = None,
    due_before: Annotated[
        IsoTime | None,
        Query(description="ISO 8601; runs that started, or are due to start, before it."),
    ] = None,
    due_after: Annotated[
        IsoTime | None,
        Query(description="ISO 8601; runs not started yet and due at or after it."),
    ] = None,
    order: Annotated[
        FlowRunOrder,
        Query(
            description="created: newest created first; start: newest started (or due) "
            "first; due: soonest due first."
        ),
    ] = "created",
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[
        int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip (after the cursor, if any).")
    ] = 0,
    cursor: Annotated[
        str | None,
        Query(
            pattern=CURSOR_PATTERN,
            description=f"The {NEXT_CURSOR_HEADER} header of the previous page.",
        ),
    ] = None,
) -> list[FlowRunRecord]:
    """Flow runs, newest first: one page, the next one's cursor in a response header."""
    where = FlowRunFilter(
        flow_name=flow_name,
        state=state,
        tags=tuple(dict.fromkeys(tag)),
        parent_flow_run_id=parent_flow_run_id.lower() if parent_flow_run_id else None,
        created_after=created_after,
        created_before=created_before,
        due_before=due_before,
        due_after=due_after,
        order=order,
    )
    try:
        page = store.read_flow_run_page(where, limit=limit, offset=offset, cursor=cursor)
    except ValueError as exc:  # a cursor that no page ever gave
        raise _query_error("cursor", str(exc)) from None
    if page.next_cursor is not None:
        response.headers[NEXT_CURSOR_HEADER] = page.next_cursor
    return page.flow_runs


def _query_error(parameter: str, message: str) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("query", parameter), "msg": message, "type": "value_error"}]
    )


@router.get("/{flow_run_id}")
def read_flow_run(store: StoreDep, flow_run_id: FlowRunId) -> FlowRunRecord:
    return store.read_flow_run(flow_run_id.lower())


@router.get(
    "/{flow_run_id}/task_runs",
    responses=PAGED,
)
def read_task_runs(
    store: StoreDep,
    response: Response,
    flow_run_id: FlowRunId,
    limit: Annotated[int, Query(ge=1, le=MAX_TASK_RUN_PAGE)] = DEFAULT_TASK_RUN_PAGE,
    cursor: Annotated[
        str | None,
        Query(
            pattern=CURSOR_PATTERN,
            description=f"The {NEXT_CURSOR_HEADER} header of the previous page.",
        ),
    ] = None,
) -> list[TaskRunRecord]:
    """The flow run's task runs, in creation order, with their graph edges: one page
    (a run with up to ``limit`` task runs fits in the first), the next page's cursor in
    a response header. ``/task_runs/summary`` counts them all by task and state."""
    store.read_flow_run(flow_run_id.lower())  # 404 for an unknown flow run
    page = store.read_task_run_page(flow_run_id.lower(), limit=limit, cursor=cursor)
    if page.next_cursor is not None:
        response.headers[NEXT_CURSOR_HEADER] = page.next_cursor
    return page.task_runs


@router.get("/{flow_run_id}/task_runs/state_histories")
def read_task_state_histories(
    store: StoreDep,
    flow_run_id: FlowRunId,
    task_run_id: Annotated[
        list[Annotated[str, Field(pattern=UUID_PATTERN)]],
        Query(min_length=1, max_length=100, description="Task runs of this flow run (repeat)."),
    ],
) -> dict[str, list[StateRecord]]:
    """The state histories of some of the flow run's task runs (a page's), by task run id."""
    store.read_flow_run(flow_run_id.lower())  # 404 for an unknown flow run
    ids = list(dict.fromkeys(i.lower() for i in task_run_id))
    return store.read_task_state_histories(flow_run_id.lower(), ids)


@router.get("/{flow_run_id}/task_runs/summary")
def read_task_run_summary(store: StoreDep, flow_run_id: FlowRunId) -> TaskRunSummary:
    """How many task runs the flow run has, by task and state (counted in the database)."""
    store.read_flow_run(flow_run_id.lower())  # 404 for an unknown flow run
    return store.read_task_run_summary(flow_run_id.lower())


@router.get("/{flow_run_id}/state_history")
def read_state_history(store: StoreDep, flow_run_id: FlowRunId) -> list[StateRecord]:
    """The flow run's own states, oldest first (not its task runs')."""
    store.read_flow_run(flow_run_id.lower())
    return store.read_state_history(flow_run_id.lower())


class StateProposal(BaseModel):
    """A state proposed for a run; the rules of :mod:`legato.states` decide."""

    model_config = ConfigDict(
        extra="forbid",
        # The name must match the type; said in the schema too, so clients (and the
        # fuzz test) know which pairs are valid. The validator below keeps its messages.
        json_schema_extra={
            "anyOf": [
                {
                    "properties": {
                        "type": {"const": kind.value},
                        "name": {"enum": [n for n, t in _TYPE_OF_NAME.items() if t is kind]},
                    }
                }
                for kind in StateType
            ]
        },
    )

    type: StateType
    name: str = Field(
        description=f"One of {', '.join(STATE_NAMES)}, matching the type.",
        json_schema_extra={"enum": list(STATE_NAMES)},
    )
    message: str | None = Field(default=None, max_length=10_000, pattern=NO_NUL_PATTERN)

    @model_validator(mode="after")
    def _name_matches_type(self) -> Self:
        expected = _TYPE_OF_NAME.get(self.name)
        if expected is None:
            raise ValueError(f"unknown state name {self.name!r}; use one of {STATE_NAMES}")
        if expected is not self.type:
            raise ValueError(
                f"state {self.name!r} has type {expected.value}, not {self.type.value}"
            )
        return self


def timing_fields(row: dict[str, Any], state: State) -> dict[str, Any]:
    """What a state set from outside the engine changes besides the state: entering
    Running starts an attempt (start time, run count), a final state ends it."""
    if state.type is StateType.RUNNING:
        if row["state_type"] == StateType.RUNNING.value:
            return {}
        fields = {"run_count": row["run_count"] + 1, "end_time": None}
        if row["start_time"] is None:
            fields["start_time"] = state.timestamp
        return fields
    if state.is_final() and row["end_time"] is None:
        return {"end_time": state.timestamp}
    return {}


@router.post(
    "/{flow_run_id}/state",
    responses={409: {"model": ErrorBody, "description": "The rules refuse this transition."}},
)
def set_flow_run_state(
    store: StoreDep, flow_run_id: FlowRunId, proposal: StateProposal
) -> FlowRunRecord:
    """Propose a state; answered with the flow run as stored afterwards, or 409 and why."""
    run_id = flow_run_id.lower()
    state = State(proposal.type, proposal.name, proposal.message)
    verdict = store.set_flow_run_state(
        run_id, state, fields=timing_fields(store.read_flow_run_row(run_id), state)
    )
    if not verdict.allowed:
        raise HTTPException(409, detail=verdict.reason)
    return store.read_flow_run(run_id)
