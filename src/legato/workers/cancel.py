"""Cancelling a flow run: at once if it has not started, through its worker if it has.

A Scheduled, Pending or Paused run becomes Cancelled here. A Running run becomes
Cancelling, with the reason as its message; the worker that holds it sees that within
half a second (it asks for the cancels of its runs that often), stops the process
(SIGTERM, then SIGKILL after its grace period), and the process ends the run and the
task runs it stopped Cancelled, with the reason (:mod:`legato.engine.cancels`). A run no worker holds (a flow started by ``python my_flow.py``) has
nobody to stop it, so it is refused with what to do instead - unless its process is
gone, which reading it through the local orchestrator finds: it is Crashed then.
"""

from __future__ import annotations

import time
from typing import Protocol

from legato.engine.cancels import DEFAULT_REASON
from legato.errors import LegatoError, TransitionRefused
from legato.orchestrator.protocol import FlowRunReader, RunWriter
from legato.schemas import FlowRunRecord
from legato.states import TERMINAL_TYPES, State, StateType

AT_ONCE = frozenset({StateType.SCHEDULED, StateType.PENDING, StateType.PAUSED})


class CancelBackend(FlowRunReader, RunWriter, Protocol):
    """Reading a run and proposing its state: all a cancel needs."""


def cancel_flow_run(
    orchestrator: CancelBackend, flow_run_id: str, reason: str | None = None
) -> FlowRunRecord:
    """Cancel ``flow_run_id`` (see the module); its record after the change.

    ``reason`` is the message of the Cancelled state the run (and any task run the cancel
    stops) ends in. Raises LegatoError if it has ended already or no worker could stop it.
    """
    record = orchestrator.read_flow_run(flow_run_id)
    state_type = StateType(record.state.type)
    if state_type in TERMINAL_TYPES:
        why = f" ({record.state.message})" if record.state.message else ""
        raise LegatoError(
            f"flow run {flow_run_id} is {record.state.name} already{why}; nothing to cancel"
        )
    if state_type is StateType.CANCELLING:
        return record
    now = time.time()
    if state_type in AT_ONCE:
        state = State(StateType.CANCELLED, "Cancelled", reason or "cancelled before it ran", now)
        fields = {"end_time": now}
    else:
        if not orchestrator.read_flow_run_row(flow_run_id).worker_name:
            raise LegatoError(
                f"flow run {flow_run_id} is running in a process no legato worker started; "
                "stop that process (Ctrl-C or SIGTERM) to end it"
            )
        # Its process reads the reason from here when the worker has stopped it.
        state = State(StateType.CANCELLING, "Cancelling", reason or DEFAULT_REASON, now)
        fields = {}
    verdict = orchestrator.set_flow_run_state(flow_run_id, state, fields=fields or None)
    if not verdict.allowed:
        raise TransitionRefused(f"cannot cancel flow run {flow_run_id}: {verdict.reason}")
    return orchestrator.read_flow_run(flow_run_id)
