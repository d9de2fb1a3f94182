"""Events: send a batch, read them a page at a time, follow them live.

``GET /api/events/stream`` is a server-sent event stream: each event's ``id:`` is its
``seq``, so a client that reconnects with ``Last-Event-ID`` (browsers do it by
themselves) gets every event stored after the last one it saw, and no gap. The stream
polls the store without holding a thread: a route waiting on a condition would take
one of the server's few worker threads per listener.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Literal

import anyio.to_thread
from fastapi import APIRouter, Body, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from legato.event_rules.patterns import PatternError, check_pattern
from legato.schemas import NEXT_CURSOR_HEADER
from legato.schemas.events import (
    DEFAULT_EVENT_PAGE,
    MAX_BATCH,
    MAX_EVENT_PAGE,
    EventBatchAnswer,
    EventFilter,
    EventIn,
    EventRecord,
    check_client_event_name,
)
from legato.schemas.fields import IsoTime
from legato.server.api.flow_runs import PAGED
from legato.server.dependencies import StoreDep
from legato.store import Store

router = APIRouter(tags=["events"])

STREAM_POLL = 0.1
"""How often a stream checks whether this process stored something new (cheap)."""
STREAM_READ_EVERY = 1.0
"""How often it reads the store anyway (events other processes stored)."""
STREAM_KEEPALIVE = 15.0
STREAM_PAGE = 500


def _utc_seconds(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _filter(
    name: list[str] | None,
    resource: list[str] | None,
    related: list[str] | None,
    since: datetime | None,
    until: datetime | None,
    after: int | None,
    before: int | None,
    newest_first: bool,
) -> EventFilter:
    try:
        for pattern in [*(name or ()), *(resource or ()), *(related or ())]:
            check_pattern(pattern)
        return EventFilter(
            names=tuple(name or ()),
            resources=tuple(resource or ()),
            related=tuple(related or ()),
            since=_utc_seconds(since),
            until=_utc_seconds(until),
            after_seq=after,
            before_seq=before,
            newest_first=newest_first,
        )
    except (PatternError, ValidationError) as exc:
        raise RequestValidationError(
            [{"loc": ("query",), "msg": str(exc).splitlines()[-1], "type": "value_error"}]
        ) from None


PatternsQuery = Annotated[list[str] | None, Query(max_length=20)]


@router.post("/events")
def post_events(
    store: StoreDep,
    events: Annotated[list[EventIn], Body(max_length=MAX_BATCH)],
) -> EventBatchAnswer:
    """Store a batch of events (at most 1,000). An event whose ``id`` is stored already is
    counted as a duplicate and not stored again, so a batch sent twice is harmless.
    Names starting with ``legato.`` are legato's own and refused."""
    problems = []
    for number, event in enumerate(events):
        try:
            check_client_event_name(event.event)
        except ValueError as exc:
            problems.append(
                {"loc": ("body", number, "event"), "msg": str(exc), "type": "value_error"}
            )
    if problems:
        raise RequestValidationError(problems)
    stored, duplicates = store.events.emit(events)
    return EventBatchAnswer(stored=stored, duplicates=duplicates)


@router.get("/events", responses=PAGED)
def read_events(
    store: StoreDep,
    response: Response,
    name: Annotated[
        list[str] | None,
        Query(
            max_length=20,
            description="Event names; '*' is a wildcard (legato.flow-run.*). Any may match.",
        ),
    ] = None,
    resource: Annotated[
        list[str] | None,
        Query(
            max_length=20,
            description="Resource ids (legato.flow-run.<id>, wildcards) or label=value "
            "pairs. Any may match.",
        ),
    ] = None,
    related: Annotated[
        list[str] | None,
        Query(max_length=20, description="Ids of related resources (wildcards). Any may match."),
    ] = None,
    since: Annotated[
        IsoTime | None, Query(description="ISO 8601; events that occurred at or after it (UTC).")
    ] = None,
    until: Annotated[
        IsoTime | None, Query(description="ISO 8601; events that occurred before it (UTC).")
    ] = None,
    after: Annotated[
        int | None, Query(ge=0, description="Only events stored after this seq (a cursor).")
    ] = None,
    before: Annotated[
        int | None, Query(ge=0, description="Only events stored before this seq.")
    ] = None,
    order: Annotated[
        Literal["asc", "desc"], Query(description="asc: oldest first; desc: newest first.")
    ] = "asc",
    limit: Annotated[int, Query(ge=1, le=MAX_EVENT_PAGE)] = DEFAULT_EVENT_PAGE,
) -> list[EventRecord]:
    """Events in the order stored (or newest first), one page; the next page's cursor
    (a seq, for ``after`` or, newest first, ``before``) in a response header."""
    filt = _filter(name, resource, related, since, until, after, before, order == "desc")
    found, last_seq, more = store.events.read(filt, limit=limit)
    if more and last_seq is not None:
        response.headers[NEXT_CURSOR_HEADER] = str(last_seq)
    return found


@router.get("/events/stream", response_class=StreamingResponse)
async def stream_events(
    request: Request,
    name: PatternsQuery = None,
    resource: PatternsQuery = None,
    related: PatternsQuery = None,
    after: Annotated[
        int | None,
        Query(ge=0, description="Start after this seq (default: only events from now on)."),
    ] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Events as they are stored, as server-sent events (``id:`` is the seq, ``data:``
    the event's JSON). Resumes after ``Last-Event-ID`` (or ``after``) without a gap."""
    store: Store = request.app.state.store
    start = after
    if last_event_id is not None:
        if not last_event_id.strip().isdigit():
            raise RequestValidationError(
                [
                    {
                        "loc": ("header", "last-event-id"),
                        "msg": "Last-Event-ID must be the seq of an event (a whole number)",
                        "type": "value_error",
                    }
                ]
            )
        start = int(last_event_id.strip())
    filt = _filter(name, resource, related, None, None, None, None, False)
    if start is None:
        start = await anyio.to_thread.run_sync(store.events.latest_seq)
    return StreamingResponse(
        _stream(request, store, filt, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(
    request: Request, store: Store, filt: EventFilter, cursor: int
) -> AsyncIterator[bytes]:
    log = store.events
    seen = -1
    last_read = 0.0
    last_sent = time.monotonic()
    yield b": legato event stream\n\n"
    while not await request.is_disconnected():
        generation = log.generation()
        now = time.monotonic()
        if generation != seen or now - last_read >= STREAM_READ_EVERY:
            seen = generation
            last_read = now
            page_filter = filt.model_copy(update={"after_seq": cursor})
            found, last_seq, more = await anyio.to_thread.run_sync(
                functools.partial(log.read, page_filter, limit=STREAM_PAGE, project=False)
            )
            for record in found:
                data = json.dumps(record.to_wire(), separators=(",", ":"))
                yield f"id: {record.seq}\ndata: {data}\n\n".encode()
                last_sent = now
            if last_seq is not None:
                cursor = last_seq
            if more:
                seen = -1  # more is waiting: read again at once
                continue
        if now - last_sent >= STREAM_KEEPALIVE:
            yield b": keepalive\n\n"
            last_sent = now
        await asyncio.sleep(STREAM_POLL)
