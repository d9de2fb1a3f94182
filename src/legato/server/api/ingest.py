"""What a flow process in client mode needs: the orchestrator protocol over HTTP.

Flow-run calls (create, propose a state, the rows a resume reads, the cache lookup)
are answered at once. ``POST /api/bulk`` takes a batch of task runs, their states,
graph edges and logs, writes it through the store's batched writer and answers
only once it is committed, so a 200 means durable. Every call is safe to repeat:
a client retries when an answer is lost (a server restarted mid-request).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)

from legato.attempts import run_of_token
from legato.errors import ObjectNotFound, RunTakenBack, StoreError, TransitionRefused
from legato.ops import (
    InsertTaskRun,
    Op,
    RecordBatch,
    RecordInput,
    RecordLog,
    RecordState,
    UpdateTaskRun,
)
from legato.schemas import StateRecord
from legato.server.api.flow_runs import NO_NUL_PATTERN
from legato.server.dependencies import UUID_PATTERN, FlowRunId, StoreDep
from legato.server.errors import ErrorBody
from legato.server.guards import is_json
from legato.server.run_credentials import AttemptToken, attempt_token
from legato.states import State, StateType
from legato.store import Store
from legato.store.run_tokens import taken_back
from legato.text import clean_text, loads_json

router = APIRouter(tags=["orchestrator"])
logger = logging.getLogger("legato.server")

Id = Annotated[str, Field(pattern=UUID_PATTERN)]
MAX_TIMESTAMP = 253_402_300_799.0  # 9999-12-31T23:59:59Z
MAX_INT = 2**31 - 1


def _clean(value: Any) -> Any:
    # Free text that is not valid Unicode (a lone surrogate, from a file name that is
    # not UTF-8, sent escaped as "\udce9"), or that holds NUL (PostgreSQL text cannot):
    # stored with each such character replaced, the rest kept.
    return clean_text(value) if isinstance(value, str) else value


Text = Annotated[str, BeforeValidator(_clean)]
Time = Annotated[float, Field(ge=0, le=MAX_TIMESTAMP)]
"""Epoch seconds that a datetime can hold (read back as one: a larger value would
make every later read of the run fail)."""
Count = Annotated[int, Field(ge=0, le=MAX_INT)]
"""The store's integer columns are 32-bit on PostgreSQL."""
Name = Annotated[str, BeforeValidator(_clean), Field(max_length=255, pattern=NO_NUL_PATTERN)]


def _state_type(value: StateType) -> str:
    # The store's bulk statements read the plain value.
    return value.value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StateIn(_Strict):
    """A state as the engine made it (the columns the store keeps)."""

    type: StateType
    name: Annotated[str, Field(max_length=32, pattern=NO_NUL_PATTERN)]
    message: Text | None = None
    timestamp: Time
    scheduled_time: Time | None = None

    def state(self) -> State:
        return State(self.type, self.name, self.message, self.timestamp, self.scheduled_time)


class FlowRunRow(_Strict):
    id: Id
    flow_name: Name
    name: Name
    parameters: dict[str, Any]
    tags: list[Name]
    entrypoint: Text | None = None
    parent_flow_run_id: Id | None = None
    parent_task_run_id: Id | None = None
    run_count: Count = 0
    created: Time
    start_time: Time | None = None
    end_time: Time | None = None
    # The client process running it (see legato.processes): a server on that host
    # crashes the run once that process is gone.
    process_host: Name | None = None
    process_pid: Count | None = None
    process_started: Time | None = None


class FlowRunCreate(_Strict):
    row: FlowRunRow
    state: StateIn


class FlowRunFields(_Strict):
    start_time: Time | None = None
    end_time: Time | None = None
    run_count: Count | None = None
    process_host: Name | None = None
    process_pid: Count | None = None
    process_started: Time | None = None
    # Only cleared, by a rerun in a process of its own: no worker holds the run then.
    worker_name: None = None
    heartbeat: None = None


class FlowRunStateProposal(_Strict):
    state: StateIn
    rerun: bool = False
    fields: FlowRunFields | None = None


class Verdict(BaseModel):
    allowed: bool
    reason: str
    taken_back: bool = False
    """Refused because the run is no longer the proposing process's attempt: it must stop."""


