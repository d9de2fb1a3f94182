"""Notification channels: create, list, show, delete, send a test message, and read a
channel's deliveries.

A channel's secrets (webhook URLs, header values, SMTP passwords) are encrypted with the
server's key before they are stored and are answered masked, always: no route returns
them. ``POST /notifications/{name}/test`` sends for real, with the retries of any
delivery, and answers the delivery with its attempts; it may take as long as those
retries (a minute at worst), so a client waits that long for it.

A server whose key cannot be used (``LEGATO_ENCRYPTION_KEY`` malformed, the key file
unreadable, or a key other than the one the channel was stored with) answers 409 with
the reason, not 5xx: another try would meet the same key.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from legato.errors import ChannelExists, SecretKeyError
from legato.notifications import Notifications
from legato.schemas.deployments import NAME_PATTERN
from legato.schemas.notifications import (
    ChannelRecord,
    ChannelSpec,
    DeliveryRecord,
    TrialMessage,
)
from legato.server.errors import ErrorBody

router = APIRouter(prefix="/notifications", tags=["notifications"])

ChannelPath = Annotated[
    str,
    Path(min_length=1, max_length=255, pattern=NAME_PATTERN, description="A channel name."),
]


def get_notifications(request: Request) -> Notifications:
    """The app's channels (built from the settings on first use unless given)."""
    found: Notifications | None = getattr(request.app.state, "notifications", None)
    if found is None:
        from legato.settings import get_settings

        found = Notifications.from_settings(request.app.state.store, get_settings())
        request.app.state.notifications = found
    return found


CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorBody,
        "description": "The name is taken, or the server's encryption key cannot be used "
        "(the detail says which and why).",
    }
}

NotificationsDep = Annotated[Notifications, Depends(get_notifications)]


@router.get("")
def read_channels(notifications: NotificationsDep) -> list[ChannelRecord]:
    """Every channel by name, secrets masked."""
    return notifications.read_channels()


@router.post("", status_code=201, responses=CONFLICT)
def create_channel(notifications: NotificationsDep, spec: ChannelSpec) -> ChannelRecord:
    """A new channel; its secret fields are stored encrypted and answered masked."""
    try:
        return notifications.create_channel(spec)
    except (ChannelExists, SecretKeyError) as exc:
        raise HTTPException(409, str(exc)) from None


@router.get("/{name}")
def read_channel(notifications: NotificationsDep, name: ChannelPath) -> ChannelRecord:
    return notifications.read_channel(name)


@router.delete("/{name}", status_code=204)
def delete_channel(notifications: NotificationsDep, name: ChannelPath) -> None:
    """Delete the channel and the record of its deliveries."""
    notifications.delete_channel(name)


@router.post("/{name}/test")
def test_channel(
    notifications: NotificationsDep, name: ChannelPath, trial: TrialMessage | None = None
) -> DeliveryRecord:
    """Send a test message now (retried as any delivery) and answer how it went: a
    failed delivery is an answer, not an error."""
    return notifications.test_channel(name, trial)


@router.get("/{name}/deliveries")
def read_deliveries(
    notifications: NotificationsDep,
    name: ChannelPath,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> list[DeliveryRecord]:
    """The channel's newest deliveries first, each with its attempts."""
    return notifications.read_deliveries(name, limit=limit)
