"""Notification channels and deliveries as stored: ``store.notifications``.

The store never sees a secret in clear: a channel arrives with its public config and
its secrets already encrypted (one opaque text, :mod:`legato.secrets_box`), and leaves
the same way; :mod:`legato.notifications.channels` encrypts and decrypts. A delivery row
is written before its first try and rewritten after each one, so a process that dies
while retrying leaves a ``pending`` row showing what it tried.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from legato.errors import ChannelExists, ObjectNotFound
from legato.schemas.notifications import (
    BODY_PREVIEW,
    AttemptRecord,
    ChannelRecord,
    DeliveryRecord,
    DeliveryStatus,
    masked,
)
from legato.store.tables import notification_channels, notification_deliveries
from legato.text import loads_json

if TYPE_CHECKING:
    from legato.store.database import Database

MAX_DELIVERIES_READ = 1000


@dataclass(frozen=True)
class StoredChannel:
    """A channel row: public config as stored, secrets still encrypted."""

    id: str
    name: str
    kind: str
    config: dict[str, Any]
    secrets: str
    created: float
    updated: float

    def record(self) -> ChannelRecord:
        """What readers see: secret fields masked (their names say they exist)."""
        return ChannelRecord(
            id=self.id,
            name=self.name,
            kind=self.kind,  # type: ignore[arg-type]  # stored from a ChannelKind
            config=masked(self.kind, self.config),
            created=_when(self.created),
            updated=_when(self.updated),
        )


def dumps_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _channel(row: Mapping[Any, Any]) -> StoredChannel:
    return StoredChannel(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        config=dict(loads_json(row["config"])),
        secrets=row["secrets"],
        created=row["created"],
        updated=row["updated"],
    )


def _delivery(row: Mapping[Any, Any]) -> DeliveryRecord:
    return DeliveryRecord(
        id=row["id"],
        channel_id=row["channel_id"],
        channel_name=row["channel_name"],
        automation_id=row["automation_id"],
        firing_id=row["firing_id"],
        subject=row["subject"],
        body_preview=row["body_preview"],
        status=row["status"],
        attempts=[AttemptRecord.model_validate(a) for a in loads_json(row["attempts"])],
        last_error=row["last_error"],
        created=_when(row["created"]),
        finished=None if row["finished"] is None else _when(row["finished"]),
    )


def _not_found(name: str) -> ObjectNotFound:
    return ObjectNotFound(
        f"no notification channel named {name!r}; list them with 'legato notification ls'"
    )


class NotificationStore:
    """Channels and deliveries of one database (thread-safe: each call its own
    connection or transaction)."""

    def __init__(self, db: Database):
        self.db = db

    # -- channels ------------------------------------------------------------------

    def create_channel(
        self, name: str, kind: str, config: Mapping[str, Any], secrets: str
    ) -> StoredChannel:
        """Store a new channel; ChannelExists if the name is taken."""
        now = time.time()
        row = {
            "id": str(uuid.uuid4()),
            "name": name,
            "kind": kind,
            "config": dumps_json(dict(config)),
            "secrets": secrets,
            "created": now,
            "updated": now,
        }
        with self.db.writing() as conn:
            taken = conn.execute(
                sa.select(notification_channels.c.id).where(notification_channels.c.name == name)
            ).first()
            if taken is not None:
                raise ChannelExists(
                    f"a notification channel named {name!r} exists already; delete it first "
                    f"('legato notification delete {name}') or choose another name"
                )
            conn.execute(notification_channels.insert().values(row))
        return _channel(row)

    def read_channel(self, name: str) -> StoredChannel:
        with self.db.reading() as conn:
            row = conn.execute(
                sa.select(notification_channels).where(notification_channels.c.name == name)
            ).first()
        if row is None:
            raise _not_found(name)
        return _channel(row._mapping)

    def read_channels(self) -> list[StoredChannel]:
        with self.db.reading() as conn:
            rows = conn.execute(
                sa.select(notification_channels).order_by(notification_channels.c.name)
            )
            return [_channel(row._mapping) for row in rows]

    def delete_channel(self, name: str) -> None:
        """Delete the channel and its deliveries (ObjectNotFound if there is none)."""
        with self.db.writing() as conn:
            found = conn.execute(
                sa.select(notification_channels.c.id).where(notification_channels.c.name == name)
            ).first()
            if found is None:
                raise _not_found(name)
            conn.execute(
                notification_deliveries.delete().where(
                    notification_deliveries.c.channel_id == found.id
                )
            )
            conn.execute(
                notification_channels.delete().where(notification_channels.c.id == found.id)
            )

    # -- deliveries ----------------------------------------------------------------

    def start_delivery(
        self,
        channel: StoredChannel,
        subject: str,
        body: str,
        *,
        automation_id: str | None = None,
        firing_id: str | None = None,
    ) -> DeliveryRecord:
        """A ``pending`` delivery row, before its first try."""
        row = {
            "id": str(uuid.uuid4()),
            "channel_id": channel.id,
            "channel_name": channel.name,
            "automation_id": automation_id,
            "firing_id": firing_id,
            "subject": subject,
            "body_preview": body[:BODY_PREVIEW],
            "status": "pending",
            "attempts": "[]",
            "last_error": None,
            "created": time.time(),
            "finished": None,
        }
        with self.db.writing() as conn:
            conn.execute(notification_deliveries.insert().values(row))
        return _delivery(row)

    def record_attempts(
        self,
        delivery_id: str,
        attempts: Sequence[AttemptRecord],
        *,
        status: DeliveryStatus,
        last_error: str | None,
    ) -> DeliveryRecord:
        """Rewrite a delivery's attempts and status (finished once not pending)."""
        values = {
            "attempts": dumps_json([a.model_dump(mode="json") for a in attempts]),
            "status": status,
            "last_error": last_error,
            "finished": None if status == "pending" else time.time(),
        }
        with self.db.writing() as conn:
            conn.execute(
                notification_deliveries.update()
                .where(notification_deliveries.c.id == delivery_id)
                .values(values)
            )
            row = conn.execute(
                sa.select(notification_deliveries).where(
                    notification_deliveries.c.id == delivery_id
                )
            ).first()
        if row is None:  # its channel was deleted meanwhile
            raise ObjectNotFound(f"no notification delivery {delivery_id}")
        return _delivery(row._mapping)

    def read_deliveries(
        self,
        *,
        channel_name: str | None = None,
        firing_id: str | None = None,
        limit: int = 20,
    ) -> list[DeliveryRecord]:
        """The newest deliveries first, of one channel or one automation firing (or all)."""
        query = sa.select(notification_deliveries)
        if channel_name is not None:
            channel = self.read_channel(channel_name)
            query = query.where(notification_deliveries.c.channel_id == channel.id)
        if firing_id is not None:
            query = query.where(notification_deliveries.c.firing_id == firing_id)
        query = query.order_by(
            notification_deliveries.c.created.desc(), notification_deliveries.c.id
        ).limit(max(1, min(limit, MAX_DELIVERIES_READ)))
        with self.db.reading() as conn:
            return [_delivery(row._mapping) for row in conn.execute(query)]
