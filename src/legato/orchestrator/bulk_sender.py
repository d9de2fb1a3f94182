"""The client's batched writes: task-run states, graph edges and logs, sent to
``POST /api/bulk`` by two background threads.

``enqueue`` is a ``SimpleQueue.put``, as with the local writer. One thread (the sender)
takes what was enqueued, sorts it into a batch (reading each task run's row when it
sends, so several state changes of a task run cost one row) and encodes its bodies;
the other (the poster) posts the batch before it meanwhile, so encoding overlaps the
server's work. Batches are posted one at a time, in order (a batch may update task runs
the one before it inserts).

A server that is briefly away costs only time: an unsent batch is kept and sent again
until the server accepts it. Past ``max_outage`` seconds of failure ``flush`` raises
:class:`StoreError`; records are never dropped silently. A body over the server's limit
is split to fit, and a record the server refuses costs only itself
(:mod:`legato.orchestrator.bulk_parts`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from legato.errors import ObjectNotFound, StoreError
from legato.ids import new_id
from legato.ops import MARKERS, FlushMarker, Op, SortedBatch, StopMarker, sort_ops
from legato.orchestrator.bulk_parts import Part, Payload, describe, encode, encode_batch, fit, split
from legato.orchestrator.http import (
    BULK_PATH,
    JSON_HEADERS,
    MAX_BACKOFF,
    Refused,
    Retryable,
    ServerApi,
    TooLarge,
)
from legato.schemas.task_runs import TASK_RUN_FIELDS

logger = logging.getLogger("legato.client")

MAX_BATCH_OPS = 5_000
"""Ops per bulk request."""
BODY_LIMIT = 8 * 1024 * 1024
"""Bytes per bulk request at first, under the server's default limit (10 MiB); lowered
to the server's own limit when it answers 413, and larger batches are split to fit."""
LINGER = 0.05
"""Seconds the sender waits after the first record of a batch, for more to join it (a
flush sends at once)."""


@dataclass
class _Outgoing:
    """One built batch on its way to the poster: its bodies, each under the server's
    body limit (none: only waiters to release)."""

    parts: list[Part]
    waiters: list[threading.Event]
    stop: bool


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


def _task_run_json(task_run: Any) -> dict[str, Any]:
    """The row of an engine task run as the server's TaskRunRow reads it."""
    values = list(_task_run_values(task_run))
    values[_TAGS] = list(values[_TAGS])
    return dict(zip(TASK_RUN_FIELDS, values, strict=True))


class BulkSender:
    """The two threads posting what is enqueued to ``api`` (see the module)."""

    def __init__(self, api: ServerApi):
        self.api = api
        self._queue: queue.SimpleQueue[Op] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._error: StoreError | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._down_since: float | None = None  # when the sender's current outage began
        self._down_reason = ""
        self._body_limit = BODY_LIMIT
        self.enqueue = self._queue.put
        self.start()

    def start(self) -> None:
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
        self.start()
        done = threading.Event()
        self._queue.put(FlushMarker(done))
        self._wake.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not done.wait(0.1):
            now = time.monotonic()
            down_since = self._down_since
            if down_since is not None and now - down_since >= self.api.max_outage:
                raise self.api.unreachable(now - down_since, self._down_reason)
            if deadline is not None and now >= deadline:
                raise StoreError(
                    f"the legato server at {self.api.api_url} did not accept run records "
                    f"within {timeout} seconds"
                )
        error, self._error = self._error, None
        if error is not None:
            raise StoreError(str(error))

    def close(self) -> None:
        """Send what was enqueued and end both threads (waiting briefly when the server
        is away: what is unsent then is lost with the process)."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            done = threading.Event()
            self._queue.put(StopMarker(done))
            self._wake.set()
            done.wait(1.0 if self._down_since is not None else self.api.max_outage + 5)

    def _run(self, outbox: queue.Queue[_Outgoing]) -> None:
        get, get_nowait = self._queue.get, self._queue.get_nowait
        backlog = False  # the last batch was full: more is waiting, lingering only delays it
        while True:
            first = get()
            if type(first) not in MARKERS and not backlog:
                self._wake.wait(LINGER)
            self._wake.clear()
            batch = [first]
            try:
                while len(batch) < MAX_BATCH_OPS:
                    batch.append(get_nowait())
            except queue.Empty:
                pass
            backlog = len(batch) >= MAX_BATCH_OPS
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
                markers = [op for op in batch if isinstance(op, FlushMarker | StopMarker)]
                stop = any(isinstance(op, StopMarker) for op in markers)
                outgoing = _Outgoing([], [op.waiter for op in markers], stop)
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
                except TooLarge as exc:  # the server's limit is lower than thought: split
                    self._body_limit = min(self._body_limit, exc.limit or len(body) // 2)
                    smaller = fit(payload, self._body_limit, body)
                    if len(smaller) == 1 and smaller[0][1] == body:  # cannot be cut further
                        logger.error("legato could not record run records: %s", exc)
                        self._error = StoreError(str(exc))
                        continue
                    parts.extend(reversed(smaller))
                except Refused as exc:  # a record the server will not take: find it
                    halves = split(payload)
                    if halves is None:
                        self._dropped(payload, exc)
                        dropped += 1
                        continue
                    parts.extend(reversed([(half, encode_batch(half)) for half in halves]))
            if dropped > 1 and not posted:  # not one record taken: not a bad record, a
                # server that takes nothing from this client (another version?): say so
                self._error = StoreError(
                    f"the legato server at {self.api.api_url} refused every one of {dropped} run "
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
            self.api.attempt("POST", BULK_PATH, content=encode(note), headers=JSON_HEADERS)
        except Exception as error:  # best effort: the line on stderr stays
            logger.error("legato could not record that note either: %s", error)

    def _post_bulk(self, body: bytes, waiters: list[threading.Event]) -> None:
        """POST until accepted; past max_outage, waiters are released with the error
        (so ``flush`` raises) but the batch is still kept and sent once the server is back."""
        start = time.monotonic()
        delay = 0.05
        while True:
            try:
                self.api.attempt("POST", BULK_PATH, content=body, headers=JSON_HEADERS)
                self._down_since = None
                return
            except Retryable as exc:
                if self._down_since is None:
                    self._down_since = start
                self._down_reason = str(exc)
                elapsed = time.monotonic() - start
                if elapsed >= self.api.max_outage and waiters:
                    self._error = self.api.unreachable(elapsed, str(exc))
                    logger.error("%s", self._error)
                    for waiter in waiters:
                        waiter.set()
                    waiters.clear()
                time.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
            except (TooLarge, Refused):
                raise
            except (StoreError, ObjectNotFound) as exc:  # refused: retrying cannot help
                logger.error("legato could not record run records: %s", exc)
                self._error = StoreError(str(exc))
                return
