"""An in-memory backend for the engine's machines: what they ask of an orchestrator and
a result store, kept in dicts, and a hand to drive a machine with.

Like procrastinate's InMemoryConnector: the machines run against it unchanged, so a
test can say what each action answers (a refused proposal, a cache entry, a body that
raises on its first attempt) and read back what was asked, in order.
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from legato.engine.actions import (
    RECORDS,
    AcquireSlots,
    Action,
    CallFlowBody,
    CallTask,
    LoadTagSlots,
    Outcome,
    ReleaseSlots,
    Sleep,
    WaitFor,
)
from legato.engine.concurrency import TagSlots
from legato.engine.context import FlowRunContext
from legato.engine.performing import performer
from legato.engine.results import ResultStore
from legato.errors import ObjectNotFound, ResultNotAvailable, SerializationError
from legato.ops import Op, RecordState
from legato.schemas.concurrency import LeaseAnswer
from legato.states import TERMINAL_TYPES, State, StateType, Transition


class MemoryResultStore(ResultStore):
    """Values by key, pickled on write (so an unpicklable value fails as it would on disk)."""

    def __init__(self) -> None:
        super().__init__("memory://")
        self.values: dict[str, Any] = {}

    def write(self, key: str, value: Any) -> None:
        try:
            pickle.dumps(value)
        except Exception as exc:
            raise SerializationError(f"the result cannot be pickled: {exc}") from exc
        self.values[key] = value

    def read(self, key: str) -> Any:
        if key not in self.values:
            raise ResultNotAvailable(f"the stored result {key!r} is missing")
        return self.values[key]

    def exists(self, key: str) -> bool:
        return key in self.values


@dataclass
class MemoryOrchestrator:
    """The engine's side of the orchestrator protocol, in memory.

    Flow-run proposals follow one rule (a terminal run moves only when rerun); set
    ``refuse`` to a reason to refuse the next proposals, or ``take_back`` to answer
    that the run was taken back. Every call is noted in ``calls`` with the thread it
    came from.
    """

    flow_runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: dict[str, list[State]] = field(default_factory=dict)
    task_runs_by_key: dict[str, dict[tuple[str, int], dict[str, Any]]] = field(default_factory=dict)
    cache: dict[str, str] = field(default_factory=dict)
    limited_tags: list[str] = field(default_factory=list)
    full_tags: set[str] = field(default_factory=set)
    ops: list[Op] = field(default_factory=list)
    calls: list[tuple[str, str]] = field(default_factory=list)
    refuse: str | None = None
    take_back: bool = False
    token: str | None = None
    on_taken_back: Callable[[str], None] | None = None
    ending: bool = False

    def _note(self, name: str) -> None:
        self.calls.append((name, threading.current_thread().name))

    def enqueue(self, op: Op) -> None:
        self._note("enqueue")
        self.ops.append(op)

    def flush(self, timeout: float | None = None) -> None:
        self._note("flush")

    def create_flow_run(self, row: dict[str, Any], state: State) -> None:
        self._note("create_flow_run")
        self.flow_runs[row["id"]] = {
            **row,
            "state_type": state.type.value,
            "state_name": state.name,
            "state_message": state.message,
        }
        self.history[row["id"]] = [state]

    def set_flow_run_state(
        self,
        flow_run_id: str,
        state: State,
        *,
        rerun: bool = False,
        fields: dict[str, Any] | None = None,
    ) -> Transition:
        self._note("set_flow_run_state")
        row = self.flow_runs.get(flow_run_id)
        if row is None:
            raise ObjectNotFound(f"no flow run with id {flow_run_id!r}")
        if self.take_back:
            return Transition(False, "taken back", taken_back=True)
        if self.refuse is not None:
            return Transition(False, self.refuse)
        if StateType(row["state_type"]) in TERMINAL_TYPES and not rerun:
            return Transition(False, f"the run is already {row['state_name']}")
        row.update(fields or {})
        row.update(state_type=state.type.value, state_name=state.name, state_message=state.message)
        self.history[flow_run_id].append(state)
        return Transition(True)

    def read_flow_run_row(self, flow_run_id: str) -> dict[str, Any]:
        self._note("read_flow_run_row")
        row = self.flow_runs.get(flow_run_id)
        if row is None:
            raise ObjectNotFound(f"no flow run with id {flow_run_id!r}")
        return dict(row)

    def read_task_runs_by_key(self, flow_run_id: str) -> dict[tuple[str, int], dict[str, Any]]:
        self._note("read_task_runs_by_key")
        return dict(self.task_runs_by_key.get(flow_run_id, {}))

    def find_cached_result(self, cache_key: str, now: float) -> str | None:
        self._note("find_cached_result")
        return self.cache.get(cache_key)

    def read_limited_tags(self) -> list[str]:
        self._note("read_limited_tags")
        return list(self.limited_tags)

    def acquire_concurrency_slots(
        self, tags: list[str], task_run_id: str, flow_run_id: str, holder: str, ttl: float
    ) -> LeaseAnswer:
        self._note("acquire_concurrency_slots")
        blocked = [tag for tag in tags if tag in self.full_tags]
        return LeaseAnswer(acquired=not blocked, blocked=blocked)

    def renew_concurrency_slots(self, task_run_ids: list[str], ttl: float) -> list[str]:
        return list(task_run_ids)

    def release_concurrency_slots(self, task_run_ids: list[str]) -> int:
        self._note("release_concurrency_slots")
        return len(task_run_ids)

    def state_names(self, run_id: str | None = None) -> list[str]:
        """The task-run states handed to the writer, in order (of one task run)."""
        return [
            op.state.name
            for op in self.ops
            if isinstance(op, RecordState) and (run_id is None or op.task_run.id == run_id)
        ]


def flow_context(orch: MemoryOrchestrator, store: ResultStore | None = None) -> FlowRunContext:
    """A flow run's context over the memory backend, as the flow machine makes one."""
    from legato.sdk.runners import ThreadPoolTaskRunner

    return FlowRunContext(
        flow=None,
        flow_run_id="flow-run-1",
        flow_run_name="test-run",
        orchestrator=orch,  # type: ignore[arg-type]
        task_runner=ThreadPoolTaskRunner(),
        result_store=store or MemoryResultStore(),
        log_prints=False,
    )


