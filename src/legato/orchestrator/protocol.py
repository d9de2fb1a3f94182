"""The orchestrator protocol, split by who calls it.

- :class:`EngineBackend`: what a running flow calls (create its runs, propose their
  states, queue task-run records and logs, read an earlier attempt, look up the cache,
  hold concurrency slots); the engine needs nothing else.
- :class:`WorkerBackend`: what a worker calls (claim due runs, heartbeat them, give
  them back, report a dead run's crash).
- :class:`ApiClient`: what ``legato.get_client()`` users and the CLI call (reads of
  everything recorded, the management of deployments, work pools and limits).

The calls two of them share live once, in :class:`RunWriter` and
:class:`FlowRunReader`. :class:`Orchestrator` is all of it: what the two
implementations offer (``local.LocalOrchestrator`` in-process, ``client.ClientOrchestrator``
over HTTP) and what only the code that hands one out (the process default, the CLI)
names; everything else takes the part it calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, Self

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from datetime import datetime

    from legato.ops import Op
    from legato.schemas import (
        FlowRecord,
        FlowRunFilter,
        FlowRunOrder,
        FlowRunPage,
        FlowRunRecord,
        LogPage,
        LogRecord,
        StateRecord,
        TaskRunPage,
        TaskRunRecord,
        TaskRunSummary,
    )
    from legato.schemas.automations import AutomationRecord, AutomationSpec, FiringRecord
    from legato.schemas.claims import ClaimedFlowRun
    from legato.schemas.concurrency import ConcurrencyLimitRecord, LeaseAnswer, WorkPoolRecord
    from legato.schemas.deployments import (
        BackfillResult,
        DeploymentRecord,
        DeploymentRunRequest,
        DeploymentSpec,
    )
    from legato.schemas.events import EventBatchAnswer, EventFilter, EventIn, EventPage
    from legato.schemas.flow_runs import StoredFlowRun
    from legato.schemas.notifications import (
        ChannelRecord,
        ChannelSpec,
        DeliveryRecord,
        TrialMessage,
    )
    from legato.schemas.task_runs import PreviousTaskRun
    from legato.schemas.webhooks import (
        WebhookRecord,
        WebhookSpec,
        WebhookUpdate,
        WebhookWithUrl,
    )
    from legato.states import State, Transition


class RunWriter(Protocol):
    """Proposing a flow run's state and queueing the records of runs: what both a running
    flow and a worker write.

    Flow-run states are proposed synchronously and checked against the stored state.
    Task-run states, graph edges and logs are *enqueued* (``enqueue``) and written in
    batches; ``flush`` returns once everything enqueued before it is durable. The ops
    are the frozen records of :mod:`legato.ops`.
    """

    def enqueue(self, op: Op) -> None: ...

    def flush(self, timeout: float | None = None) -> None: ...

    def set_flow_run_state(
        self,
        flow_run_id: str,
        state: State,
        *,
        rerun: bool = False,
        fields: dict[str, Any] | None = None,
    ) -> Transition: ...


class FlowRunReader(Protocol):
    """Finding a flow run and reading it: what every caller starts from."""

    def read_flow_run(self, flow_run_id: str) -> FlowRunRecord: ...

    def read_flow_run_row(self, flow_run_id: str) -> StoredFlowRun:
        """Every stored column of the run (times as epoch seconds), but its credential's."""
        ...

    def resolve_flow_run_id(self, prefix: str) -> str: ...


