"""Events: send a batch, read them a page at a time, follow them live.

``GET /api/events/stream`` is a server-sent event stream: each event's ``id:`` is its
cursor, so a client that reconnects with ``Last-Event-ID`` (browsers do it by
themselves) gets every event stored after the last one it saw, and no gap. The stream
polls the store without holding a thread: a route waiting on a condition would take
one of the server's few worker threads per listener.
"""

from __future__ import annotations

import asyncio
import functools
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
    CURSOR_PATTERN,
    DEFAULT_EVENT_PAGE,
    MAX_BATCH,
    MAX_EVENT_PAGE,
    REACHED_HEADER,
    EventBatchAnswer,
    EventCursor,
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


def _cursor(text: str | None, where: tuple[str, ...]) -> EventCursor | None:
    if text is None:
        return None
    try:
        return EventCursor.parse(text)
    except ValueError as exc:
        raise RequestValidationError(
            [{"loc": where, "msg": str(exc), "type": "value_error"}]
        ) from None


def _filter(
    name: list[str] | None,
    resource: list[str] | None,
    related: list[str] | None,
    since: datetime | None,
    until: datetime | None,
    after: str | None,
    before: str | None,
    newest_first: bool,
) -> EventFilter:
    after_cursor = _cursor(after, ("query", "after"))
    before_cursor = _cursor(before, ("query", "before"))
    try:
        for pattern in [*(name or ()), *(resource or ()), *(related or ())]:
            check_pattern(pattern)
        return EventFilter(
            names=tuple(name or ()),
            resources=tuple(resource or ()),
            related=tuple(related or ()),
            since=_utc_seconds(since),
            until=_utc_seconds(until),
            after=after_cursor,
            before=before_cursor,
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
        str | None,
        Query(pattern=CURSOR_PATTERN, description="Only events after this cursor."),
    ] = None,
    before: Annotated[
        str | None,
        Query(pattern=CURSOR_PATTERN, description="Only events before this cursor."),
    ] = None,
    order: Annotated[
        Literal["asc", "desc"], Query(description="asc: oldest first; desc: newest first.")
    ] = "asc",
    limit: Annotated[int, Query(ge=1, le=MAX_EVENT_PAGE)] = DEFAULT_EVENT_PAGE,
) -> list[EventRecord]:
    """Events oldest first (or newest first), one page. A run's state changes are events
    too (``legato.flow-run.Failed``, ...). The next page's cursor (for ``after`` or,
    newest first, ``before``) is in the X-Next-Cursor header when more may follow; the
    place reached, to follow new events from, in X-Events-Reached."""
    filt = _filter(name, resource, related, since, until, after, before, order == "desc")
    found, reached, more = store.events.read(filt, limit=limit)
    response.headers[REACHED_HEADER] = reached.text()
    if more:
        response.headers[NEXT_CURSOR_HEADER] = reached.text()
    return found


@router.get("/events/stream", response_class=StreamingResponse)
async def stream_events(
    request: Request,
    name: PatternsQuery = None,
    resource: PatternsQuery = None,
    related: PatternsQuery = None,
    after: Annotated[
        str | None,
        Query(
            pattern=CURSOR_PATTERN,
            description="Start after this cursor, 0.0 for the oldest (default: from now on).",
        ),
    ] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Events as they happen, as server-sent events (``id:`` is the event's cursor,
    ``data:`` its JSON). Resumes after ``Last-Event-ID`` (or ``after``) without a gap."""
    store: Store = request.app.state.store
    start = _cursor(after, ("query", "after"))
    if last_event_id is not None:
        start = _cursor(last_event_id, ("header", "Last-Event-ID"))
    filt = _filter(name, resource, related, None, None, None, None, False)
    if start is None:
        start = await anyio.to_thread.run_sync(store.events.latest_cursor)
    return StreamingResponse(
        _stream(request, store, filt, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(
    request: Request, store: Store, filt: EventFilter, cursor: EventCursor
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
            page_filter = filt.model_copy(update={"after": cursor})
            found, cursor, more = await anyio.to_thread.run_sync(
                functools.partial(log.read, page_filter, limit=STREAM_PAGE)
            )
            if found:
                # One write per page, not per event: a chunk costs the server more than
                # the event in it.
                yield "".join(
                    f"id: {record.cursor}\ndata: {record.model_dump_json()}\n\n" for record in found
                ).encode()
                last_sent = now
            if more:
                seen = -1  # more is waiting: read again at once
                continue
        if now - last_sent >= STREAM_KEEPALIVE:
            yield b": keepalive\n\n"
            last_sent = now
        await asyncio.sleep(STREAM_POLL)
