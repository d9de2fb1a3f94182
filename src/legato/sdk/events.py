"""``legato.emit_event``: tell legato that something happened, from any Python code.

Embedded, the event is stored in this process's store; with ``LEGATO_API_URL`` set it
is sent to the server (inside a worker's run, with the run's own credential). An
event's name should say what happened in your own terms (``acme.refund.reviewed``);
names starting with ``legato.`` are legato's own and refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from legato.schemas.events import EventIn


def _event(
    event: str,
    resource: Mapping[str, str],
    related: Sequence[Mapping[str, str]] | None,
    payload: Mapping[str, Any] | None,
    occurred: datetime | None,
    id: uuid.UUID | None,
) -> EventIn:
    from pydantic import ValidationError

    from legato.schemas.events import EventIn, check_client_event_name

    check_client_event_name(event)
    try:
        return EventIn(
            event=event,
            resource=dict(resource),
            related=[dict(labels) for labels in related or ()],
            payload=dict(payload or {}),
            occurred=occurred or datetime.now(UTC),
            id=id or uuid.uuid4(),
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'event'}: "
            f"{error['msg'].removeprefix('Value error, ')}"
            for error in exc.errors()
        )
        raise ValueError(f"event {event[:80]!r} cannot be sent: {problems}") from None


def emit_event(
    event: str,
    resource: Mapping[str, str],
    related: Sequence[Mapping[str, str]] | None = None,
    payload: Mapping[str, Any] | None = None,
    *,
    occurred: datetime | None = None,
    id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Store one event; returns its id.

    ``resource`` is a map of text labels and must name the resource with
    ``legato.resource.id`` (``{"legato.resource.id": "acme.refund.42"}``); each of
    ``related`` also needs ``legato.resource.role``. ``payload`` is any JSON object (up
    to 64 KiB). ``occurred`` defaults to now. A ValueError names what is wrong.
    """
    from legato.orchestrator import get_orchestrator

    sent = _event(event, resource, related, payload, occurred, id)
    get_orchestrator().emit_events([sent])
    assert sent.id is not None
    return sent.id
