"""Flow runs: list with filters, read one, its task runs and states; propose a state."""

from __future__ import annotations

from typing import Annotated, Self

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from legato import states
from legato.schemas import FlowRunRecord, StateRecord, TaskRunRecord
from legato.server.dependencies import STATE_FILTER_PATTERN, UUID_PATTERN, FlowRunId, StoreDep
from legato.server.errors import ErrorBody
from legato.states import STATE_NAMES, State, StateType

router = APIRouter(prefix="/flow_runs", tags=["flow runs"])

MAX_OFFSET = 2**31 - 1
NO_NUL_PATTERN = r"^[^\x00]*$"
"""PostgreSQL text cannot hold NUL characters; refuse them up front on every backend."""

_TYPE_OF_NAME: dict[str, StateType] = {name: getattr(states, name)().type for name in STATE_NAMES}


@router.get("")
def list_flow_runs(
    store: StoreDep,
    flow_name: Annotated[str | None, Query(max_length=500, pattern=NO_NUL_PATTERN)] = None,
    state: Annotated[
        str | None,
        Query(
            pattern=STATE_FILTER_PATTERN,
            description="A state type (FAILED) or name (TimedOut), any case.",
        ),
    ] = None,
    parent_flow_run_id: Annotated[str | None, Query(pattern=UUID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[FlowRunRecord]:
    """Flow runs, newest first."""
    return store.read_flow_runs(
        flow_name=flow_name,
        state=state,
        parent_flow_run_id=parent_flow_run_id.lower() if parent_flow_run_id else None,
        limit=limit,
        offset=offset,
    )


@router.get("/{flow_run_id}")
def read_flow_run(store: StoreDep, flow_run_id: FlowRunId) -> FlowRunRecord:
    return store.read_flow_run(flow_run_id.lower())


@router.get("/{flow_run_id}/task_runs")
def read_task_runs(store: StoreDep, flow_run_id: FlowRunId) -> list[TaskRunRecord]:
    """The flow run's task runs, in creation order, with their graph edges."""
    store.read_flow_run(flow_run_id.lower())  # 404 for an unknown flow run
    return store.read_task_runs(flow_run_id.lower())


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


@router.post(
    "/{flow_run_id}/state",
    responses={409: {"model": ErrorBody, "description": "The rules refuse this transition."}},
)
def set_flow_run_state(
    store: StoreDep, flow_run_id: FlowRunId, proposal: StateProposal
) -> FlowRunRecord:
    """Propose a state; answered with the flow run as stored afterwards, or 409 and why."""
    run_id = flow_run_id.lower()
    verdict = store.set_flow_run_state(
        run_id, State(proposal.type, proposal.name, proposal.message)
    )
    if not verdict.allowed:
        raise HTTPException(409, detail=verdict.reason)
    return store.read_flow_run(run_id)
