"""The in-process orchestrator: the engine's calls go straight to the store.

Its reads of flow runs first crash the unfinished local runs of this host whose
process is gone (:meth:`LocalOrchestrator.reap_gone_local_runs`): that is how
``legato runs ls/show/retry/cancel`` and ``legato.retry_flow_run`` see a flow that
was killed outright as Crashed, and can resume it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Self

from legato.attempts import run_of_token
from legato.errors import LegatoError, RunTakenBack
from legato.schemas import ListsFlowRuns, ReadsLogs
from legato.schemas.flow_runs import StoredFlowRun
from legato.store import Store

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from legato.notifications import Notifications
    from legato.schemas import (
        FlowRecord,
        FlowRunFilter,
        FlowRunPage,
        FlowRunRecord,
        LogPage,
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
    from legato.settings import Settings
    from legato.states import State, Transition


logger = logging.getLogger("legato.orchestrator")


class LocalOrchestrator(ListsFlowRuns, ReadsLogs):
    """Orchestrator backed by a :class:`Store` in this process."""

    def __init__(self, store: Store, *, token: str | None = None, settings: Settings | None = None):
        self.store = store
        self._settings = settings
        """Where the key of notification channels' secrets and the public URL come from
        (None: the process's settings, read when a channel is first used)."""
        self._notifications: Notifications | None = None
        store.writer.start()
        self.enqueue = store.writer.put
        self.token = token
        """The attempt token of the claimed run this process runs (None: no worker's
        run); every flow-run state this orchestrator proposes carries it."""
        self.on_taken_back: Callable[[str], None] | None = None
        """Called with the reason when the store says the run was taken back."""
        self.ending = False

    def flush(self, timeout: float | None = None) -> None:
        self.store.writer.flush(timeout)

    def __enter__(self) -> Self:
        """``with legato.get_client() as client:``, as Prefect users write it; the client
        is this process's and stays open after the block (its writes are flushed)."""
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()

    def close(self) -> None:
        self.store.close()

    def attempt_held(self) -> bool:
        run_id = None if self.token is None else run_of_token(self.token)
        if self.token is None or run_id is None:
            return True
        return self.store.run_in_attempt(run_id, self.token)

    def create_flow_run(self, row: dict[str, Any], state: State) -> None:
        # A subflow of the attempt's run joins the attempt; any other run is not its.
        token = self.token if row.get("parent_flow_run_id") else None
        try:
            self.store.create_flow_run(row, state, token=token)
        except RunTakenBack as exc:
            if self.on_taken_back is not None:
                self.on_taken_back(str(exc))
            raise

    def set_flow_run_state(
        self,
        flow_run_id: str,
        state: State,
        *,
        rerun: bool = False,
        fields: dict[str, Any] | None = None,
    ) -> Transition:
        if state.is_final() and self.token and flow_run_id == run_of_token(self.token):
            self.ending = True
        verdict = self.store.set_flow_run_state(
            flow_run_id, state, rerun=rerun, fields=fields, token=self.token
        )
        if verdict.taken_back and self.on_taken_back is not None:
            self.on_taken_back(verdict.reason)
        return verdict

    def read_flow_run_row(self, flow_run_id: str) -> StoredFlowRun:
        return StoredFlowRun.from_stored(self.store.read_flow_run_row(flow_run_id))

    def read_task_runs_by_key(self, flow_run_id: str) -> dict[tuple[str, int], PreviousTaskRun]:
        return self.store.read_task_runs_by_key(flow_run_id)

    def find_cached_result(self, cache_key: str, now: float) -> str | None:
        return self.store.find_cached_result(cache_key, now)

    def deploy(self, spec: DeploymentSpec) -> DeploymentRecord:
        return self.store.deploy(spec)

    def read_deployments(self, *, limit: int = 200, offset: int = 0) -> list[DeploymentRecord]:
        return self.store.read_deployments(limit=limit, offset=offset)

    def read_deployment(self, reference: str) -> DeploymentRecord:
        return self.store.read_deployment(reference)

    def set_deployment_paused(self, deployment_id: str, paused: bool) -> DeploymentRecord:
        return self.store.set_deployment_paused(deployment_id, paused)

    def set_schedule_active(
        self, deployment_id: str, schedule: str, active: bool
    ) -> DeploymentRecord:
        return self.store.set_schedule_active(deployment_id, schedule, active)

    def delete_deployment(self, deployment_id: str) -> int:
        return self.store.delete_deployment(deployment_id)

    def create_deployment_run(
        self, deployment_id: str, request: DeploymentRunRequest
    ) -> FlowRunRecord:
        return self.store.create_deployment_run(deployment_id, request)

    def backfill_deployment(
        self, deployment_id: str, start: datetime, end: datetime
    ) -> BackfillResult:
        return self.store.backfill_deployment(deployment_id, start, end)

    def claim_flow_runs(
        self, pool: str, worker_name: str, limit: int, *, wait: float = 0.0
    ) -> list[ClaimedFlowRun]:
        return self.store.claim_flow_runs(pool, worker_name, limit)

    def heartbeat(self, flow_run_ids: list[str], worker_name: str) -> dict[str, str]:
        return self.store.heartbeat(flow_run_ids, worker_name)

    def held_states(self, flow_run_ids: list[str], worker_name: str) -> dict[str, str]:
        return self.store.held_states(flow_run_ids, worker_name)

    def announce_worker(self, worker_name: str, pool: str, status: str) -> None:
        from legato.event_rules.resource_events import worker_event

        self.store.events.emit_new([worker_event(status, worker_name, pool)])

    def crash_flow_run(self, flow_run_id: str, message: str, worker_name: str) -> str | None:
        outcome = self.store.crash_flow_run(flow_run_id, message, worker_name=worker_name)
        return None if outcome is None else outcome.state_name

    def create_work_pool(self, name: str, concurrency_limit: int | None = None) -> WorkPoolRecord:
        return self.store.create_work_pool(name, concurrency_limit)

    def set_work_pool_limit(self, name: str, concurrency_limit: int | None) -> WorkPoolRecord:
        return self.store.set_work_pool_limit(name, concurrency_limit)

    def set_work_pool_paused(self, name: str, paused: bool) -> WorkPoolRecord:
        return self.store.set_work_pool_paused(name, paused)

    def read_work_pools(self) -> list[WorkPoolRecord]:
        return self.store.read_work_pools()

    def save_automation(self, spec: AutomationSpec, *, update: bool = False) -> AutomationRecord:
        return self.store.automations.save(spec, replace=update)[0]

    def read_automations(self) -> list[AutomationRecord]:
        return self.store.automations.read_all()

    def read_automation(self, reference: str) -> AutomationRecord:
        return self.store.automations.read(reference)

    def set_automation_enabled(self, reference: str, enabled: bool) -> AutomationRecord:
        return self.store.automations.set_enabled(reference, enabled)

    def delete_automation(self, reference: str) -> None:
        self.store.automations.delete(reference)

    def read_automation_firings(self, reference: str, *, limit: int = 20) -> list[FiringRecord]:
        return self.store.automations.firings(reference, limit=limit)

    def emit_events(self, events: list[EventIn]) -> EventBatchAnswer:
        from legato.schemas.events import EventBatchAnswer

        stored, duplicates = self.store.events.emit(events)
        return EventBatchAnswer(stored=stored, duplicates=duplicates)

    def create_webhook(self, spec: WebhookSpec) -> WebhookWithUrl:
        return self.store.webhooks.create(spec)

    def read_webhooks(self) -> list[WebhookRecord]:
        return self.store.webhooks.list_all()

    def read_webhook(self, name: str) -> WebhookRecord:
        return self.store.webhooks.read(name)

    def update_webhook(self, name: str, update: WebhookUpdate) -> WebhookRecord:
        return self.store.webhooks.update(name, update)

    def rotate_webhook(self, name: str) -> WebhookWithUrl:
        return self.store.webhooks.rotate(name)

    def delete_webhook(self, name: str) -> None:
        self.store.webhooks.delete(name)

    def read_event_page(self, filt: EventFilter, *, limit: int = 100) -> EventPage:
        from legato.schemas.events import EventPage

        self.flush()  # this process's states first: they are events too
        found, reached, more = self.store.events.read(filt, limit=limit)
        return EventPage(
            events=found, next_cursor=reached.text() if more else None, reached=reached.text()
        )

    # -- notification channels -------------------------------------------------------

    def notifications(self) -> Notifications:
        """This store's channels, with the key of the settings (:mod:`legato.secrets_box`)."""
        if self._notifications is None:
            from legato.notifications import Notifications
            from legato.settings import get_settings

            settings = self._settings or get_settings()
            self._notifications = Notifications.from_settings(self.store, settings)
        return self._notifications

    def create_notification_channel(self, spec: ChannelSpec) -> ChannelRecord:
        return self.notifications().create_channel(spec)

    def read_notification_channels(self) -> list[ChannelRecord]:
        return self.notifications().read_channels()

    def read_notification_channel(self, name: str) -> ChannelRecord:
        return self.notifications().read_channel(name)

    def delete_notification_channel(self, name: str) -> None:
        self.notifications().delete_channel(name)

    def test_notification_channel(
        self, name: str, trial: TrialMessage | None = None
    ) -> DeliveryRecord:
        return self.notifications().test_channel(name, trial)

    def read_notification_deliveries(self, name: str, *, limit: int = 20) -> list[DeliveryRecord]:
        return self.notifications().read_deliveries(name, limit=limit)

    def set_concurrency_limit(self, tag: str, limit: int) -> ConcurrencyLimitRecord:
        return self.store.set_concurrency_limit(tag, limit)

    def read_concurrency_limits(self) -> list[ConcurrencyLimitRecord]:
        return self.store.read_concurrency_limits()

    def delete_concurrency_limit(self, tag: str) -> None:
        self.store.delete_concurrency_limit(tag)

    def read_limited_tags(self) -> list[str]:
        return self.store.read_limited_tags()

    def acquire_concurrency_slots(
        self, tags: list[str], task_run_id: str, flow_run_id: str, holder: str, ttl: float
    ) -> LeaseAnswer:
        return self.store.acquire_concurrency_slots(tags, task_run_id, flow_run_id, holder, ttl)

    def renew_concurrency_slots(self, task_run_ids: list[str], ttl: float) -> list[str]:
        return self.store.renew_concurrency_slots(task_run_ids, ttl)

    def release_concurrency_slots(self, task_run_ids: list[str]) -> int:
        return self.store.release_concurrency_slots(task_run_ids)

    def read_flows(self, *, limit: int = 200, offset: int = 0) -> list[FlowRecord]:
        return self.store.read_flows(limit=limit, offset=offset)

    def read_flow(self, name: str) -> FlowRecord:
        return self.store.read_flow(name)

    def read_flow_run_page(
        self,
        where: FlowRunFilter | None = None,
        *,
        limit: int = 50,
        offset: int = 0,
        cursor: str | None = None,
    ) -> FlowRunPage:
        self.reap_gone_local_runs()
        return self.store.read_flow_run_page(where, limit=limit, offset=offset, cursor=cursor)

    def read_flow_run(self, flow_run_id: str) -> FlowRunRecord:
        self.reap_gone_local_runs()
        return self.store.read_flow_run(flow_run_id)

    def reap_gone_local_runs(self) -> None:
        """Crash the unfinished runs of this host whose process no longer exists (one
        indexed query when there are none). A store that cannot be written (read-only,
        locked) still answers the read: the runs are left for the next command."""
        from legato.processes import host_name, process_start_time

        try:
            outcomes = self.store.reap_gone_local_runs(host_name(), process_start_time)
        except LegatoError as exc:
            logger.warning("could not check for flow runs whose process died: %s", exc)
            return
        for outcome in outcomes:
            logger.info(
                "flow run %s is %s: %s", outcome.flow_run_id, outcome.state_name, outcome.message
            )

    def read_task_runs(self, flow_run_id: str) -> list[TaskRunRecord]:
        return self.store.read_task_runs(flow_run_id)

    def read_task_run(self, task_run_id: str) -> TaskRunRecord:
        return self.store.read_task_run(task_run_id)

    def read_state_history(self, run_id: str) -> list[StateRecord]:
        return self.store.read_state_history(run_id)

    def read_task_state_histories(
        self, flow_run_id: str, task_run_ids: list[str] | None = None
    ) -> dict[str, list[StateRecord]]:
        return self.store.read_task_state_histories(flow_run_id, task_run_ids)

    def read_task_run_page(
        self, flow_run_id: str, *, limit: int = 1000, cursor: str | None = None
    ) -> TaskRunPage:
        return self.store.read_task_run_page(flow_run_id, limit=limit, cursor=cursor)

    def read_task_run_summary(self, flow_run_id: str) -> TaskRunSummary:
        return self.store.read_task_run_summary(flow_run_id)

    def read_log_page(
        self,
        flow_run_id: str,
        *,
        task_run_id: str | None = None,
        level: str | int | None = None,
        limit: int = 1000,
        cursor: str | None = None,
    ) -> LogPage:
        return self.store.read_log_page(
            flow_run_id, task_run_id=task_run_id, level=level, limit=limit, cursor=cursor
        )

    def resolve_flow_run_id(self, prefix: str) -> str:
        return self.store.resolve_flow_run_id(prefix)

    def read_standalone_task_run_page(
        self, *, limit: int = 50, cursor: str | None = None
    ) -> TaskRunPage:
        return self.store.read_standalone_task_run_page(limit=limit, cursor=cursor)

    def read_task_run_log_page(
        self,
        task_run_id: str,
        *,
        level: str | int | None = None,
        limit: int = 1000,
        cursor: str | None = None,
    ) -> LogPage:
        self.store.read_task_run(task_run_id)  # ObjectNotFound for an unknown task run
        return self.store.read_task_run_log_page(
            task_run_id, level=level, limit=limit, cursor=cursor
        )

    def resolve_task_run_id(self, prefix: str) -> str:
        return self.store.resolve_task_run_id(prefix)
