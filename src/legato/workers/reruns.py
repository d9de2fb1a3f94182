"""Retrying a finished flow run: the same parameters, a new attempt, finished work skipped.

A deployment's run goes back to its work pool (:func:`retry_on_pool`: AwaitingRetry,
due now), for a worker there to run it on the deployment's infrastructure. Any run can
also be retried in this process (:func:`retry_flow_run`, which
``legato.retry_flow_run`` re-exports).

:func:`retry_flow_run` runs the stored run again as a worker's run process does
(:mod:`legato.workers.execute`), with the flow object this process has made or called
already when it has one (:mod:`legato.sdk.loaded_flows`): importing the file again
would run its top level again (a script with no ``__main__`` guard) and cannot reach a
flow defined inside a function. Only a flow not loaded here is imported from its stored
entrypoint, by the workers' loader.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from legato.engine.flow_engine import FlowCall
from legato.errors import LegatoError, TransitionRefused
from legato.orchestrator import get_orchestrator
from legato.orchestrator.protocol import EngineBackend, FlowRunReader, RunWriter
from legato.processes import gone_reason, host_name, process_start_time
from legato.sdk.flows import run_flow_call
from legato.sdk.loaded_flows import find_loaded_flow
from legato.states import FAILURE_TYPES, State, StateType
from legato.workers.entrypoints import load_flow

if TYPE_CHECKING:
    from legato.schemas import FlowRunRecord


def retry_flow_run(flow_run_id: str, *, orchestrator: EngineBackend | None = None) -> State:
    """Run a failed, crashed or cancelled flow run again, in this process.

    The flow is the one this process made or called with the run's entrypoint and
    name, else it is imported from that entrypoint; it is called with the stored
    parameters. Every task run whose result from an earlier attempt is
    stored (or cached) is skipped; the rest run again under their old ids, so the
    run keeps one history. Returns the new final state (it does not raise).
    """
    orch = orchestrator or get_orchestrator()
    flow_run_id = orch.resolve_flow_run_id(flow_run_id)
    record = _retryable(orch, flow_run_id)
    if not record.entrypoint:
        raise LegatoError(
            f"flow run {flow_run_id} has no stored entrypoint (its flow was defined "
            "interactively), so legato cannot import it to run it again"
        )
    flow: Any = find_loaded_flow(record.entrypoint, record.flow_name)
    if flow is None:
        flow = _import_flow(flow_run_id, record.entrypoint, record.flow_name)
    parameters = dict(record.parameters)
    call = FlowCall(flow, (), parameters, orchestrator=orch, resume_flow_run_id=flow_run_id)
    return run_flow_call(call)


class RerunBackend(RunWriter, FlowRunReader, Protocol):
    """Reading a run and proposing its state: all sending a run back to its pool needs."""


def retry_on_pool(orchestrator: RerunBackend, flow_run_id: str) -> FlowRunRecord:
    """Send a failed, crashed or cancelled run of a deployment back to its work pool, to
    be run again by a worker there (on the deployment's infrastructure, not here): the
    same flow run, now AwaitingRetry and due at once, held by no worker. The worker
    that claims it skips the task runs whose results an earlier attempt stored, as
    :func:`retry_flow_run` does. Its record after the change.

    Raises LegatoError for a run of no work pool (retry it in a process instead) or one
    that cannot be retried (not finished, Completed, a subflow run).
    """
    record = _retryable(orchestrator, flow_run_id)
    if record.work_pool is None:
        raise LegatoError(
            f"flow run {flow_run_id} belongs to no work pool, so no worker can run it "
            "again; retry it in a process (legato.retry_flow_run, `legato runs retry --here`)"
        )
    now = time.time()
    state = State(
        StateType.SCHEDULED,
        "AwaitingRetry",
        f"retried by hand: back to work pool {record.work_pool!r} after {record.state.name}",
        now,
        scheduled_time=now,
    )
    ended = {"end_time": None, "process_host": None, "process_pid": None, "process_started": None}
    verdict = orchestrator.set_flow_run_state(flow_run_id, state, rerun=True, fields=ended)
    if not verdict.allowed:
        raise TransitionRefused(f"cannot retry flow run {flow_run_id}: {verdict.reason}")
    after = orchestrator.read_flow_run(flow_run_id)
    # A waiting worker may have claimed it already: say the state this call set.
    from legato.schemas import StateRecord

    moment = datetime.fromtimestamp(now, UTC)
    sent_back = StateRecord(
        type=state.type,
        name=state.name,
        message=state.message,
        timestamp=moment,
        scheduled_time=moment,
    )
    return after.model_copy(update={"state": sent_back})


def _retryable(orch: RerunBackend, flow_run_id: str) -> FlowRunRecord:
    """The record of ``flow_run_id`` if it may be retried (see the refusals below)."""
    record = orch.read_flow_run(flow_run_id)
    if record.parent_flow_run_id is not None:
        raise LegatoError(
            f"flow run {flow_run_id} is a subflow run; retry its parent flow run "
            f"{record.parent_flow_run_id} instead"
        )
    if record.state.type not in FAILURE_TYPES:
        if record.state.type is StateType.COMPLETED:
            raise LegatoError(f"flow run {flow_run_id} is Completed; there is nothing to retry")
        runner = _runner(orch, flow_run_id)
        raise LegatoError(
            f"flow run {flow_run_id} is {record.state.name}, not finished{runner}; only a "
            "Failed, Crashed or Cancelled flow run can be retried"
        )
    return record


def _import_flow(flow_run_id: str, entrypoint: str, flow_name: str) -> Any:
    """The flow of a run that this process has not loaded, imported from its file."""
    attribute = entrypoint.rpartition(":")[2]
    if "<locals>" in attribute:
        raise LegatoError(
            f"flow run {flow_run_id}'s flow {flow_name!r} is defined inside a function "
            f"({attribute}), which importing its file cannot reach; retry it in a process "
            "that has defined the flow (call legato.retry_flow_run there), or define the "
            "flow at the top level of its file"
        )
    return load_flow(entrypoint)


def _runner(orch: RerunBackend, flow_run_id: str) -> str:
    """Who is running an unfinished run, for the refusal: its worker, or its process.

    On the embedded store reading the run crashed it if its process was gone; through a
    server (client mode) the server's reaper does that on its next pass, so a process of
    this host is looked at here rather than called running when it is gone."""
    stored = orch.read_flow_run_row(flow_run_id)
    if stored.worker_name:
        return f" (worker {stored.worker_name} holds it)"
    if stored.process_pid is not None:
        gone = gone_reason(stored.columns(), host_name(), process_start_time)
        if gone is not None:
            return (
                f" ({gone}: the server marks it Crashed on its reaper's next pass, every "
                "LEGATO_REAPER_INTERVAL seconds; retry it then)"
            )
        return f" (its process, pid {stored.process_pid} on {stored.process_host}, is running it)"
    return ""