class EngineBackend(RunWriter, FlowRunReader, Protocol):
    """What a running flow calls (the engine, and the run process a worker starts).

    In the process of a worker's run, ``token`` is the run's attempt token: every flow-run
    state proposed, subflow created and batch sent carries it, and once the run is taken
    back from this process the answers say so (``Transition.taken_back``,
    :class:`legato.errors.RunTakenBack`) and ``on_taken_back`` is called with the reason.
    """

    token: str | None
    on_taken_back: Callable[[str], None] | None
    ending: bool
    """Set once the attempt's own run has been proposed a final state (its token ends
    with that state: a refusal heard after it is not news)."""

    def attempt_held(self) -> bool:
        """Whether this process's attempt still holds its run (True without a token)."""
        ...

    def create_flow_run(self, row: dict[str, Any], state: State) -> None: ...

    def read_task_runs_by_key(self, flow_run_id: str) -> dict[tuple[str, int], PreviousTaskRun]:
        """The task runs earlier attempts of the run left, by (task_key, dynamic_key)."""
        ...

    def find_cached_result(self, cache_key: str, now: float) -> str | None: ...

    def read_limited_tags(self) -> list[str]:
        """The tags that have a limit (read once per flow run that has tagged tasks)."""
        ...

    def acquire_concurrency_slots(
        self, tags: list[str], task_run_id: str, flow_run_id: str, holder: str, ttl: float
    ) -> LeaseAnswer:
        """One slot of each limited tag for the task run, or none (the full tags named)."""
        ...

    def renew_concurrency_slots(self, task_run_ids: list[str], ttl: float) -> list[str]:
        """Extend the task runs' leases by ``ttl`` from now; those that still hold one."""
        ...

    def release_concurrency_slots(self, task_run_ids: list[str]) -> int: ...


class WorkerBackend(RunWriter, FlowRunReader, Protocol):
    """What a worker calls: claim the due runs of its pool, keep them, give them back
    (``set_flow_run_state``), and end those whose process died; the lines its runs print
    are enqueued as logs."""

    def claim_flow_runs(
        self, pool: str, worker_name: str, limit: int, *, wait: float = 0.0
    ) -> list[ClaimedFlowRun]:
        """Up to ``limit`` due runs of ``pool``, moved to Pending and held by the worker,
        each with its new attempt token.

        With ``wait``, a server holds an empty answer up to that many seconds, until a
        run of the pool falls due (the embedded store answers at once: its caller polls).
        """
        ...

    def heartbeat(self, flow_run_ids: list[str], worker_name: str) -> dict[str, str]:
        """Keep the worker's claims alive; each held run's state type, by id."""
        ...

    def held_states(self, flow_run_ids: list[str], worker_name: str) -> dict[str, str]:
        """Each held run's state type, by id, as ``heartbeat`` answers, writing nothing:
        cheap enough to ask twice a second, so that a cancel is carried out at once."""
        ...

    def announce_worker(self, worker_name: str, pool: str, status: str) -> None:
        """Record that the worker ``started`` or ``stopped`` (an event of its own)."""
        ...

    def crash_flow_run(self, flow_run_id: str, message: str, worker_name: str) -> str | None:
        """End a run held by ``worker_name`` whose process died: the state it got
        (Crashed, AwaitingRetry when its deployment retries it, or Cancelled), or None
        when the worker no longer holds it (nothing changed)."""
        ...


