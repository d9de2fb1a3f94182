"""A state change as the store's state door reports it: which run, from what, to what.

The store writes every flow-run and task-run state through one door
(:mod:`legato.store.state_door`), and hands the changes of each committed transaction
to whoever listens. Events, automations and the UI's live updates start from these.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from legato.states import State, StateType


class RunKind(StrEnum):
    FLOW_RUN = "flow_run"
    TASK_RUN = "task_run"


class PriorState(NamedTuple):
    """The state a run left: its type and name (Late and Scheduled share a type)."""

    type: StateType
    name: str


@dataclass(frozen=True, slots=True)
class StateChange:
    """One run moved from ``old`` (None: the run was made in ``new``) to ``new``."""

    kind: RunKind
    run_id: str
    flow_run_id: str
    """The run itself for a flow run; the flow run it belongs to for a task run."""
    old: PriorState | None
    new: State
