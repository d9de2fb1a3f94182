"""Running an existing flow run (a deployment's run, claimed by a worker) in this process.

Unlike a flow call, which creates its run, this takes a stored run and drives it
from Pending to its final state under its own id, with its stored parameters
checked against the flow's signature (a bad one ends the run Failed, naming it).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from pathlib import Path

from legato.attempts import RUN_TOKEN_VARIABLE
from legato.engine.flow_engine import FlowCall
from legato.errors import LegatoError
from legato.orchestrator.protocol import EngineBackend
from legato.states import State, StateType
from legato.workers.launchers.lifeline import exit_at_once

CONSOLE_FD_VARIABLE = "LEGATO_WORKER_CONSOLE_FD"
"""Set by a worker: the file descriptor where run loggers print, apart from the flow's
own stdout and stderr (those lines are stored already; the worker only echoes them)."""

EXECUTABLE_TYPES = frozenset({StateType.SCHEDULED, StateType.PENDING})
EXIT_TAKEN_BACK = 75
"""Exit code of a run's process that stopped because its run was taken back."""


def _on_taken_back(orch: EngineBackend, reason: str) -> None:
    if not orch.ending:  # after its final state the attempt is over anyway: no news
        stop_taken_back(reason)


def _watch_attempt(orch: EngineBackend) -> None:
    """Ask every worker heartbeat interval whether the attempt still holds the run, so
    that a flow body that reports nothing for a while (no task runs, no logs) also stops
    soon after its run was taken back. The answer "taken back" calls ``on_taken_back``;
    a server that cannot be reached is asked again next time."""
    from legato.settings import get_settings

    interval = get_settings().worker_heartbeat_interval

    def watch() -> None:
        while True:
            time.sleep(interval)
            if orch.ending:
                return
            try:
                held = orch.attempt_held()
            except LegatoError:
                continue
            if not held and orch.on_taken_back is not None:
                orch.on_taken_back("this process's flow run was taken back from it")

    threading.Thread(target=watch, name="legato-attempt-watch", daemon=True).start()


def stop_taken_back(reason: str) -> None:
    """This process's run is no longer its own (reaped, cancelled, or run by another
    attempt): stop at once, from whichever thread heard it, running no more of the flow
    body and reporting nothing more (anything it wrote would land on the run's next
    attempt). Only what a worker's run process does: a flow called from code has no
    attempt token, so it is never told this."""
    exit_at_once(f"stopping: {reason}", EXIT_TAKEN_BACK)


def execute_flow_run(flow_run_id: str, *, orchestrator: EngineBackend | None = None) -> State:
    """Run the stored flow run ``flow_run_id`` to its final state here; return that state.

    Raises LegatoError, without touching the run, if it is not Scheduled or Pending
    (it ran already, or runs elsewhere). A run whose flow cannot be imported ends
    Failed with the reason, and the error is raised too.
    """
    from legato.orchestrator import get_orchestrator
    from legato.sdk.flows import run_flow_call
    from legato.sdk.logging import install_print_capture
    from legato.workers.entrypoints import load_flow

    orch = orchestrator or get_orchestrator()
    # The token is the orchestrator's now; processes the flow starts do not inherit it.
    os.environ.pop(RUN_TOKEN_VARIABLE, None)
    if orch.token is not None:
        orch.on_taken_back = functools.partial(_on_taken_back, orch)
        _watch_attempt(orch)
    flow_run_id = orch.resolve_flow_run_id(flow_run_id)
    record = orch.read_flow_run(flow_run_id)
    state_type = StateType(record.state.type)
    if state_type not in EXECUTABLE_TYPES:
        raise LegatoError(
            f"flow run {flow_run_id} is {record.state.name}; only a Scheduled or Pending "
            "flow run can be executed (a finished one is run again with `legato runs retry`)"
        )
    if record.parent_flow_run_id is not None:
        raise LegatoError(
            f"flow run {flow_run_id} is a subflow run; it runs inside its parent flow run "
            f"{record.parent_flow_run_id}"
        )
    try:
        if not record.entrypoint:
            raise LegatoError(
                f"flow run {flow_run_id} has no stored entrypoint, so legato cannot import its flow"
            )
        flow = load_flow(record.entrypoint, allowed_dirs=_entrypoint_dirs())
    except LegatoError as exc:
        now = time.time()
        orch.set_flow_run_state(
            flow_run_id,
            State(StateType.FAILED, "Failed", f"cannot load the flow: {exc}", now),
            fields={"end_time": now},
        )
        raise
    if flow.log_prints:
        install_print_capture()
    call = FlowCall(
        flow,
        (),
        dict(record.parameters),
        orchestrator=orch,
        resume_flow_run_id=flow_run_id,
        first_attempt=True,
    )
    state = run_flow_call(call)
    orch.flush()
    return state


def _entrypoint_dirs() -> list[Path] | None:
    """The directories this worker runs flows from (LEGATO_WORKER_ENTRYPOINT_DIRS, set by
    ``legato worker start --entrypoint-dir``); None: any entrypoint."""
    from legato.settings import get_settings

    return get_settings().worker_entrypoint_dirs or None


def route_run_console_to_worker() -> None:
    """Under a worker, print run loggers' lines on the descriptor it named, so that it
    echoes them without storing them a second time."""
    value = os.environ.get(CONSOLE_FD_VARIABLE)
    if not value:
        return
    from legato.sdk.logging import FLOW_LOGGER, TASK_LOGGER, configure_run_logging

    try:
        stream = os.fdopen(int(value), "w", buffering=1, encoding="utf-8", errors="replace")
    except (OSError, ValueError):
        return  # not handed down to us: print where we would anyway
    configure_run_logging()
    for name in (FLOW_LOGGER, TASK_LOGGER):
        for handler in logging.getLogger(name).handlers:
            if type(handler) is logging.StreamHandler:
                handler.setStream(stream)