class ApiClient(FlowRunReader, Protocol):
    """What ``legato.get_client()`` users and the CLI call: reads of everything recorded,
    a page at a time for big runs, and the management of deployments, work pools and
    concurrency limits."""

    def __enter__(self) -> Self:
        """The client itself; the block's end flushes it and leaves it open."""
        ...

    def __exit__(self, *exc: object) -> None: ...

    # -- deployments --

    def deploy(self, spec: DeploymentSpec) -> DeploymentRecord:
        """Create the deployment ``spec.flow_name/spec.name`` or update it in place."""
        ...

    def read_deployments(self, *, limit: int = 200, offset: int = 0) -> list[DeploymentRecord]: ...

    def read_deployment(self, reference: str) -> DeploymentRecord:
        """By id, ``flow/name``, or a name only one flow uses."""
        ...

    def set_deployment_paused(self, deployment_id: str, paused: bool) -> DeploymentRecord: ...

    def set_schedule_active(
        self, deployment_id: str, schedule: str, active: bool
    ) -> DeploymentRecord:
        """Pause or resume one schedule (by id, or 1-based position)."""
        ...

    def delete_deployment(self, deployment_id: str) -> int: ...

    def create_deployment_run(
        self, deployment_id: str, request: DeploymentRunRequest
    ) -> FlowRunRecord:
        """A Scheduled run, its parameters checked first (ParameterValidationError)."""
        ...

    def backfill_deployment(
        self, deployment_id: str, start: datetime, end: datetime
    ) -> BackfillResult:
        """Runs for the past slots of its schedules in [start, end) (ScheduleError for a
        bad range); slots already made are skipped."""
        ...

    # -- work pools and concurrency limits --

    def create_work_pool(
        self, name: str, concurrency_limit: int | None = None
    ) -> WorkPoolRecord: ...

    def set_work_pool_limit(self, name: str, concurrency_limit: int | None) -> WorkPoolRecord:
        """Most active runs of the pool (None: no limit), enforced where runs are claimed."""
        ...

    def set_work_pool_paused(self, name: str, paused: bool) -> WorkPoolRecord: ...

    def read_work_pools(self) -> list[WorkPoolRecord]: ...

    def set_concurrency_limit(self, tag: str, limit: int) -> ConcurrencyLimitRecord:
        """Create or change the limit of task runs carrying ``tag`` at once."""
        ...

    def read_concurrency_limits(self) -> list[ConcurrencyLimitRecord]: ...

    def delete_concurrency_limit(self, tag: str) -> None: ...

    # -- flows, runs, states and logs --

    def read_flows(self, *, limit: int = 200, offset: int = 0) -> list[FlowRecord]:
        """Flows by name."""
        ...

    def read_flow(self, name: str) -> FlowRecord: ...

    def read_flow_run_page(
        self,
        where: FlowRunFilter | None = None,
        *,
        limit: int = 50,
        offset: int = 0,
        cursor: str | None = None,
    ) -> FlowRunPage:
        """One page of flow runs matching ``where``, newest first."""
        ...

    def read_flow_runs(
        self,
        *,
        flow_name: str | None = None,
        state: str | None = None,
        tags: Iterable[str] = (),
        parent_flow_run_id: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        due_before: datetime | None = None,
        due_after: datetime | None = None,
        order: FlowRunOrder = "created",
        limit: int = 50,
        offset: int = 0,
        cursor: str | None = None,
    ) -> list[FlowRunRecord]:
        """The flow runs of one page (implementations inherit ListsFlowRuns)."""
        ...

    def read_task_runs(self, flow_run_id: str) -> list[TaskRunRecord]: ...

    def read_task_run(self, task_run_id: str) -> TaskRunRecord: ...

    def read_state_history(self, run_id: str) -> list[StateRecord]: ...

    def read_task_state_histories(
        self, flow_run_id: str, task_run_ids: list[str] | None = None
    ) -> dict[str, list[StateRecord]]:
        """Every task run's history of a flow run (or of the task runs ``task_run_ids``
        of it: a page of them), by task run id."""
        ...

    def read_task_run_page(
        self, flow_run_id: str, *, limit: int = 1000, cursor: str | None = None
    ) -> TaskRunPage:
        """One page of the flow run's task runs, in creation order."""
        ...

    def read_task_run_summary(self, flow_run_id: str) -> TaskRunSummary:
        """The flow run's task runs counted by task and state."""
        ...

    def read_log_page(
        self,
        flow_run_id: str,
        *,
        task_run_id: str | None = None,
        level: str | int | None = None,
        limit: int = 1000,
        cursor: str | None = None,
    ) -> LogPage:
        """One bounded page of log lines in the order stored; ``level`` is a minimum."""
        ...

    def iter_logs(
        self,
        flow_run_id: str,
        *,
        task_run_id: str | None = None,
        level: str | int | None = None,
        cursor: str | None = None,
        page_size: int = 1000,
    ) -> Iterator[LogRecord]:
        """Every line after ``cursor``, a page at a time (implementations inherit ReadsLogs)."""
        ...

    def read_logs(
        self,
        flow_run_id: str,
        *,
        task_run_id: str | None = None,
        level: str | int | None = None,
        limit: int | None = None,
    ) -> list[LogRecord]:
        """The first ``limit`` lines, or all (implementations inherit ReadsLogs)."""
        ...

    # -- task runs called outside any flow --

    def read_standalone_task_run_page(
        self, *, limit: int = 50, cursor: str | None = None
    ) -> TaskRunPage:
        """One page of the task runs that have no flow run, newest first."""
        ...

    def read_task_run_log_page(
        self,
        task_run_id: str,
        *,
        level: str | int | None = None,
        limit: int = 1000,
        cursor: str | None = None,
    ) -> LogPage:
        """One bounded page of one task run's log lines in the order stored (ObjectNotFound
        for an unknown task run)."""
        ...

    def resolve_task_run_id(self, prefix: str) -> str:
        """A full task-run id from a unique start of it or a standalone task run's name
        (ObjectNotFound naming the candidates otherwise)."""
        ...


