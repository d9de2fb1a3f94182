"""The orchestrator over HTTP: a flow process records its runs on a legato server.

Flow-run calls are synchronous requests. Task-run states, graph edges and logs
are enqueued (a ``SimpleQueue.put``, as with the local writer) and a background
sender thread posts them to ``POST /api/bulk`` in batches, reading each task run's
row when it sends, so several state changes of a task run cost one row.

With an API key (``LEGATO_API_KEY``) every request carries it as a bearer token; a
401 or 403 is not retried but raised as a :class:`StoreError` naming the problem.

A server that is briefly away (restarted) costs only time: every request is
retried with exponential backoff, and an unsent batch is kept (and sent again)
until the server accepts it. Past ``client_max_outage`` seconds of failure the
synchronous calls and ``flush`` raise :class:`StoreError`; records are never
dropped silently.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from legato.attempts import TAKEN_BACK_HEADER, run_of_token
from legato.errors import ObjectNotFound, RunTakenBack, StoreError
from legato.ids import new_id
from legato.ops import FLUSH, MARKERS, STOP, Op, SortedBatch, sort_ops
from legato.orchestrator.bulk_parts import Part, Payload, describe, encode, fit, split
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
from legato.states import Transition

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from legato.states import State

logger = logging.getLogger("legato.client")

MAX_BATCH_OPS = 5_000
"""Ops per bulk request."""
BODY_LIMIT = 8 * 1024 * 1024
"""Bytes per bulk request at first, under the server's default limit (10 MiB); lowered
to the server's own limit when it answers 413, and larger batches are split to fit."""
MAX_BODY_HEADER = "X-Legato-Max-Body-Bytes"
LINGER = 0.05
JSON_HEADERS = {"Content-Type": "application/json"}
MAX_BACKOFF = 2.0


TASK_RUN_FIELDS = (
    "id",
    "flow_run_id",
    "name",
    "task_key",
    "dynamic_key",
    "tags",
    "state_type",
    "state_name",
    "state_message",
    "state_timestamp",
    "run_count",
    "created",
    "start_time",
    "end_time",
    "cache_key",
    "cache_expiration",
    "result_key",
    "subflow_run_id",
)


@dataclass
class _Outgoing:
    """One built batch on its way to the poster: its bodies, each under the server's
    body limit (none: only waiters to release)."""

    parts: list[Part]
    waiters: list[threading.Event]
    stop: bool


class _Refused(StoreError):
    """The server refused a bulk body's contents (409, 422): some record in it."""


class _TooLarge(StoreError):
    """The server refused a body as too large (413); ``limit`` is its limit in bytes."""

    def __init__(self, message: str, limit: int | None):
        super().__init__(message)
        self.limit = limit


class _Retryable(Exception):
    """A failure that another attempt may not meet (no connection, a 5xx)."""


STATE_FIELDS = ("type", "name", "message", "timestamp", "scheduled_time")
_state_values = attrgetter("type._value_", "name", "message", "timestamp", "scheduled_time")
_task_run_values = attrgetter(*TASK_RUN_FIELDS)
_TAGS = TASK_RUN_FIELDS.index("tags")


def _bulk_payload(batch: SortedBatch) -> Payload:
    """What one ``POST /api/bulk`` says (encoded once, by ``bulk_parts.fit``: a resend
    sends the same bytes).

    Rows are built with ``attrgetter`` and ``zip`` rather than one ``getattr`` per
    field: the sender shares the GIL with the flow, so its time is the flow's time.
    """
    keys, values = (*STATE_FIELDS, "task_run_id"), _state_values
    states = [
        dict(zip(keys, (*values(state), task_run.id), strict=True))
        for task_run, state in batch.history
    ]
    payload = {
        # Sent again unchanged after a lost answer: the server stores each id once.
        "batch_id": new_id(),
        "task_runs": [_task_run_json(t) for t in batch.new_task_runs.values()],
        "updates": [_task_run_json(t) for t in batch.changed_task_runs.values()],
        "states": states,
        "inputs": batch.inputs,
        "logs": batch.logs,
    }
    return payload


def _state_json(state: State) -> dict[str, Any]:
    return {
        "type": state.type._value_,
        "name": state.name,
        "message": state.message,
        "timestamp": state.timestamp,
        "scheduled_time": state.scheduled_time,
    }


