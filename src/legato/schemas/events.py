"""An event: something that happened to a resource, as posted, stored and read back.

The shape is Prefect's (``occurred``, ``event``, ``resource``, ``related``, ``payload``,
``id``), with ``legato.`` labels, so a team's event names and templates carry over.
A resource is a flat map of text labels; ``legato.resource.id`` names it (for example
``legato.flow-run.<id>``). A related resource adds ``legato.resource.role`` (``flow``,
``deployment``, ``work-pool``, ``tag``, ...).

Every limit a client can hit is checked here and named in the 422 it gets: the name's
length, the number and size of labels, the related resources, the payload's size and
depth. What is refused is never stored in part.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from legato.schemas.fields import Time
from legato.text import require_storable

RESOURCE_ID = "legato.resource.id"
RESOURCE_ROLE = "legato.resource.role"
RESOURCE_NAME = "legato.resource.name"

MAX_EVENT_NAME = 1024
MAX_LABELS = 50
MAX_LABEL_KEY = 255
MAX_LABEL_VALUE = 1024
MAX_RELATED = 100
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_PAYLOAD_DEPTH = 32
MAX_BATCH = 1000
"""Most events in one ``POST /api/events``."""

EVENT_NAME_PATTERN = r"^[A-Za-z0-9_.:\-/*]+$"
"""What an event name (or a filter's pattern) may hold: no spaces, no control characters."""

Labels = dict[str, str]


def _check_labels(labels: Labels, what: str) -> Labels:
    if len(labels) > MAX_LABELS:
        raise ValueError(f"{what} has {len(labels)} labels; at most {MAX_LABELS} are allowed")
    for key, value in labels.items():
        if not key or len(key) > MAX_LABEL_KEY:
            raise ValueError(
                f"{what} has a label name of {len(key)} characters; "
                f"label names are 1 to {MAX_LABEL_KEY} characters"
            )
        if len(value) > MAX_LABEL_VALUE:
            raise ValueError(
                f"{what}'s label {key!r} is {len(value)} characters long; "
                f"at most {MAX_LABEL_VALUE} are allowed"
            )
        if "\x00" in key or "\x00" in value:
            raise ValueError(f"{what}'s label {key!r} holds a NUL character, which is not stored")
    require_storable(labels, what)
    if not labels.get(RESOURCE_ID):
        raise ValueError(f"{what} needs a {RESOURCE_ID!r} label naming it")
    return labels


def _depth(value: Any, limit: int) -> int:
    """How deep ``value`` nests, counting no further than ``limit + 1`` (iteratively: a
    payload nested 100,000 deep must not overflow the stack)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def dump_payload(payload: dict[str, Any]) -> str:
    """The payload as stored (compact JSON); raises ValueError past the limits."""
    if _depth(payload, MAX_PAYLOAD_DEPTH) > MAX_PAYLOAD_DEPTH:
        raise ValueError(f"the payload nests deeper than {MAX_PAYLOAD_DEPTH} levels")
    try:
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:
        raise ValueError("the payload holds NaN or Infinity, which JSON cannot carry") from None
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_PAYLOAD_BYTES:
        raise ValueError(
            f"the payload is {size} bytes as JSON; at most {MAX_PAYLOAD_BYTES} are allowed "
            "(store large data elsewhere and put its location in the payload)"
        )
    return text


class EventIn(BaseModel):
    """An event as a client sends it. ``id`` makes a resend harmless (an event whose id
    is stored already is not stored again); ``occurred`` defaults to now."""

    model_config = ConfigDict(extra="forbid")

    event: Annotated[
        str, Field(min_length=1, max_length=MAX_EVENT_NAME, pattern=EVENT_NAME_PATTERN)
    ]
    resource: Labels
    related: Annotated[list[Labels], Field(max_length=MAX_RELATED)] = []
    payload: dict[str, Any] = {}
    occurred: datetime | None = None
    id: uuid.UUID | None = None

    @field_validator("resource")
    @classmethod
    def _resource(cls, value: Labels) -> Labels:
        return _check_labels(value, "the resource")

    @field_validator("related")
    @classmethod
    def _related(cls, value: list[Labels]) -> list[Labels]:
        for number, labels in enumerate(value, 1):
            _check_labels(labels, f"related resource {number}")
            if not labels.get(RESOURCE_ROLE):
                raise ValueError(
                    f"related resource {number} needs a {RESOURCE_ROLE!r} label "
                    "(flow, deployment, work-pool, tag, ...)"
                )
        return value

    @field_validator("payload")
    @classmethod
    def _payload(cls, value: dict[str, Any]) -> dict[str, Any]:
        dump_payload(value)
        require_storable(value, "payload")
        return value

    @field_validator("occurred")
    @classmethod
    def _occurred(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        seconds = value.timestamp()
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("occurred must be a time after 1970-01-01")
        return value


CURSOR_PATTERN = r"^[0-9]{1,18}\.[0-9]{1,18}$"
"""An event cursor: ``SEQ.STATE`` (see :class:`EventCursor`)."""


class EventCursor(NamedTuple):
    """A place in the event feed. The feed merges two sources, each read in its own
    order: events stored as such (``seq``: sent by clients and webhooks, deployment and
    work-pool changes) and the runs' state changes (``state``: the id of the state in
    the run's history), so a place is a pair. Written ``SEQ.STATE``."""

    seq: int
    state: int

    def text(self) -> str:
        return f"{self.seq}.{self.state}"

    @classmethod
    def parse(cls, text: str) -> EventCursor:
        seq, dot, state = text.strip().partition(".")
        if not dot or not seq.isdigit() or not state.isdigit() or len(text) > 40:
            raise ValueError(
                f"{text[:40]!r} is not an event cursor: use the cursor an event or a page "
                "came with (two whole numbers joined by a dot, e.g. 120.5531)"
            )
        return cls(int(seq), int(state))


class EventRecord(BaseModel):
    """An event as read back. ``cursor`` is its place in the feed: what
    ``GET /api/events`` goes on from, and the ``id:`` of the live stream
    (``Last-Event-ID``)."""

    cursor: str
    id: uuid.UUID
    event: str
    occurred: datetime
    received: datetime
    resource: Labels
    related: list[Labels] = []
    payload: dict[str, Any] = {}

    @property
    def resource_id(self) -> str:
        return self.resource[RESOURCE_ID]

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class EventPage(BaseModel):
    """One page of events and the cursor of the next (None: no more for now)."""

    events: list[EventRecord]
    next_cursor: str | None = None
    """Where the next page starts, if more may follow."""
    reached: str | None = None
    """The place this read reached (even with no more for now): where to follow from."""


REACHED_HEADER = "X-Events-Reached"


class EventBatchAnswer(BaseModel):
    """What ``POST /api/events`` answers: how many were stored, how many were already."""

    stored: int
    duplicates: int


class EventFilter(BaseModel):
    """Which events to read. Every part narrows; names and resource ids take ``*``
    wildcards (``legato.flow-run.*``)."""

    model_config = ConfigDict(frozen=True)

    names: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    """Resource ids (``legato.flow-run.<id>``, wildcards) or ``label=value`` pairs."""
    related: tuple[str, ...] = ()
    """Related resource ids (wildcards allowed)."""
    since: Time | None = None
    until: Time | None = None
    after: EventCursor | None = None
    before: EventCursor | None = None
    newest_first: bool = False

    @model_validator(mode="after")
    def _check(self) -> EventFilter:
        for pattern in (*self.names, *self.resources, *self.related):
            if not pattern or len(pattern) > MAX_LABEL_VALUE:
                raise ValueError(
                    f"a filter value is {len(pattern)} characters; 1 to {MAX_LABEL_VALUE} "
                    "are allowed"
                )
        return self


def event_query(filt: EventFilter) -> list[tuple[str, str]]:
    """``filt`` as the query parameters of ``GET /api/events``."""
    params: list[tuple[str, str]] = []
    params += [("name", name) for name in filt.names]
    params += [("resource", resource) for resource in filt.resources]
    params += [("related", related) for related in filt.related]
    for key, seconds in (("since", filt.since), ("until", filt.until)):
        if seconds is not None:
            moment = datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)
            params.append((key, moment.isoformat()))
    if filt.after is not None:
        params.append(("after", filt.after.text()))
    if filt.before is not None:
        params.append(("before", filt.before.text()))
    if filt.newest_first:
        params.append(("order", "desc"))
    return params


RESERVED_PREFIX = "legato."
"""Event names legato gives its own events (state changes, deployments, work pools):
a client cannot send one, or an automation could be fired by a forged run failure."""


def check_client_event_name(name: str) -> str:
    if name.startswith(RESERVED_PREFIX):
        raise ValueError(
            f"event names starting with {RESERVED_PREFIX!r} are legato's own (state changes, "
            f"deployments, work pools); name yours after your team or system, "
            f"e.g. 'acme.refund.reviewed', not {name[:80]!r}"
        )
    return name


DEFAULT_EVENT_PAGE = 100
MAX_EVENT_PAGE = 1000