class TaskRunRow(_Strict):
    """Every column of a task run; read by the store's bulk statements by attribute."""

    id: Id
    flow_run_id: Id | None  # None: a task called outside any flow
    name: Name
    task_key: Annotated[str, Field(max_length=512, pattern=NO_NUL_PATTERN)]
    dynamic_key: Count
    tags: list[Name]
    state_type: Annotated[StateType, AfterValidator(_state_type)]
    state_name: Annotated[str, Field(max_length=32, pattern=NO_NUL_PATTERN)]
    state_message: Text | None = None
    state_timestamp: Time
    run_count: Count
    created: Time
    start_time: Time | None = None
    end_time: Time | None = None
    cache_key: Annotated[str, Field(max_length=512, pattern=NO_NUL_PATTERN)] | None = None
    cache_expiration: Time | None = None
    result_key: Annotated[str, Field(max_length=512, pattern=NO_NUL_PATTERN)] | None = None
    subflow_run_id: Id | None = None


class TaskStateIn(StateIn):
    task_run_id: Id


class InputRow(_Strict):
    task_run_id: Id
    parameter: Name
    upstream_id: Id


class LogRow(_Strict):
    flow_run_id: Id | None = None
    task_run_id: Id | None = None
    timestamp: Time
    level: Annotated[str, Field(max_length=16, pattern=NO_NUL_PATTERN)]
    logger: Name
    message: Text


class Bulk(_Strict):
    """One batch from a client. Each task run whose state is in ``states`` must be in
    ``task_runs`` (new) or ``updates`` (known): its row is written as sent.

    ``batch_id`` (a new UUID per batch, kept when the batch is sent again) makes a
    resend harmless: a batch whose id is stored already is answered without writing.
    """

    batch_id: Id | None = None

    task_runs: list[TaskRunRow] = []
    updates: list[TaskRunRow] = []
    states: list[TaskStateIn] = []
    inputs: list[InputRow] = []
    logs: list[LogRow] = []


class Accepted(BaseModel):
    accepted: int


class CachedResult(BaseModel):
    result_key: str | None


class ResolvedId(BaseModel):
    id: str


@router.post("/orchestrator/flow_runs")
def create_flow_run(store: StoreDep, body: FlowRunCreate, token: AttemptToken) -> Accepted:
    """Create a flow run in its first state (again: nothing happens). Sent with a run's
    credential it must be a subflow of that run, and joins its attempt."""
    if token is not None and body.row.parent_flow_run_id is None:
        raise HTTPException(
            403, detail="a flow run's credential can only create subflows of its own run"
        )
    try:
        store.read_flow_run_row(body.row.id)
        return Accepted(accepted=0)
    except ObjectNotFound:
        pass
    store.create_flow_run(body.row.model_dump(), body.state.state(), token=token)
    return Accepted(accepted=1)


@router.post("/orchestrator/flow_runs/{flow_run_id}/state")
def set_flow_run_state(
    store: StoreDep, flow_run_id: FlowRunId, body: FlowRunStateProposal, token: AttemptToken
) -> Verdict:
    """Propose a state; a refusal is an answer (allowed false), not an error. Sent with a
    run's credential, it is that attempt's proposal, fenced by its token."""
    run_id = flow_run_id.lower()
    fields = body.fields.model_dump(exclude_unset=True) if body.fields else None
    state = body.state.state()
    verdict = store.set_flow_run_state(run_id, state, rerun=body.rerun, fields=fields, token=token)
    if not verdict.allowed:
        row = store.read_flow_run_row(run_id)
        repeated = (row["state_type"], row["state_name"], row["state_timestamp"]) == (
            state.type.value,
            state.name,
            state.timestamp,
        )
        if repeated:  # the client's retry of a proposal that was already written
            return Verdict(allowed=True, reason="")
    return Verdict(allowed=verdict.allowed, reason=verdict.reason, taken_back=verdict.taken_back)


class AttemptHeld(BaseModel):
    held: bool
    """Whether the attempt whose token the request carries still holds the run."""


@router.get("/orchestrator/flow_runs/{flow_run_id}/attempt")
def attempt_held(store: StoreDep, flow_run_id: FlowRunId, token: AttemptToken) -> AttemptHeld:
    """What a run's process asks now and then, so that even a quiet flow body stops soon
    after its run was taken back (without a run's token: always held)."""
    return AttemptHeld(held=token is None or store.run_in_attempt(flow_run_id.lower(), token))


