"""How a run stopped from outside learns that a cancel is why.

A worker carries out a cancel by sending the run's process SIGTERM, which the flow
drivers turn into :class:`legato.errors.Abort` (an async body is cancelled instead).
That alone looks like a crash; a machine that sees it asks the store whether the flow
run is Cancelling, and if so ends the run (and the task runs it stopped) Cancelled,
with the reason the cancel gave (its Cancelling state's message).
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from legato.engine.actions import Action, ReadFlowRun
from legato.errors import Abort, LegatoError
from legato.states import StateType

if TYPE_CHECKING:
    from legato.schemas.flow_runs import StoredFlowRun

DEFAULT_REASON = "cancelled on request"


def stopped(error: BaseException) -> bool:
    """Whether ``error`` is how a body is stopped from outside (SIGTERM's Abort, or an
    async body's cancellation): a cancel asked for the run may be why."""
    return isinstance(error, Abort | asyncio.CancelledError)


def cancel_reason(flow_run_id: str | None) -> Generator[Action, Any, str | None]:
    """Why the flow run is being cancelled (its Cancelling state's message), or None when
    no cancel was asked for (or the run cannot be read, or there is none: a task called
    outside any flow)."""
    if flow_run_id is None:
        return None
    try:
        stored: StoredFlowRun = yield ReadFlowRun(flow_run_id)
    except LegatoError:
        return None
    if stored.state_type != StateType.CANCELLING.value:
        return None
    return stored.state_message or DEFAULT_REASON
