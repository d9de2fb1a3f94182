"""Webhooks in the store: made, listed, changed, given a new slug, deleted, and found by
the slug of a request.

A slug is ``secrets.token_urlsafe(24)`` (192 random bits, 32 characters). The store
keeps its SHA-256 hash and its first :data:`HINT_CHARS` characters (see
:mod:`legato.schemas.webhooks` for why); the slug itself is handed back once, by
:meth:`Webhooks.create` and :meth:`Webhooks.rotate`.

Templates are checked by :class:`legato.schemas.webhooks.WebhookSpec` and
:class:`~legato.schemas.webhooks.WebhookUpdate` before they reach these functions.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from legato.attempts import hash_token
from legato.errors import LegatoError, ObjectNotFound
from legato.event_rules.webhooks import webhook_change_event
from legato.ids import new_id
from legato.schemas.webhooks import HOOKS_PREFIX, WebhookRecord, WebhookWithUrl
from legato.store import events as event_queries
from legato.store.database import insert_if_absent
from legato.store.tables import webhooks

if TYPE_CHECKING:
    from collections.abc import Callable

    from legato.schemas.webhooks import WebhookSpec, WebhookUpdate
    from legato.store.database import Database

HINT_CHARS = 4
SLUG_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
"""What a slug can look like; anything else is no webhook without asking the store."""


class WebhookExists(LegatoError):
    """``create`` with the name of a stored webhook."""


def new_slug() -> str:
    return secrets.token_urlsafe(24)


def hash_slug(slug: str) -> str:
    return hash_token(slug)


def webhook_record(row: Mapping[Any, Any]) -> WebhookRecord:
    return WebhookRecord(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        template=row["template"],
        require_key=bool(row["require_key"]),
        enabled=bool(row["enabled"]),
        slug_hint=row["slug_hint"],
        created=datetime.fromtimestamp(row["created"], UTC),
        updated=datetime.fromtimestamp(row["updated"], UTC),
    )


def _not_found(name: str) -> ObjectNotFound:
    return ObjectNotFound(f"no webhook named {name!r} (legato webhook ls lists them)")


def insert_webhook(conn: Connection, spec: WebhookSpec) -> tuple[WebhookRecord, str]:
    """A new webhook and its slug (WebhookExists if the name is taken)."""
    slug = new_slug()
    now = time.time()
    webhook_id = new_id()
    row = {
        "id": webhook_id,
        "name": spec.name,
        "description": spec.description,
        "template": spec.template,
        "slug_hash": hash_slug(slug),
        "slug_hint": slug[:HINT_CHARS],
        "require_key": spec.require_key,
        "enabled": True,
        "created": now,
        "updated": now,
    }
    if not insert_if_absent(conn, webhooks, row, ["name"]):
        raise WebhookExists(
            f"a webhook named {spec.name!r} already exists; change it with "
            f"`legato webhook update {spec.name} --template FILE`, or pick another name"
        )
    _record_change(
        conn,
        "created",
        webhook_id,
        spec.name,
        now,
        {"require_key": spec.require_key, "description": spec.description[:200]},
    )
    return webhook_record(row), slug


def read_webhooks(conn: Connection) -> list[WebhookRecord]:
    rows = conn.execute(sa.select(webhooks).order_by(webhooks.c.name)).mappings()
    return [webhook_record(row) for row in rows]


def read_webhook(conn: Connection, name: str) -> WebhookRecord:
    row = conn.execute(sa.select(webhooks).where(webhooks.c.name == name)).mappings().first()
    if row is None:
        raise _not_found(name)
    return webhook_record(row)


def find_by_slug(conn: Connection, slug: str) -> WebhookRecord | None:
    """The webhook whose URL ends in ``slug``, or None (unknown, rotated or deleted)."""
    if not SLUG_PATTERN.match(slug):
        return None
    query = sa.select(webhooks).where(webhooks.c.slug_hash == hash_slug(slug))
    row = conn.execute(query).mappings().first()
    return None if row is None else webhook_record(row)


def update_webhook(conn: Connection, name: str, update: WebhookUpdate) -> WebhookRecord:
    values = update.model_dump(exclude_none=True)
    changed = sorted(values)
    if not changed:
        return read_webhook(conn, name)
    values["updated"] = now = time.time()
    found = conn.execute(
        webhooks.update().where(webhooks.c.name == name).values(**values).returning(webhooks.c.id)
    ).first()
    if found is None:
        raise _not_found(name)
    record = read_webhook(conn, name)
    payload: dict[str, Any] = {"changed": changed}
    payload.update({key: values[key] for key in ("enabled", "require_key") if key in values})
    _record_change(conn, "updated", record.id, name, now, payload)
    return record


def rotate_slug(conn: Connection, name: str) -> tuple[WebhookRecord, str]:
    """A new slug for ``name``: its old URL stops working at once."""
    slug = new_slug()
    now = time.time()
    values = {"slug_hash": hash_slug(slug), "slug_hint": slug[:HINT_CHARS], "updated": now}
    found = conn.execute(
        webhooks.update().where(webhooks.c.name == name).values(**values).returning(webhooks.c.id)
    ).first()
    if found is None:
        raise _not_found(name)
    _record_change(conn, "rotated", found.id, name, now)
    return read_webhook(conn, name), slug


def delete_webhook(conn: Connection, name: str) -> None:
    found = conn.execute(
        webhooks.delete().where(webhooks.c.name == name).returning(webhooks.c.id)
    ).first()
    if found is None:
        raise _not_found(name)
    _record_change(conn, "deleted", found.id, name, time.time())


def _record_change(
    conn: Connection,
    change: str,
    webhook_id: str,
    name: str,
    now: float,
    payload: dict[str, Any] | None = None,
) -> None:
    """The event of a change, in the change's own transaction (both or neither)."""
    event = webhook_change_event(change, webhook_id, name, now=now, payload=payload)
    event_queries.insert_events(conn, [event], received=now)


class Webhooks:
    """The webhooks of one database: ``store.webhooks``. Each method is one
    transaction; a change stores its ``legato.webhook.*`` event in it, then calls
    ``changed`` (the event log's wake-up, for live streams)."""

    def __init__(self, db: Database, changed: Callable[[], None] | None = None):
        self.db = db
        self._changed = changed or (lambda: None)

    def create(self, spec: WebhookSpec) -> WebhookWithUrl:
        with self.db.writing() as conn:
            record, slug = insert_webhook(conn, spec)
        self._changed()
        return WebhookWithUrl(webhook=record, path=HOOKS_PREFIX + slug)

    def list_all(self) -> list[WebhookRecord]:
        with self.db.reading() as conn:
            return read_webhooks(conn)

    def read(self, name: str) -> WebhookRecord:
        with self.db.reading() as conn:
            return read_webhook(conn, name)

    def find(self, slug: str) -> WebhookRecord | None:
        with self.db.reading() as conn:
            return find_by_slug(conn, slug)

    def update(self, name: str, update: WebhookUpdate) -> WebhookRecord:
        with self.db.writing() as conn:
            record = update_webhook(conn, name, update)
        self._changed()
        return record

    def rotate(self, name: str) -> WebhookWithUrl:
        with self.db.writing() as conn:
            record, slug = rotate_slug(conn, name)
        self._changed()
        return WebhookWithUrl(webhook=record, path=HOOKS_PREFIX + slug)

    def delete(self, name: str) -> None:
        with self.db.writing() as conn:
            delete_webhook(conn, name)
        self._changed()