@router.get("/orchestrator/flow_runs/{flow_run_id}/row")
def read_flow_run_row(store: StoreDep, flow_run_id: FlowRunId) -> dict[str, Any]:
    return store.read_flow_run_row(flow_run_id.lower())


@router.get("/orchestrator/flow_runs/{flow_run_id}/task_runs_by_key")
def read_task_runs_by_key(store: StoreDep, flow_run_id: FlowRunId) -> list[dict[str, Any]]:
    """The task runs of an earlier attempt (each row has its task_key and dynamic_key)."""
    return list(store.read_task_runs_by_key(flow_run_id.lower()).values())


@router.get("/orchestrator/flow_runs/{flow_run_id}/task_state_histories")
def read_task_state_histories(
    store: StoreDep, flow_run_id: FlowRunId
) -> dict[str, list[StateRecord]]:
    return store.read_task_state_histories(flow_run_id.lower())


@router.get("/orchestrator/cached_result")
def find_cached_result(
    store: StoreDep,
    cache_key: Annotated[str, Query(max_length=512, pattern=NO_NUL_PATTERN)],
    now: float,
) -> CachedResult:
    return CachedResult(result_key=store.find_cached_result(cache_key, now))


@router.get("/orchestrator/resolve_flow_run_id")
def resolve_flow_run_id(
    store: StoreDep,
    prefix: Annotated[str, Query(min_length=1, max_length=36, pattern=r"^[0-9a-fA-F-]+$")],
) -> ResolvedId:
    return ResolvedId(id=store.resolve_flow_run_id(prefix.lower()))


def _inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its ``$defs`` written in place (an OpenAPI request
    body given by hand cannot point into a ``$defs`` of its own)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    return inline(schema)  # type: ignore[no-any-return]


_BULK_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": _inline_schema(Bulk)}},
    }
}


def _parse_bulk(content_type: str | None, raw: bytes) -> Bulk:
    """The batch, validated straight from the raw body (pydantic parses the JSON
    itself, about twice as fast as decoding to dicts and validating those); errors
    are the 422 FastAPI would give, each located under ``body``."""
    if not raw:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    if not is_json(content_type):
        raise RequestValidationError(
            [
                {
                    "type": "content_type",
                    "loc": ("body",),
                    "msg": "send the batch as JSON (Content-Type: application/json)",
                    "input": None,
                }
            ]
        )
    if len(raw) > LARGE_BODY_BYTES:
        with _one_large_body:
            return _parse_large_bulk(raw)
    try:
        return Bulk.model_validate_json(raw)
    except ValidationError as exc:
        if _lone_surrogate(exc):
            return _parse_bulk_cleaned(raw)
        raise _located(exc) from None


LARGE_BODY_BYTES = 2 * 1024 * 1024
"""Bodies larger than this are validated a slice of rows at a time (see below); one
of this size is validated in one call in ~60 ms, as fast as it can be."""
_ROWS_PER_SLICE = 500
_one_large_body = threading.Lock()
"""Large bodies are decoded one at a time: decoding one holds the interpreter lock for
tens of milliseconds, and several in a row would keep the event loop waiting for each."""
_ROW_LISTS = ("task_runs", "updates", "states", "inputs", "logs")
_ROW_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "task_runs": TypeAdapter(list[TaskRunRow]),
    "updates": TypeAdapter(list[TaskRunRow]),
    "states": TypeAdapter(list[TaskStateIn]),
    "inputs": TypeAdapter(list[InputRow]),
    "logs": TypeAdapter(list[LogRow]),
}