def _task_run_json(task_run: Any) -> dict[str, Any]:
    values = list(_task_run_values(task_run))
    values[_TAGS] = list(values[_TAGS])
    return dict(zip(TASK_RUN_FIELDS, values, strict=True))


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
        self.api_url = api_url.rstrip("/")
        self.max_outage = max_outage
        # A worker's run process speaks with its attempt token only: it is its fencing
        # token and its credential, scoped to its run (see legato.store.run_tokens).
        credential = run_token or api_key
        headers = {"Authorization": f"Bearer {credential}"} if credential else {}
        self._http = httpx.Client(base_url=self.api_url, timeout=timeout, headers=headers)
        self._has_key = bool(credential)
        self.token = run_token
        self.on_taken_back: Callable[[str], None] | None = None
        """Called (from whichever thread heard it) with the reason when the server says
        this process's run was taken back."""
        self.ending = False
        self._queue: queue.SimpleQueue[Op] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._error: StoreError | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._down_since: float | None = None  # when the sender's current outage began
        self._down_reason = ""
        self._body_limit = BODY_LIMIT
        self.enqueue = self._queue.put
        self._start()

    # -- requests ------------------------------------------------------------------

    def _unreachable(self, elapsed: float, problem: str) -> StoreError:
        return StoreError(
            f"the legato server at {self.api_url} has been unreachable for {elapsed:.0f} s: "
            f"{problem}"
        )

    def _attempt(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if "json" in kwargs:  # encoded here: text that is not valid Unicode is replaced
            kwargs["content"] = encode(kwargs.pop("json"))
        if "content" in kwargs or method not in ("GET", "HEAD", "OPTIONS"):
            # Bodies are JSON; and the server takes changes only with a JSON content type
            # (a page of another site cannot send one), bodiless POSTs such as pause included.
            kwargs["headers"] = {**JSON_HEADERS, **kwargs.get("headers", {})}
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
        if response.headers.get(TAKEN_BACK_HEADER) and response.status_code >= 400:
            reason = _detail(response)
            if self.on_taken_back is not None:
                self.on_taken_back(reason)
            raise RunTakenBack(reason)
        if response.status_code >= 500:
            raise _Retryable(f"HTTP {response.status_code}: {_detail(response)}")
        if response.status_code in (409, 422) and path == "/api/bulk":
            raise _Refused(
                f"the legato server at {self.api_url} refused {method} {path} "
                f"(HTTP {response.status_code}): {_detail(response)}"
            )
        if response.status_code == 413:
            raise _TooLarge(
                f"the legato server at {self.api_url} refused {method} {path} as too large "
                f"(HTTP 413): {_detail(response)}",
                _body_limit_of(response),
            )
        if response.status_code == 404:
            raise ObjectNotFound(_detail(response))
        if response.status_code == 401:
            hint = (
                "LEGATO_API_KEY is not a valid key there"
                if self._has_key
                else "it requires an API key: set LEGATO_API_KEY"
            )
            raise StoreError(
                f"the legato server at {self.api_url} refused {method} {path}: {hint} "
                f"(HTTP 401: {_detail(response)})"
            )
        if response.status_code == 403:
            raise StoreError(
                f"the legato server at {self.api_url} refused {method} {path}: the key in "
                f"LEGATO_API_KEY may not do this (HTTP 403: {_detail(response)})"
            )
        if response.status_code >= 400:
            raise StoreError(
                f"the legato server at {self.api_url} refused {method} {path} "
                f"(HTTP {response.status_code}): {_detail(response)}"
            )
        return response

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One call's JSON answer (see ``_response``)."""
        return self._response(method, path, **kwargs).json()

    def _response(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call, retried with backoff while the server is away (up to max_outage)."""
        start = time.monotonic()
        delay = 0.05
        while True:
            try:
                return self._attempt(method, path, **kwargs)
            except _Retryable as exc:
                elapsed = time.monotonic() - start
                if elapsed >= self.max_outage:
                    raise self._unreachable(elapsed, str(exc)) from None
                time.sleep(min(delay, max(0.0, self.max_outage - elapsed)))
                delay = min(delay * 2, MAX_BACKOFF)

    # -- batched writes ------------------------------------------------------------

    def _start(self) -> None:
        """Start the sender: one thread builds each batch's body while another posts
        the one before it, so encoding overlaps the server's work on the last batch.
        Batches are still posted one at a time, in order (a batch may update task
        runs the one before it inserts)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                outbox: queue.Queue[_Outgoing] = queue.Queue(maxsize=1)
                poster = threading.Thread(
                    target=self._post_loop, args=(outbox,), name="legato-client-poster", daemon=True
                )
                poster.start()
                self._thread = threading.Thread(
                    target=self._run, args=(outbox,), name="legato-client-sender", daemon=True
                )
                self._thread.start()

    def flush(self, timeout: float | None = None) -> None:
        """Block until everything enqueued before this call is accepted by the server.

        Raises StoreError if the server stayed away past ``max_outage`` (or ``timeout``).
        """
        self._start()
        done = threading.Event()
        self._queue.put((FLUSH, done))
        self._wake.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not done.wait(0.1):
            now = time.monotonic()
            down_since = self._down_since
            if down_since is not None and now - down_since >= self.max_outage:
                raise self._unreachable(now - down_since, self._down_reason)
            if deadline is not None and now >= deadline:
                raise StoreError(
                    f"the legato server at {self.api_url} did not accept run records "
                    f"within {timeout} seconds"
                )
        error, self._error = self._error, None
        if error is not None:
            raise StoreError(str(error))

    def close(self) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            done = threading.Event()
            self._queue.put((STOP, done))
            self._wake.set()
            done.wait(1.0 if self._down_since is not None else self.max_outage + 5)
        self._http.close()

    def _run(self, outbox: queue.Queue[_Outgoing]) -> None:
        get, get_nowait = self._queue.get, self._queue.get_nowait
        while True:
            first = get()
            if first[0] not in MARKERS:
                self._wake.wait(LINGER)
            self._wake.clear()
            batch = [first]
            try:
                while len(batch) < MAX_BATCH_OPS:
                    batch.append(get_nowait())
            except queue.Empty:
                pass
            try:
                sorted_batch = sort_ops(batch)
                parts = (
                    fit(_bulk_payload(sorted_batch), self._body_limit)
                    if sorted_batch.has_records()
                    else []
                )
                outgoing = _Outgoing(parts, sorted_batch.waiters, sorted_batch.stop)
            except BaseException as exc:  # a malformed op: report it, never die silently
                logger.error("legato could not send %d run records: %s", len(batch), exc)
                self._error = StoreError(f"sending run records failed: {exc}")
                markers = [op for op in batch if op and op[0] in MARKERS]
                stop = any(op[0] == STOP for op in markers)
                outgoing = _Outgoing([], [op[1] for op in markers], stop)
            outbox.put(outgoing)  # waits while the batch before the last is being posted
            if outgoing.stop:
                return

    def _post_loop(self, outbox: queue.Queue[_Outgoing]) -> None:
        """Post built batches in order; release each batch's waiters once it is accepted."""
        while True:
            outgoing = outbox.get()
            parts = list(reversed(outgoing.parts))
            posted = dropped = 0
            while parts:
                payload, body = parts.pop()
                try:
                    self._post_bulk(body, outgoing.waiters)
                    posted += 1
                except _TooLarge as exc:  # the server's limit is lower than thought: split
                    self._body_limit = min(self._body_limit, exc.limit or len(body) // 2)
                    smaller = fit(payload, self._body_limit, body)
                    if len(smaller) == 1 and smaller[0][1] == body:  # cannot be cut further
                        logger.error("legato could not record run records: %s", exc)
                        self._error = StoreError(str(exc))
                        continue
                    parts.extend(reversed(smaller))
                except _Refused as exc:  # a record the server will not take: find it
                    halves = split(payload)
                    if halves is None:
                        self._dropped(payload, exc)
                        dropped += 1
                        continue
                    parts.extend(reversed([(half, encode(half)) for half in halves]))
            if dropped > 1 and not posted:  # not one record taken: not a bad record, a
                # server that takes nothing from this client (another version?): say so
                self._error = StoreError(
                    f"the legato server at {self.api_url} refused every one of {dropped} run "
                    "records of a batch; see the errors above"
                )
            for waiter in outgoing.waiters:
                waiter.set()
            if outgoing.stop:
                return

    def _dropped(self, payload: Payload, exc: StoreError) -> None:
        """One record the server refuses (a task run stored already, a name too long):
        the rest of its batch was sent; name it on stderr and in its run's logs."""
        flow_run_id, what = describe(payload)
        reason = str(exc)
        reason = reason if len(reason) <= 500 else reason[:497] + "..."
        logger.error("legato could not record %s, and dropped it: %s", what, reason)
        if flow_run_id is None:
            return
        note = {
            "batch_id": new_id(),
            "logs": [
                {
                    "flow_run_id": flow_run_id,
                    "task_run_id": None,
                    "timestamp": time.time(),
                    "level": "ERROR",
                    "logger": "legato.client",
                    "message": f"legato could not record {what}, and dropped it: {reason}",
                }
            ],
        }
        try:
            self._attempt("POST", "/api/bulk", content=encode(note), headers=JSON_HEADERS)
        except Exception as error:  # best effort: the line on stderr stays
            logger.error("legato could not record that note either: %s", error)

    def _post_bulk(self, body: bytes, waiters: list[threading.Event]) -> None:
        """POST until accepted; past max_outage, waiters are released with the error
        (so ``flush`` raises) but the batch is still kept and sent once the server is back."""
        start = time.monotonic()
        delay = 0.05
        while True:
            try:
                self._attempt("POST", "/api/bulk", content=body, headers=JSON_HEADERS)
                self._down_since = None
                return
            except _Retryable as exc:
                if self._down_since is None:
                    self._down_since = start
                self._down_reason = str(exc)
                elapsed = time.monotonic() - start
                if elapsed >= self.max_outage and waiters:
                    self._error = self._unreachable(elapsed, str(exc))
                    logger.error("%s", self._error)
                    for waiter in waiters:
                        waiter.set()
                    waiters.clear()
                time.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
            except (_TooLarge, _Refused):
                raise
            except (StoreError, ObjectNotFound) as exc:  # refused: retrying cannot help
                logger.error("legato could not record run records: %s", exc)
                self._error = StoreError(str(exc))
                return

    # -- flow runs -------------------------------------------------------------------

    def attempt_held(self) -> bool:
        run_id = None if self.token is None else run_of_token(self.token)
        if self.token is None or run_id is None:
            return True
        answer = self._request("GET", f"/api/orchestrator/flow_runs/{run_id}/attempt")
        held = bool(answer["held"])
        if not held and self.on_taken_back is not None:
            self.on_taken_back(f"flow run {run_id} was taken back from this process")
        return held

    def create_flow_run(self, row: dict[str, Any], state: State) -> None:
        self._request(
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
        verdict = self._request(
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

    def read_flow_run_row(self, flow_run_id: str) -> dict[str, Any]:
        row: dict[str, Any] = self._request("GET", f"/api/orchestrator/flow_runs/{flow_run_id}/row")
        return row

    def read_task_runs_by_key(self, flow_run_id: str) -> dict[tuple[str, int], dict[str, Any]]:
        rows = self._request("GET", f"/api/orchestrator/flow_runs/{flow_run_id}/task_runs_by_key")
        return {(row["task_key"], row["dynamic_key"]): row for row in rows}

    def find_cached_result(self, cache_key: str, now: float) -> str | None:
        found = self._request(
            "GET", "/api/orchestrator/cached_result", params={"cache_key": cache_key, "now": now}
        )
        key: str | None = found["result_key"]
        return key

    # -- the read API ------------------------------------------------------------------

    def deploy(self, spec: DeploymentSpec) -> DeploymentRecord:
        answer = self._request("PUT", "/api/deployments", json=spec.model_dump(mode="json"))
        return DeploymentRecord.model_validate(answer)

    def read_deployments(self, *, limit: int = 200, offset: int = 0) -> list[DeploymentRecord]:
        rows = self._request("GET", "/api/deployments", params={"limit": limit, "offset": offset})
        return [DeploymentRecord.model_validate(row) for row in rows]

    def read_deployment(self, reference: str) -> DeploymentRecord:
        answer = self._request("GET", "/api/deployments/lookup", params={"ref": reference})
        return DeploymentRecord.model_validate(answer)

    def set_deployment_paused(self, deployment_id: str, paused: bool) -> DeploymentRecord:
        action = "pause" if paused else "resume"
        answer = self._request("POST", f"/api/deployments/{deployment_id}/{action}")
        return DeploymentRecord.model_validate(answer)

    def set_schedule_active(
        self, deployment_id: str, schedule: str, active: bool
    ) -> DeploymentRecord:
        action = "resume" if active else "pause"
        answer = self._request(
            "POST",
            f"/api/deployments/{deployment_id}/schedules/{quote(schedule, safe='')}/{action}",
        )
        return DeploymentRecord.model_validate(answer)

    def delete_deployment(self, deployment_id: str) -> int:
        answer = self._request("DELETE", f"/api/deployments/{deployment_id}")
        return int(answer["unstarted_runs_deleted"])

    def create_deployment_run(
        self, deployment_id: str, request: DeploymentRunRequest
    ) -> FlowRunRecord:
        answer = self._request(
            "POST",
            f"/api/deployments/{deployment_id}/runs",
            json=request.model_dump(mode="json", exclude_defaults=True),
        )
        return FlowRunRecord.model_validate(answer)

    def backfill_deployment(
        self, deployment_id: str, start: datetime, end: datetime
    ) -> BackfillResult:
        request = BackfillRequest(start=start, end=end)
        answer = self._request(
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
            usual = self._http.timeout
            extra["timeout"] = httpx.Timeout(
                connect=usual.connect,
                read=wait + (usual.read or 10.0),
                write=usual.write,
                pool=usual.pool,
            )
        rows = self._request(
            "POST", f"/api/work_pools/{quote(pool, safe='')}/claim", json=body, **extra
        )
        return [ClaimedFlowRun.model_validate(row) for row in rows]

    def heartbeat(self, flow_run_ids: list[str], worker_name: str) -> dict[str, str]:
        answer = self._request(
            "POST",
            "/api/workers/heartbeat",
            json={"worker_name": worker_name, "flow_run_ids": list(flow_run_ids)},
        )
        return {str(key): str(value) for key, value in answer["states"].items()}

    def crash_flow_run(self, flow_run_id: str, message: str, worker_name: str) -> str | None:
        answer = self._request(
            "POST",
            f"/api/flow_runs/{flow_run_id}/crash",
            json={"worker_name": worker_name, "message": message},
        )
        state_name = answer.get("state_name")
        return None if state_name is None else str(state_name)

    def create_work_pool(self, name: str, concurrency_limit: int | None = None) -> WorkPoolRecord:
        answer = self._request(
            "POST",
            "/api/work_pools",
            json={"name": name, "concurrency_limit": concurrency_limit},
        )
        return WorkPoolRecord.model_validate(answer)

    def set_work_pool_limit(self, name: str, concurrency_limit: int | None) -> WorkPoolRecord:
        answer = self._request(
            "PUT",
            f"/api/work_pools/{quote(name, safe='')}/concurrency_limit",
            json={"concurrency_limit": concurrency_limit},
        )
        return WorkPoolRecord.model_validate(answer)

    def set_work_pool_paused(self, name: str, paused: bool) -> WorkPoolRecord:
        action = "pause" if paused else "resume"
        answer = self._request("POST", f"/api/work_pools/{quote(name, safe='')}/{action}")
        return WorkPoolRecord.model_validate(answer)

    def read_work_pools(self) -> list[WorkPoolRecord]:
        return [
            WorkPoolRecord.model_validate(row) for row in self._request("GET", "/api/work_pools")
        ]

    def set_concurrency_limit(self, tag: str, limit: int) -> ConcurrencyLimitRecord:
        answer = self._request("PUT", "/api/concurrency_limits", json={"tag": tag, "limit": limit})
        return ConcurrencyLimitRecord.model_validate(answer)

    def read_concurrency_limits(self) -> list[ConcurrencyLimitRecord]:
        rows = self._request("GET", "/api/concurrency_limits")
        return [ConcurrencyLimitRecord.model_validate(row) for row in rows]

    def delete_concurrency_limit(self, tag: str) -> None:
        self._response("DELETE", f"/api/concurrency_limits/{quote(tag, safe='')}")

    def read_limited_tags(self) -> list[str]:
        return [str(tag) for tag in self._request("GET", "/api/concurrency_limits/tags")]

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
        answer = self._request("POST", "/api/concurrency_limits/leases", json=body)
        return LeaseAnswer.model_validate(answer)

    def renew_concurrency_slots(self, task_run_ids: list[str], ttl: float) -> list[str]:
        answer = self._request(
            "POST",
            "/api/concurrency_limits/leases/renew",
            json={"task_run_ids": list(task_run_ids), "ttl": ttl},
        )
        return [str(task_run_id) for task_run_id in answer]

    def release_concurrency_slots(self, task_run_ids: list[str]) -> int:
        answer = self._request(
            "POST",
            "/api/concurrency_limits/leases/release",
            json={"task_run_ids": list(task_run_ids)},
        )
        return int(answer["released"])

    def read_flows(self, *, limit: int = 200, offset: int = 0) -> list[FlowRecord]:
        rows = self._request("GET", "/api/flows", params={"limit": limit, "offset": offset})
        return [FlowRecord.model_validate(row) for row in rows]

    def read_flow(self, name: str) -> FlowRecord:
        return FlowRecord.model_validate(self._request("GET", f"/api/flows/{quote(name, safe='')}"))

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
        response = self._response("GET", "/api/flow_runs", params=params)
        return FlowRunPage(
            flow_runs=[FlowRunRecord.model_validate(row) for row in response.json()],
            next_cursor=response.headers.get(NEXT_CURSOR_HEADER),
        )

    def read_flow_run(self, flow_run_id: str) -> FlowRunRecord:
        return FlowRunRecord.model_validate(self._request("GET", f"/api/flow_runs/{flow_run_id}"))

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
        response = self._response("GET", f"/api/flow_runs/{flow_run_id}/task_runs", params=params)
        return TaskRunPage(
            task_runs=[TaskRunRecord.model_validate(row) for row in response.json()],
            next_cursor=response.headers.get(NEXT_CURSOR_HEADER),
        )

    def read_task_run_summary(self, flow_run_id: str) -> TaskRunSummary:
        return TaskRunSummary.model_validate(
            self._request("GET", f"/api/flow_runs/{flow_run_id}/task_runs/summary")
        )

    def read_task_run(self, task_run_id: str) -> TaskRunRecord:
        return TaskRunRecord.model_validate(self._request("GET", f"/api/task_runs/{task_run_id}"))

    def read_state_history(self, run_id: str) -> list[StateRecord]:
        try:
            rows = self._request("GET", f"/api/flow_runs/{run_id}/state_history")
        except ObjectNotFound:
            try:
                rows = self._request("GET", f"/api/task_runs/{run_id}/state_history")
            except ObjectNotFound:
                raise ObjectNotFound(f"no flow run or task run with id {run_id!r}") from None
        return [StateRecord.model_validate(row) for row in rows]

    def read_task_state_histories(
        self, flow_run_id: str, task_run_ids: list[str] | None = None
    ) -> dict[str, list[StateRecord]]:
        if task_run_ids is None:
            answers = [
                self._request(
                    "GET", f"/api/orchestrator/flow_runs/{flow_run_id}/task_state_histories"
                )
            ]
        else:
            # A hundred ids keep the URL short of every server's limit.
            answers = [
                self._request(
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
        response = self._response("GET", f"/api/flow_runs/{flow_run_id}/logs", params=params)
        return LogPage(
            logs=[LogRecord.model_validate(row) for row in response.json()],
            next_cursor=response.headers.get(NEXT_CURSOR_HEADER),
        )

    def resolve_flow_run_id(self, prefix: str) -> str:
        if not prefix or len(prefix) > 36 or prefix.strip("0123456789abcdefABCDEF-"):
            raise ObjectNotFound(f"no flow run with id {prefix!r}")
        found = self._request(
            "GET", "/api/orchestrator/resolve_flow_run_id", params={"prefix": prefix}
        )
        return str(found["id"])


def _body_limit_of(response: httpx.Response) -> int | None:
    """The body limit a 413 names (its header, else its message), if it names one."""
    named = response.headers.get(MAX_BODY_HEADER)
    if named is None:
        found = re.search(r"limit is ([0-9]+) bytes", response.text)
        named = found.group(1) if found else None
    try:
        return int(named) if named is not None else None
    except ValueError:
        return None


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    return str(body)[:500]