Answer = Callable[[Action], Any]


@dataclass
class Hand:
    """Drives a machine by hand: each action is answered by the first of ``answers``
    that knows it (a value is sent back, an exception thrown in), and by the memory
    backend otherwise. ``bodies`` are the outcomes of the body calls, in order."""

    orch: MemoryOrchestrator
    bodies: list[Outcome] = field(default_factory=list)
    answers: dict[type, Answer] = field(default_factory=dict)
    ctx: FlowRunContext | None = None
    actions: list[Action] = field(default_factory=list)

    def answer(self, action: Action) -> Any:
        custom = self.answers.get(type(action))
        if custom is not None:
            return custom(action)
        if isinstance(action, CallTask | CallFlowBody):
            ok, value = self.bodies.pop(0)
            return (ok, value)
        if isinstance(action, Sleep | WaitFor | ReleaseSlots):
            return None
        if isinstance(action, LoadTagSlots):
            assert self.ctx is not None
            self.ctx.tag_slots = TagSlots(
                self.orch,  # type: ignore[arg-type]
                self.ctx.flow_run_id,
                frozenset(self.orch.read_limited_tags()),
                ttl=30,
                poll_max=1,
            )
            return self.ctx.tag_slots
        if isinstance(action, AcquireSlots):
            blocked = [tag for tag in action.tags if tag in self.orch.full_tags]
            return f"waiting: {', '.join(blocked)} full" if blocked and not action.wait else None
        return performer(action)(action, self.orch)  # type: ignore[arg-type]

    def drive(self, machine: Generator[Action, Any, State]) -> State:
        """Run ``machine`` to its end; its final state (its error, if it raises)."""
        try:
            action = next(machine)
            while True:
                self.actions.append(action)
                try:
                    outcome = self.answer(action)
                except BaseException as exc:
                    action = machine.throw(exc)
                    continue
                action = machine.send(outcome)
        except StopIteration as stop:
            state: State = stop.value
            return state

    def kinds(self) -> list[str]:
        """The actions asked for, by name ("record" for a record handed to the writer)."""
        return [
            "record" if type(action) in RECORDS else type(action).__name__
            for action in self.actions
        ]