def _parse_large_bulk(raw: bytes) -> Bulk:
    """A large batch, validated a few hundred rows at a time.

    Validation holds the interpreter lock for as long as one call runs: a 10 MB
    body in one ``model_validate_json`` call took half a second here, during which
    the server's event loop (``/api/health`` included) could not run. Decoding the
    JSON is fast (~50 ms for 10 MB); validating slices lets the lock change hands
    between them, so other requests wait for one slice, not the whole body.
    """
    value = _decoded(raw)
    if not isinstance(value, dict):
        try:
            return Bulk.model_validate(value)
        except ValidationError as exc:
            raise _located(exc) from None
    lists = {name: value.pop(name) for name in _ROW_LISTS if name in value}
    try:
        head = Bulk.model_validate(value)  # batch_id, and no unknown keys
    except ValidationError as exc:
        raise _located(exc) from None
    rows: dict[str, list[Any]] = {}
    for name, items in lists.items():
        if not isinstance(items, list):
            try:
                Bulk.model_validate({name: items})
            except ValidationError as exc:
                raise _located(exc) from None
        adapter = _ROW_ADAPTERS[name]
        validated: list[Any] = []
        for start in range(0, len(items), _ROWS_PER_SLICE):
            try:
                validated.extend(adapter.validate_python(items[start : start + _ROWS_PER_SLICE]))
            except ValidationError as exc:
                errors = exc.errors(include_url=False)
                for error in errors:
                    index, *rest = error["loc"]
                    error["loc"] = ("body", name, int(index) + start, *rest)
                raise RequestValidationError(errors) from None
        rows[name] = validated
    return head.model_copy(update=rows)


def _located(exc: ValidationError) -> RequestValidationError:
    errors = exc.errors(include_url=False)
    for error in errors:
        error["loc"] = ("body", *error["loc"])
    return RequestValidationError(errors)


def _lone_surrogate(exc: ValidationError) -> bool:
    return any(
        e["type"] == "json_invalid" and "surrogate" in str(e.get("ctx", {}).get("error", ""))
        for e in exc.errors(include_url=False)
    )


def _parse_bulk_cleaned(raw: bytes) -> Bulk:
    """A batch whose JSON escapes a lone surrogate (``"\\udce9"``: text made from a
    file name that is not UTF-8): its text is stored with each such character
    replaced, as legato's own client sends it, instead of refusing the batch."""
    try:
        return Bulk.model_validate(_decoded(raw))
    except ValidationError as exc:
        raise _located(exc) from None


def _decoded(raw: bytes) -> Any:
    """The body's JSON, its strings cleaned if it escapes a lone surrogate (see
    :func:`legato.text.loads_json`); a 422 if it is not JSON (or nests too deep)."""
    try:
        return loads_json(raw)
    except (ValueError, RecursionError) as exc:
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": f"Invalid JSON: {exc}"}]
        ) from None


@router.post(
    "/bulk",
    openapi_extra=_BULK_BODY,
    responses={
        409: {
            "model": ErrorBody,
            "description": "The batch inserts task runs that are stored already, or holds "
            "a task-run state the rules refuse (a task run leaving a terminal state other "
            "than to Pending); nothing of it was stored.",
        }
    },
)
async def bulk(store: StoreDep, request: Request) -> Accepted:
    """Write a batch of task runs, states, edges and logs; answered once committed."""
    raw = await request.body()
    content_type = request.headers.get("content-type")
    token = attempt_token(request)
    return await run_in_threadpool(_ingest, store, content_type, raw, token)


def _ingest(
    store: Store, content_type: str | None, raw: bytes, token: str | None = None
) -> Accepted:
    body = _parse_bulk(content_type, raw)
    if token is not None:
        _check_attempt(store, body, token)
    rows = {row.id: row for row in body.updates}
    rows.update((row.id, row) for row in body.task_runs)
    missing = {s.task_run_id for s in body.states} - rows.keys()
    if missing:  # schema-valid, so not a 422: the task runs they name are unknown here
        raise HTTPException(
            404, detail=f"states of task runs not in task_runs or updates: {sorted(missing)}"
        )
    accepted = Accepted(
        accepted=len(body.task_runs)
        + len(body.updates)
        + len(body.states)
        + len(body.inputs)
        + len(body.logs)
    )
    batch_id = body.batch_id.lower() if body.batch_id else None
    with _batches_in_flight.hold(batch_id):
        if batch_id is not None and store.batch_ingested(batch_id):
            logger.info("bulk: batch %s was stored already (sent again)", batch_id)
            return accepted
        try:
            _write(store, body, rows, body.task_runs, batch_id)
        except StoreError as exc:
            # Nothing of this batch was stored (other requests' batches were). The usual
            # cause: task runs it inserts exist already; or a task-run state the rules
            # refuse (a task run that ended, moved on).
            if isinstance(exc.__cause__, TransitionRefused):
                raise HTTPException(
                    409, detail=f"{exc.__cause__}. Nothing of this batch was stored."
                ) from exc
            known = store.stored_task_run_ids([row.id for row in body.task_runs])
            stored = [row.id for row in body.task_runs if row.id in known]
            if not stored:
                raise
            if batch_id is not None:
                raise HTTPException(409, detail=_duplicates(stored)) from exc
            # A batch without an id sent again after its answer was lost: its task runs
            # exist already (its states and logs cannot be told apart: clients send ids).
            logger.warning("bulk: %d task runs were already stored", len(stored))
            new = [row for row in body.task_runs if row.id not in known]
            _write(store, body, rows, new, batch_id)
    _prune_ingested_batches(store)
    return accepted


