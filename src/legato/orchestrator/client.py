"""The orchestrator over HTTP: a flow process, a worker or the CLI talks to a legato server.

Flow-run calls, claims and reads are synchronous requests (:mod:`legato.orchestrator.http`:
the credential, legato's errors, retries while the server is away). Task-run states,
graph edges and logs are enqueued and sent in batches by the bulk sender's threads
(:mod:`legato.orchestrator.bulk_sender`). This module composes the two and maps each
call of the protocol to its endpoint.

A server that is briefly away (restarted) costs only time: every request is retried
with exponential backoff, and an unsent batch is kept (and sent again) until the server
accepts it. Past ``client_max_outage`` seconds of failure the synchronous calls and
``flush`` raise :class:`StoreError`; records are never dropped silently.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self
from urllib.parse import quote

import httpx

from legato.attempts import run_of_token
from legato.errors import ObjectNotFound
from legato.orchestrator.bulk_sender import BulkSender
from legato.orchestrator.http import ServerApi
from legato.schemas import (
    NEXT_CURSOR_HEADER,
    FlowRecord,
    FlowRunFilter,
    FlowRunPage,
    FlowRunRecord,
    ListsFlowRuns,
    LogPage,
    LogRecord,
    ReadsLogs,
    StateRecord,
    TaskRunPage,
    TaskRunRecord,
    TaskRunSummary,
)
from legato.schemas.claims import ClaimedFlowRun
from legato.schemas.concurrency import (
    ConcurrencyLimitRecord,
    LeaseAnswer,
    WorkPoolRecord,
)
from legato.schemas.deployments import (
    BackfillRequest,
    BackfillResult,
    DeploymentRecord,
    DeploymentRunRequest,
    DeploymentSpec,
)
from legato.schemas.flow_runs import StoredFlowRun
from legato.schemas.notifications import ChannelRecord, DeliveryRecord
from legato.schemas.task_runs import PreviousTaskRun
from legato.states import Transition

NOTIFICATIONS = "/api/notifications"
TEST_SEND_SECONDS = 120.0
"""Longest a client waits for a test message's delivery (the server's tries and waits)."""

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from legato.schemas.automations import AutomationRecord, AutomationSpec, FiringRecord
    from legato.schemas.events import EventBatchAnswer, EventFilter, EventIn, EventPage
    from legato.schemas.notifications import ChannelSpec, TrialMessage
    from legato.schemas.webhooks import (
        WebhookRecord,
        WebhookSpec,
        WebhookUpdate,
        WebhookWithUrl,
    )
    from legato.states import State


def _state_json(state: State) -> dict[str, Any]:
    return {
        "type": state.type._value_,
        "name": state.name,
        "message": state.message,
        "timestamp": state.timestamp,
        "scheduled_time": state.scheduled_time,
    }


class ClientOrchestrator(ListsFlowRuns, ReadsLogs):
    """Orchestrator backed by a legato server at ``api_url`` (see the module docstring)."""

    def __init__(
        self,
        api_url: str,
        *,
        api_key: str | None = None,
        run_token: str | None = None,
        max_outage: float = 60.0,
        timeout: float = 10.0,
    ):
        # A worker's run process speaks with its attempt token only: it is its fencing
        # token and its credential, scoped to its run (see legato.store.run_tokens).
        self._api = ServerApi(
            api_url,
            credential=run_token or api_key,
            max_outage=max_outage,
            timeout=timeout,
            taken_back=self._taken_back,
        )
        self.api_url = self._api.api_url
        self.max_outage = max_outage
        self.token = run_token
        self.on_taken_back: Callable[[str], None] | None = None
        """Called (from whichever thread heard it) with the reason when the server says
        this process's run was taken back."""
        self.ending = False
        self._sender = BulkSender(self._api)
        self.enqueue = self._sender.enqueue

    def _taken_back(self, reason: str) -> None:
        if self.on_taken_back is not None:
            self.on_taken_back(reason)

    def flush(self, timeout: float | None = None) -> None:
        """Block until everything enqueued before this call is accepted by the server.

        Raises StoreError if the server stayed away past ``max_outage`` (or ``timeout``).
        """
        self._sender.flush(timeout)

    def __enter__(self) -> Self:
        """``with legato.get_client() as client:``, as Prefect users write it; the client
        is this process's and stays open after the block (its writes are flushed)."""
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()

    def close(self) -> None:
        self._sender.close()
        self._api.close()

    # -- flow runs -------------------------------------------------------------------

    def attempt_held(self) -> bool:
        run_id = None if self.token is None else run_of_token(self.token)
        if self.token is None or run_id is None:
            return True
        answer = self._api.request("GET", f"/api/orchestrator/flow_runs/{run_id}/attempt")
        held = bool(answer["held"])
        if not held and self.on_taken_back is not None:
            self.on_taken_back(f"flow run {run_id} was taken back from this process")
        return held

    def create_flow_run(self, row: dict[str, Any], state: State) -> None:
        self._api.request(
            "POST", "/api/orchestrator/flow_runs", json={"row": row, "state": _state_json(state)}
        )

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
        verdict = self._api.request(
            "POST",
            f"/api/orchestrator/flow_runs/{flow_run_id}/state",
            json={"state": _state_json(state), "rerun": rerun, "fields": fields},
        )
        answer = Transition(
            bool(verdict["allowed"]), str(verdict["reason"]), bool(verdict.get("taken_back"))
        )
        if answer.taken_back and self.on_taken_back is not None:
            self.on_taken_back(answer.reason)
        return answer

    def read_flow_run_row(self, flow_run_id: str) -> StoredFlowRun:
        row = self._api.request("GET", f"/api/orchestrator/flow_runs/{flow_run_id}/row")
        return StoredFlowRun.from_stored(row)

    def read_task_runs_by_key(self, flow_run_id: str) -> dict[tuple[str, int], PreviousTaskRun]:
        rows = self._api.request(
            "GET", f"/api/orchestrator/flow_runs/{flow_run_id}/task_runs_by_key"
        )
        found = map(PreviousTaskRun.from_stored, rows)
        return {(run.task_key, run.dynamic_key): run for run in found}

    def find_cached_result(self, cache_key: str, now: float) -> str | None:
        found = self._api.request(
            "GET", "/api/orchestrator/cached_result", params={"cache_key": cache_key, "now": now}
        )
        key: str | None = found["result_key"]
        return key

    # -- the read API ------------------------------------------------------------------

    def deploy(self, spec: DeploymentSpec) -> DeploymentRecord:
        answer = self._api.request("PUT", "/api/deployments", json=spec.model_dump(mode="json"))
        return DeploymentRecord.model_validate(answer)

    def read_deployments(self, *, limit: int = 200, offset: int = 0) -> list[DeploymentRecord]:
        rows = self._api.request(
            "GET", "/api/deployments", params={"limit": limit, "offset": offset}
        )
        return [DeploymentRecord.model_validate(row) for row in rows]

    def read_deployment(self, reference: str) -> DeploymentRecord:
        answer = self._api.request("GET", "/api/deployments/lookup", params={"ref": reference})
        return DeploymentRecord.model_validate(answer)

    def set_deployment_paused(self, deployment_id: str, paused: bool) -> DeploymentRecord:
        action = "pause" if paused else "resume"
        answer = self._api.request("POST", f"/api/deployments/{deployment_id}/{action}")
        return DeploymentRecord.model_validate(answer)

    def set_schedule_active(
        self, deployment_id: str, schedule: str, active: bool
    ) -> DeploymentRecord:
        action = "resume" if active else "pause"
        answer = self._api.request(
            "POST",
            f"/api/deployments/{deployment_id}/schedules/{quote(schedule, safe='')}/{action}",
        )
        return DeploymentRecord.model_validate(answer)

    def delete_deployment(self, deployment_id: str) -> int:
        answer = self._api.request("DELETE", f"/api/deployments/{deployment_id}")
        return int(answer["unstarted_runs_deleted"])

    def create_deployment_run(
        self, deployment_id: str, request: DeploymentRunRequest
    ) -> FlowRunRecord:
        answer = self._api.request(
            "POST",
            f"/api/deployments/{deployment_id}/runs",
            json=request.model_dump(mode="json", exclude_defaults=True),
        )
        return FlowRunRecord.model_validate(answer)

    def backfill_deployment(
        self, deployment_id: str, start: datetime, end: datetime
    ) -> BackfillResult:
        request = BackfillRequest(start=start, end=end)
        answer = self._api.request(
            "POST",
            f"/api/deployments/{deployment_id}/backfill",
            json=request.model_dump(mode="json"),
        )
        return BackfillResult.model_validate(answer)

    def claim_flow_runs(
        self, pool: str, worker_name: str, limit: int, *, wait: float = 0.0
    ) -> list[ClaimedFlowRun]:
        body: dict[str, Any] = {"worker_name": worker_name, "limit": limit}
        extra: dict[str, Any] = {}
        if wait > 0:
            body["wait"] = wait
            usual = self._api.http.timeout
            extra["timeout"] = httpx.Timeout(
                connect=usual.connect,
                read=wait + (usual.read or 10.0),
                write=usual.write,
                pool=usual.pool,
            )
        rows = self._api.request(
            "POST", f"/api/work_pools/{quote(pool, safe='')}/claim", json=body, **extra
        )
        return [ClaimedFlowRun.model_validate(row) for row in rows]

    def heartbeat(self, flow_run_ids: list[str], worker_name: str) -> dict[str, str]:
        answer = self._api.request(
            "POST",
            "/api/workers/heartbeat",
            json={"worker_name": worker_name, "flow_run_ids": list(flow_run_ids)},
        )
        return {str(key): str(value) for key, value in answer["states"].items()}

    def announce_worker(self, worker_name: str, pool: str, status: str) -> None:
        self._api.response(
            "POST",
            "/api/workers/announce",
            json={"worker_name": worker_name, "pool": pool, "status": status},
        )

    def held_states(self, flow_run_ids: list[str], worker_name: str) -> dict[str, str]:
        answer = self._api.request(
            "POST",
            "/api/workers/held_states",
            json={"worker_name": worker_name, "flow_run_ids": list(flow_run_ids)},
        )
        return {str(key): str(value) for key, value in answer["states"].items()}

    def crash_flow_run(self, flow_run_id: str, message: str, worker_name: str) -> str | None:
        answer = self._api.request(
            "POST",
            f"/api/flow_runs/{flow_run_id}/crash",
            json={"worker_name": worker_name, "message": message},
        )
        state_name = answer.get("state_name")
        return None if state_name is None else str(state_name)

    def create_work_pool(self, name: str, concurrency_limit: int | None = None) -> WorkPoolRecord:
        answer = self._api.request(
            "POST",
            "/api/work_pools",
            json={"name": name, "concurrency_limit": concurrency_limit},
        )
        return WorkPoolRecord.model_validate(answer)

    def set_work_pool_limit(self, name: str, concurrency_limit: int | None) -> WorkPoolRecord:
        answer = self._api.request(
            "PUT",
            f"/api/work_pools/{quote(name, safe='')}/concurrency_limit",
            json={"concurrency_limit": concurrency_limit},
        )
        return WorkPoolRecord.model_validate(answer)

    def set_work_pool_paused(self, name: str, paused: bool) -> WorkPoolRecord:
        action = "pause" if paused else "resume"
        answer = self._api.request("POST", f"/api/work_pools/{quote(name, safe='')}/{action}")
        return WorkPoolRecord.model_validate(answer)

    def read_work_pools(self) -> list[WorkPoolRecord]:
        return [
            WorkPoolRecord.model_validate(row)
            for row in self._api.request("GET", "/api/work_pools")
        ]

    def save_automation(self, spec: AutomationSpec, *, update: bool = False) -> AutomationRecord:
        from legato.schemas.automations import AutomationRecord

        answer = self._api.request(
            "POST",
            "/api/automations",
            json=spec.model_dump(mode="json"),
            params={"update": "true"} if update else None,
        )
        return AutomationRecord.model_validate(answer)

    def read_automations(self) -> list[AutomationRecord]:
        from legato.schemas.automations import AutomationRecord

        answer = self._api.request("GET", "/api/automations")
        return [AutomationRecord.model_validate(row) for row in answer]

    def read_automation(self, reference: str) -> AutomationRecord:
        from legato.schemas.automations import AutomationRecord

        path = f"/api/automations/{quote(reference, safe='')}"
        return AutomationRecord.model_validate(self._api.request("GET", path))

    def set_automation_enabled(self, reference: str, enabled: bool) -> AutomationRecord:
        from legato.schemas.automations import AutomationRecord

        action = "resume" if enabled else "pause"
        path = f"/api/automations/{quote(reference, safe='')}/{action}"
        return AutomationRecord.model_validate(self._api.request("POST", path))

    def delete_automation(self, reference: str) -> None:
        self._api.response("DELETE", f"/api/automations/{quote(reference, safe='')}")

    def read_automation_firings(self, reference: str, *, limit: int = 20) -> list[FiringRecord]:
        from legato.schemas.automations import FiringRecord

        path = f"/api/automations/{quote(reference, safe='')}/firings"
        answer = self._api.request("GET", path, params={"limit": limit})
        return [FiringRecord.model_validate(row) for row in answer]

    def emit_events(self, events: list[EventIn]) -> EventBatchAnswer:
        from legato.schemas.events import MAX_BATCH, EventBatchAnswer

        stored = duplicates = 0
        for start in range(0, len(events), MAX_BATCH):
            body = [
                event.model_dump(mode="json", exclude_none=True)
                for event in events[start : start + MAX_BATCH]
            ]
            answer = EventBatchAnswer.model_validate(
                self._api.request("POST", "/api/events", json=body)
            )
            stored += answer.stored
            duplicates += answer.duplicates
        return EventBatchAnswer(stored=stored, duplicates=duplicates)

    def read_event_page(self, filt: EventFilter, *, limit: int = 100) -> EventPage:
        from legato.schemas.events import REACHED_HEADER, EventPage, EventRecord, event_query

        response = self._api.response(
            "GET", "/api/events", params=[*event_query(filt), ("limit", str(limit))]
        )
        return EventPage(
            events=[EventRecord.model_validate(row) for row in response.json()],
            next_cursor=response.headers.get(NEXT_CURSOR_HEADER),
            reached=response.headers.get(REACHED_HEADER),
        )

    def create_webhook(self, spec: WebhookSpec) -> WebhookWithUrl:
        from legato.schemas.webhooks import WebhookWithUrl

        answer = self._api.request("POST", "/api/webhooks", json=spec.model_dump(mode="json"))
        return WebhookWithUrl.model_validate(answer)

    def read_webhooks(self) -> list[WebhookRecord]:
        from legato.schemas.webhooks import WebhookRecord

        return [
            WebhookRecord.model_validate(row) for row in self._api.request("GET", "/api/webhooks")
        ]

    def read_webhook(self, name: str) -> WebhookRecord:
        from legato.schemas.webhooks import WebhookRecord

        answer = self._api.request("GET", f"/api/webhooks/{quote(name, safe='')}")
        return WebhookRecord.model_validate(answer)

    def update_webhook(self, name: str, update: WebhookUpdate) -> WebhookRecord:
        from legato.schemas.webhooks import WebhookRecord

        answer = self._api.request(
            "PATCH",
            f"/api/webhooks/{quote(name, safe='')}",
            json=update.model_dump(mode="json", exclude_none=True),
        )
        return WebhookRecord.model_validate(answer)

    def rotate_webhook(self, name: str) -> WebhookWithUrl:
        from legato.schemas.webhooks import WebhookWithUrl

        answer = self._api.request("POST", f"/api/webhooks/{quote(name, safe='')}/rotate")
        return WebhookWithUrl.model_validate(answer)

    def delete_webhook(self, name: str) -> None:
        self._api.response("DELETE", f"/api/webhooks/{quote(name, safe='')}")

    # -- notification channels -------------------------------------------------------

    def create_notification_channel(self, spec: ChannelSpec) -> ChannelRecord:
        answer = self._api.request("POST", NOTIFICATIONS, json=spec.model_dump(mode="json"))
        return ChannelRecord.model_validate(answer)

    def read_notification_channels(self) -> list[ChannelRecord]:
        return [
            ChannelRecord.model_validate(row) for row in self._api.request("GET", NOTIFICATIONS)
        ]

    def read_notification_channel(self, name: str) -> ChannelRecord:
        answer = self._api.request("GET", f"{NOTIFICATIONS}/{quote(name, safe='')}")
        return ChannelRecord.model_validate(answer)

    def delete_notification_channel(self, name: str) -> None:
        self._api.response("DELETE", f"{NOTIFICATIONS}/{quote(name, safe='')}")

    def test_notification_channel(
        self, name: str, trial: TrialMessage | None = None
    ) -> DeliveryRecord:
        # A delivery retries for up to a minute on the server: wait that long for its
        # answer, rather than give up (and send the test again) after the usual timeout.
        usual = self._api.http.timeout
        timeout = httpx.Timeout(
            connect=usual.connect, read=TEST_SEND_SECONDS, write=usual.write, pool=usual.pool
        )
        answer = self._api.request(
            "POST",
            f"{NOTIFICATIONS}/{quote(name, safe='')}/test",
            json={} if trial is None else trial.model_dump(mode="json"),
            timeout=timeout,
        )
        return DeliveryRecord.model_validate(answer)

    def read_notification_deliveries(self, name: str, *, limit: int = 20) -> list[DeliveryRecord]:
        rows = self._api.request(
            "GET",
            f"{NOTIFICATIONS}/{quote(name, safe='')}/deliveries",
            params={"limit": str(limit)},
        )
        return [DeliveryRecord.model_validate(row) for row in rows]

    def set_concurrency_limit(self, tag: str, limit: int) -> ConcurrencyLimitRecord:
        answer = self._api.request(
            "PUT", "/api/concurrency_limits", json={"tag": tag, "limit": limit}
        )
        return ConcurrencyLimitRecord.model_validate(answer)

    def read_concurrency_limits(self) -> list[ConcurrencyLimitRecord]:
        rows = self._api.request("GET", "/api/concurrency_limits")
        return [ConcurrencyLimitRecord.model_validate(row) for row in rows]

    def delete_concurrency_limit(self, tag: str) -> None:
        self._api.response("DELETE", f"/api/concurrency_limits/{quote(tag, safe='')}")

    def read_limited_tags(self) -> list[str]:
        return [str(tag) for tag in self._api.request("GET", "/api/concurrency_limits/tags")]

    def acquire_concurrency_slots(
        self, tags: list[str], task_run_id: str, flow_run_id: str, holder: str, ttl: float
    ) -> LeaseAnswer:
        body = {
            "tags": list(tags),
            "task_run_id": task_run_id,
            "flow_run_id": flow_run_id,
            "holder": holder,
            "ttl": ttl,
        }
        answer = self._api.request("POST", "/api/concurrency_limits/leases", json=body)
        return LeaseAnswer.model_validate(answer)

    def renew_concurrency_slots(self, task_run_ids: list[str], ttl: float) -> list[str]:
        answer = self._api.request(
            "POST",
            "/api/concurrency_limits/leases/renew",
            json={"task_run_ids": list(task_run_ids), "ttl": ttl},
        )
        return [str(task_run_id) for task_run_id in answer]

    def release_concurrency_slots(self, task_run_ids: list[str]) -> int:
        answer = self._api.request(
            "POST",
            "/api/concurrency_limits/leases/release",
            json={"task_run_ids": list(task_run_ids)},
        )
        return int(answer["released"])

    def read_flows(self, *, limit: int = 200, offset: int = 0) -> list[FlowRecord]:
        rows = self._api.request("GET", "/api/flows", params={"limit": limit, "offset": offset})
        return [FlowRecord.model_validate(row) for row in rows]

    def read_flow(self, name: str) -> FlowRecord:
        return FlowRecord.model_validate(
            self._api.request("GET", f"/api/flows/{quote(name, safe='')}")
        )

    def read_flow_run_page(
        self,
        where: FlowRunFilter | None = None,
        *,
        limit: int = 50,
        offset: int = 0,
        cursor: str | None = None,
    ) -> FlowRunPage:
        params: list[tuple[str, Any]] = [("limit", limit), ("offset", offset)]
        if cursor is not None:
            params.append(("cursor", cursor))
        for name, value in (where or FlowRunFilter()).model_dump(mode="json").items():
            if name == "tags":
                params.extend(("tag", tag) for tag in value)
            elif value is not None:
                params.append((name, value))
        response = self._api.response("GET", "/api/flow_runs", params=params)
        return FlowRunPage(
            flow_runs=[FlowRunRecord.model_validate(row) for row in response.json()],
            next_cursor=response.headers.get(NEXT_CURSOR_HEADER),
        )

    def read_flow_run(self, flow_run_id: str) -> FlowRunRecord:
        return FlowRunRecord.model_validate(
            self._api.request("GET", f"/api/flow_runs/{flow_run_id}")
        )

    def read_task_runs(self, flow_run_id: str) -> list[TaskRunRecord]:
        """Every task run of the flow run, read a page at a time."""
        found: list[TaskRunRecord] = []
        cursor: str | None = None
        while True:
            page = self.read_task_run_page(flow_run_id, cursor=cursor)
            found.extend(page.task_runs)
            if page.next_cursor is None:
                return found
            cursor = page.next_cursor

    def read_task_run_page(
        self, flow_run_id: str, *, limit: int = 1000, cursor: str | None = None
    ) -> TaskRunPage:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        response = self._api.response(
            "GET", f"/api/flow_runs/{flow_run_id}/task_runs", params=params
        )
        return TaskRunPage(
            task_runs=[TaskRunRecord.model_validate(row) for row in response.json()],
            next_cursor=response.headers.get(NEXT_CURSOR_HEADER),
        )

    def read_task_run_summary(self, flow_run_id: str) -> TaskRunSummary:
        return TaskRunSummary.model_validate(
            self._api.request("GET", f"/api/flow_runs/{flow_run_id}/task_runs/summary")
        )

    def read_task_run(self, task_run_id: str) -> TaskRunRecord:
        return TaskRunRecord.model_validate(
            self._api.request("GET", f"/api/task_runs/{task_run_id}")
        )

    def read_state_history(self, run_id: str) -> list[StateRecord]:
        try:
            rows = self._api.request("GET", f"/api/flow_runs/{run_id}/state_history")
        except ObjectNotFound:
            try:
                rows = self._api.request("GET", f"/api/task_runs/{run_id}/state_history")
            except ObjectNotFound:
                raise ObjectNotFound(f"no flow run or task run with id {run_id!r}") from None
        return [StateRecord.model_validate(row) for row in rows]

    def read_task_state_histories(
        self, flow_run_id: str, task_run_ids: list[str] | None = None
    ) -> dict[str, list[StateRecord]]:
        if task_run_ids is None:
            answers = [
                self._api.request(
                    "GET", f"/api/orchestrator/flow_runs/{flow_run_id}/task_state_histories"
                )
            ]
        else:
            # A hundred ids keep the URL short of every server's limit.
            answers = [
                self._api.request(
                    "GET",
                    f"/api/flow_runs/{flow_run_id}/task_runs/state_histories",
                    params=[("task_run_id", i) for i in task_run_ids[start : start + 100]],
                )
                for start in range(0, len(task_run_ids), 100)
            ]
        return {
            task_run_id: [StateRecord.model_validate(row) for row in rows]
            for found in answers
            for task_run_id, rows in found.items()
        }

    def read_log_page(
        self,
        flow_run_id: str,
        *,
        task_run_id: str | None = None,
        level: str | int | None = None,
        limit: int = 1000,
        cursor: str | None = None,
    ) -> LogPage:
        params: dict[str, Any] = {"limit": limit}
        if task_run_id is not None:
            params["task_run_id"] = task_run_id
        if level is not None:
            params["level"] = level
        if cursor is not None:
            params["cursor"] = cursor
        response = self._api.response("GET", f"/api/flow_runs/{flow_run_id}/logs", params=params)
        return LogPage(
            logs=[LogRecord.model_validate(row) for row in response.json()],
            next_cursor=response.headers.get(NEXT_CURSOR_HEADER),
        )

    def resolve_flow_run_id(self, prefix: str) -> str:
        if not prefix.strip() or len(prefix) > 500 or "\x00" in prefix:
            raise ObjectNotFound(f"no flow run with id or name {prefix!r}")
        found = self._api.request(
            "GET", "/api/orchestrator/resolve_flow_run_id", params={"prefix": prefix}
        )
        return str(found["id"])

    def read_standalone_task_run_page(
        self, *, limit: int = 50, cursor: str | None = None
    ) -> TaskRunPage:
        params: dict[str, Any] = {"standalone": "true", "limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        response = self._api.response("GET", "/api/task_runs", params=params)
        return TaskRunPage(
            task_runs=[TaskRunRecord.model_validate(row) for row in response.json()],
            next_cursor=response.headers.get(NEXT_CURSOR_HEADER),
        )

    def read_task_run_log_page(
        self,
        task_run_id: str,
        *,
        level: str | int | None = None,
        limit: int = 1000,
        cursor: str | None = None,
    ) -> LogPage:
        params: dict[str, Any] = {"limit": limit}
        if level is not None:
            params["level"] = level
        if cursor is not None:
            params["cursor"] = cursor
        response = self._api.response("GET", f"/api/task_runs/{task_run_id}/logs", params=params)
        return LogPage(
            logs=[LogRecord.model_validate(row) for row in response.json()],
            next_cursor=response.headers.get(NEXT_CURSOR_HEADER),
        )

    def resolve_task_run_id(self, prefix: str) -> str:
        if not prefix.strip() or len(prefix) > 500 or "\x00" in prefix:
            raise ObjectNotFound(f"no task run with id or name {prefix!r}")
        found = self._api.request("GET", "/api/task_runs/resolve_id", params={"prefix": prefix})
        return str(found["id"])
