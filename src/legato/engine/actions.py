"""What the run machines ask their drivers to do: every I/O, as a frozen record.

The task and flow machines (:mod:`legato.engine.task_machine`,
:mod:`legato.engine.flow_machine`) are generators that never touch the orchestrator,
the result store, a clock they wait on, or the user's code: they yield one of these
and are sent its outcome (or have its exception thrown in, at the ``yield``). The
sync drivers perform each action inline; the async drivers perform the ``blocking``
ones in a thread, so an async flow's event loop never waits on HTTP, a database or
a file, and do the cheap ones inline.

The cheapest and most frequent is a :data:`Record`: a record op of :mod:`legato.ops`
(``RecordState(task_run, state)``, ``RecordInput({...})``, ``UpdateTaskRun(task_run)``)
yielded as it is, which the driver hands to the batched writer's queue. Every state
change of every task run is one, so it carries no wrapper: a wrapper object per state
change would cost more than the hand-off.

Outcomes sent back:

    a Record, Log, Flush, CreateFlowRun,
    ReleaseSlots, Sleep, WaitFor          None
    ProposeFlowRunState                   the Transition (the verdict)
    ReadFlowRun                           the stored flow run (a StoredFlowRun)
    ReadPrevious                          {(task_key, dynamic_key): PreviousTaskRun}
    LookUpCache                           the result key of a live cache entry, or None
    ReadResult                            the value (raises ResultNotAvailable)
    WriteResult                           None (raises SerializationError, OSError)
    LoadTagSlots                          the flow run's TagSlots
    AcquireSlots                          None once held, or why the task run waits
    CallTask, CallFlowBody                (True, value) or (False, the exception raised)
    CallHooks                             None (a hook's error is logged, not raised)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from legato import ops

if TYPE_CHECKING:
    from legato.engine.context import FlowRunContext
    from legato.engine.futures import LegatoFuture
    from legato.engine.results import ResultStore
    from legato.states import State

Outcome = tuple[bool, Any]
"""What running a body gives back: (True, its value) or (False, what it raised)."""


# -- records: handed to the batched writer, never waited on -----------------------------

Record = ops.Record
"""A writer op (a task-run state, an edge, a task run's changed columns)."""

RECORDS = (
    ops.RecordState,
    ops.InsertTaskRun,
    ops.UpdateTaskRun,
    ops.RecordInput,
    ops.RecordLog,
    ops.RecordBatch,
)


@dataclass(frozen=True, slots=True)
class Log:
    """Write a line to a run's logger (which enqueues it, and echoes it on the console)."""

    logger: logging.LoggerAdapter[Any]
    level: int
    message: str
    args: tuple[Any, ...] = ()
    exc_info: Any = None
    blocking: ClassVar[bool] = False


# -- the orchestrator: one call each, answered before the machine goes on -----------------


@dataclass(frozen=True, slots=True)
class CreateFlowRun:
    row: dict[str, Any]
    state: State
    blocking: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class ProposeFlowRunState:
    """Propose ``state`` for the flow run; the verdict says whether it was taken."""

    flow_run_id: str
    state: State
    rerun: bool = False
    fields: dict[str, Any] | None = None
    blocking: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class ReadFlowRun:
    """The stored flow run, as a :class:`~legato.schemas.flow_runs.StoredFlowRun`."""

    flow_run_id: str
    blocking: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class ReadPrevious:
    """The task runs an earlier attempt of the flow run left, by (task key, dynamic key):
    :class:`~legato.schemas.task_runs.PreviousTaskRun` records."""

    flow_run_id: str
    blocking: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class LookUpCache:
    """The result key stored for ``cache_key`` and not expired at ``now``."""

    cache_key: str
    now: float
    blocking: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class Flush:
    """Wait until everything enqueued so far is durable."""

    blocking: ClassVar[bool] = True


# -- the result store --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadResult:
    store: ResultStore
    key: str
    blocking: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class WriteResult:
    store: ResultStore
    key: str
    value: Any = field(repr=False)
    blocking: ClassVar[bool] = True


# -- tag concurrency slots (see legato.engine.concurrency) --------------------------------


@dataclass(frozen=True, slots=True)
class LoadTagSlots:
    """The flow run's tag slots, reading which tags have limits on first use."""

    blocking: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class AcquireSlots:
    """Take one slot of each tag for the task run: try once, or (``wait``) until held."""

    tags: tuple[str, ...]
    wait: bool = False
    blocking: ClassVar[bool] = True


@dataclass(frozen=True, slots=True)
class ReleaseSlots:
    """Give back the slots the task run holds."""

    blocking: ClassVar[bool] = True


# -- running and waiting (each driver its own way) --------------------------------------


@dataclass(frozen=True, slots=True)
class CallTask:
    """Run the task's function once with these arguments (its timeout applies)."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    blocking: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class CallFlowBody:
    """Run the flow's function in the attempt's context, then let its task runs end."""

    context: FlowRunContext
    parameters: dict[str, Any]
    blocking: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class CallHooks:
    """Call the user's state hooks of a run that entered ``state``, in order, each as
    ``hook(definition, run, state)``; what one raises is logged on the run's logger,
    which ``logger()`` makes only then (see :mod:`legato.engine.hooks`). ``what`` and
    ``run_name`` name the run in that line."""

    hooks: tuple[Callable[..., Any], ...]
    kind: str
    definition: Any
    run: Any
    state: State
    logger: Callable[[], logging.LoggerAdapter[Any]]
    what: str
    run_name: str
    blocking: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float
    blocking: ClassVar[bool] = False


@dataclass(frozen=True, slots=True)
class WaitFor:
    """Wait until every one of these futures is final."""

    futures: tuple[LegatoFuture[Any], ...]
    blocking: ClassVar[bool] = False


Action = (
    Record
    | Log
    | CreateFlowRun
    | ProposeFlowRunState
    | ReadFlowRun
    | ReadPrevious
    | LookUpCache
    | Flush
    | ReadResult
    | WriteResult
    | LoadTagSlots
    | AcquireSlots
    | ReleaseSlots
    | CallTask
    | CallFlowBody
    | CallHooks
    | Sleep
    | WaitFor
)