def _check_attempt(store: Store, body: Bulk, token: str) -> None:
    """A batch sent with a run's credential writes only that attempt's runs: refused whole
    (nothing written) if its run was taken back (409, the process must stop) or if it
    names another run (403)."""
    run_ids: set[str | None] = {row.flow_run_id for row in (*body.task_runs, *body.updates)}
    run_ids.update(line.flow_run_id for line in body.logs)
    if None in run_ids:
        raise HTTPException(403, detail="a flow run's credential cannot write lines of no run")
    task_run_ids = {row.id.lower() for row in (*body.task_runs, *body.updates)}
    outside = store.check_attempt_runs(
        {str(run_id).lower() for run_id in run_ids}, token, task_run_ids
    )
    if outside is None:
        return
    own = run_of_token(token)
    if own is None or not store.run_in_attempt(own, token):
        raise RunTakenBack(taken_back(own or outside).reason)
    raise HTTPException(
        403, detail=f"a flow run's credential cannot write records of flow run {outside}"
    )


class _InFlight:
    """Batch ids being written now: a resend racing its original waits for it, then
    finds it stored, instead of writing it a second time."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._ids: set[str] = set()

    @contextlib.contextmanager
    def hold(self, batch_id: str | None) -> Iterator[None]:
        if batch_id is None:
            yield
            return
        with self._changed:
            while batch_id in self._ids:
                self._changed.wait()
            self._ids.add(batch_id)
        try:
            yield
        finally:
            with self._changed:
                self._ids.discard(batch_id)
                self._changed.notify_all()


_batches_in_flight = _InFlight()

BATCH_ID_RETENTION = 7 * 24 * 3600.0
"""Seconds a batch id is kept: longer than any client keeps resending a batch."""
_PRUNE_EVERY = 600.0
_last_prune = [0.0]


def _prune_ingested_batches(store: Store) -> None:
    now = time.monotonic()
    if now - _last_prune[0] < _PRUNE_EVERY:
        return
    _last_prune[0] = now
    store.prune_ingested_batches(before=time.time() - BATCH_ID_RETENTION)


def _write(
    store: Store,
    body: Bulk,
    rows: dict[str, TaskRunRow],
    new: list[TaskRunRow],
    batch_id: str | None,
) -> None:
    """Commit the batch all together, or raise StoreError having stored none of it.

    Submitted as one group: the writer commits it with other requests' batches, but
    one request's bad row costs only that request (see legato.store.writer)."""
    ops: list[Op] = []
    put = ops.append
    if batch_id is not None:
        put(RecordBatch({"id": batch_id, "received": time.time()}))
    inserted = {row.id for row in new}
    for row in new:
        put(InsertTaskRun(row))
    for row in rows.values():
        if row.id not in inserted:
            put(UpdateTaskRun(row))
    for s in body.states:  # read like a State (type, name, message, timestamps)
        put(RecordState(rows[s.task_run_id], s))
    for edge in body.inputs:
        put(RecordInput(edge.model_dump()))
    for line in body.logs:
        put(RecordLog(line.model_dump()))
    store.writer.submit(ops, timeout=60)


def _duplicates(task_run_ids: list[str]) -> str:
    shown = ", ".join(task_run_ids[:10])
    more = f" and {len(task_run_ids) - 10} more" if len(task_run_ids) > 10 else ""
    return (
        f"task runs already stored: {shown}{more}. A task run is inserted once (under "
        "task_runs); send later changes of it under updates. Nothing of this batch was stored."
    )