class EventClient(Protocol):
    """Sending and reading events (``legato.emit_event``, ``legato events ...``)."""

    def emit_events(self, events: list[EventIn]) -> EventBatchAnswer:
        """Store these events (an id already stored is not stored again)."""
        ...

    def read_event_page(self, filt: EventFilter, *, limit: int = 100) -> EventPage:
        """One page of the events ``filt`` keeps, in the order stored (newest first if
        it asks), and the cursor to go on from."""
        ...


class AutomationClient(Protocol):
    """Managing automations (``legato automation ...``, ``Automation(...).create()``)."""

    def save_automation(self, spec: AutomationSpec, *, update: bool = False) -> AutomationRecord:
        """Store ``spec`` (``update``: the automation of that name is changed in place)."""
        ...

    def read_automations(self) -> list[AutomationRecord]: ...

    def read_automation(self, reference: str) -> AutomationRecord: ...

    def set_automation_enabled(self, reference: str, enabled: bool) -> AutomationRecord: ...

    def delete_automation(self, reference: str) -> None: ...

    def read_automation_firings(self, reference: str, *, limit: int = 20) -> list[FiringRecord]: ...


class WebhookClient(Protocol):
    """Managing webhooks (``legato webhook ...``). A webhook's path (``/hooks/<slug>``)
    is answered by ``create_webhook`` and ``rotate_webhook`` only: the store keeps its
    hash."""

    def create_webhook(self, spec: WebhookSpec) -> WebhookWithUrl:
        """A new webhook (LegatoError if its name is taken)."""
        ...

    def read_webhooks(self) -> list[WebhookRecord]: ...

    def read_webhook(self, name: str) -> WebhookRecord:
        """ObjectNotFound if no webhook has this name."""
        ...

    def update_webhook(self, name: str, update: WebhookUpdate) -> WebhookRecord: ...

    def rotate_webhook(self, name: str) -> WebhookWithUrl:
        """A new path: the old one stops working at once."""
        ...

    def delete_webhook(self, name: str) -> None: ...


class NotificationClient(Protocol):
    """Notification channels (``legato notification ...``). Secrets go in with
    ``create_notification_channel`` and never come back: records show them masked."""

    def create_notification_channel(self, spec: ChannelSpec) -> ChannelRecord:
        """Store a new channel (ChannelExists if the name is taken; SecretKeyError if the
        encryption key cannot be used)."""
        ...

    def read_notification_channels(self) -> list[ChannelRecord]: ...

    def read_notification_channel(self, name: str) -> ChannelRecord:
        """The channel (ObjectNotFound if none has that name)."""
        ...

    def delete_notification_channel(self, name: str) -> None:
        """Delete the channel and its deliveries (ObjectNotFound if none has that name)."""
        ...

    def test_notification_channel(
        self, name: str, trial: TrialMessage | None = None
    ) -> DeliveryRecord:
        """Send a test message now, with retries; the delivery, sent or failed."""
        ...

    def read_notification_deliveries(self, name: str, *, limit: int = 20) -> list[DeliveryRecord]:
        """The channel's newest deliveries first."""
        ...


class Orchestrator(
    EngineBackend,
    WorkerBackend,
    ApiClient,
    EventClient,
    AutomationClient,
    WebhookClient,
    NotificationClient,
    Protocol,
):
    """All of the above: what both implementations offer (see the module)."""
