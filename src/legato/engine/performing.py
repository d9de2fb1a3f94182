"""Doing what a machine asked: the orchestrator's and the result store's part of the
actions in :mod:`legato.engine.actions`, once for both kinds of driver.

Running a body or state hooks, sleeping, waiting for futures and tag slots are each
driver's own (they differ between a thread and an event loop); everything else is
one call, made here. :func:`perform_async` makes it in a thread when the action is
``blocking`` (HTTP to a server, a database, a file), and inline otherwise: handing
a record to the batched writer costs less than the hop to a thread would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from legato.engine.actions import (
    RECORDS,
    Action,
    CreateFlowRun,
    Flush,
    Log,
    LookUpCache,
    ProposeFlowRunState,
    ReadFlowRun,
    ReadPrevious,
    ReadResult,
    Record,
    WriteResult,
)
from legato.orchestrator.protocol import EngineBackend
from legato.states import State, Transition


def _enqueue(action: Record, orch: EngineBackend) -> None:
    orch.enqueue(action)


def _log(action: Log, orch: EngineBackend) -> None:
    action.logger.log(action.level, action.message, *action.args, exc_info=action.exc_info)


def _create_flow_run(action: CreateFlowRun, orch: EngineBackend) -> None:
    orch.create_flow_run(action.row, action.state)


def _propose_flow_run_state(action: ProposeFlowRunState, orch: EngineBackend) -> Transition:
    return propose_flow_run_state(
        orch, action.flow_run_id, action.state, rerun=action.rerun, fields=action.fields
    )


def propose_flow_run_state(
    orch: EngineBackend,
    flow_run_id: str,
    state: State,
    *,
    rerun: bool = False,
    fields: dict[str, Any] | None = None,
) -> Transition:
    """Where the engine proposes every flow-run state: the machine's proposals, and the
    drivers' own when a run ends under them (a crash, a stack run out)."""
    return orch.set_flow_run_state(flow_run_id, state, rerun=rerun, fields=fields)


def _read_flow_run(action: ReadFlowRun, orch: EngineBackend) -> Any:
    return orch.read_flow_run_row(action.flow_run_id)


def _read_previous(action: ReadPrevious, orch: EngineBackend) -> Any:
    return orch.read_task_runs_by_key(action.flow_run_id)


def _look_up_cache(action: LookUpCache, orch: EngineBackend) -> Any:
    return orch.find_cached_result(action.cache_key, action.now)


def _flush(action: Flush, orch: EngineBackend) -> None:
    orch.flush()


def _read_result(action: ReadResult, orch: EngineBackend) -> Any:
    return action.store.read(action.key)


def _write_result(action: WriteResult, orch: EngineBackend) -> None:
    action.store.write(action.key, action.value)


_PERFORMERS: dict[type[Any], Callable[[Any, EngineBackend], Any]] = {
    **dict.fromkeys(RECORDS, _enqueue),
    Log: _log,
    CreateFlowRun: _create_flow_run,
    ProposeFlowRunState: _propose_flow_run_state,
    ReadFlowRun: _read_flow_run,
    ReadPrevious: _read_previous,
    LookUpCache: _look_up_cache,
    Flush: _flush,
    ReadResult: _read_result,
    WriteResult: _write_result,
}


Performer = Callable[[Any, EngineBackend], Any]


def performer(action: Action) -> Performer:
    """What does ``action``: called as ``performer(action)(action, orchestrator)``, it
    returns the outcome, or raises what the call raised (the driver throws that into the
    machine). Raises TypeError for an action that only a driver can do (running a body,
    waiting)."""
    found = _PERFORMERS.get(type(action))
    if found is None:
        raise TypeError(f"{type(action).__name__} is done by the driver, not performed")
    return found


def perform(action: Action, orch: EngineBackend) -> Any:
    """Do ``action`` against ``orch`` (or the result store it names) here; its outcome."""
    return performer(action)(action, orch)


async def perform_async(action: Action, orch: EngineBackend) -> Any:
    """:func:`perform` from an event loop: blocking actions in a thread, the rest inline."""
    if type(action) in RECORDS or not action.blocking:  # type: ignore[union-attr]
        return performer(action)(action, orch)
    return await asyncio.to_thread(performer(action), action, orch)
