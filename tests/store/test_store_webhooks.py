"""Webhooks in the store: the slug kept only as its hash, found by the slug itself,
rotated (the old slug finds nothing), changed and deleted by name."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from legato.errors import ObjectNotFound
from legato.schemas.events import EventFilter
from legato.schemas.webhooks import HOOKS_PREFIX, WebhookSpec, WebhookUpdate
from legato.store import Store
from legato.store.tables import webhooks
from legato.store.webhooks import WebhookExists

TEMPLATE = '{"event": "acme.ping", "resource": {"legato.resource.id": "acme.{{ body.n }}"}}'


def _slug(path: str) -> str:
    assert path.startswith(HOOKS_PREFIX)
    return path.removeprefix(HOOKS_PREFIX)


def test_a_webhook_is_stored_with_the_hash_of_its_slug_only(store: Store) -> None:
    made = store.webhooks.create(WebhookSpec(name="ping", template=TEMPLATE, require_key=True))
    slug = _slug(made.path)
    assert len(slug) >= 32
    with store.engine.connect() as conn:
        [row] = conn.execute(sa.select(webhooks)).mappings().all()
    assert row["slug_hash"] == hashlib.sha256(slug.encode()).hexdigest()
    assert slug not in repr(dict(row))
    assert row["slug_hint"] == slug[:4] and row["template"] == TEMPLATE
    assert store.webhooks.find(slug) == made.webhook
    assert made.webhook.require_key and made.webhook.enabled
    assert store.webhooks.find(slug + "x") is None
    assert store.webhooks.find(row["slug_hash"]) is None
    assert store.webhooks.find("../etc") is None
    assert store.webhooks.list_all() == [made.webhook]


def test_names_are_unique(store: Store) -> None:
    store.webhooks.create(WebhookSpec(name="ping", template=TEMPLATE))
    with pytest.raises(WebhookExists, match="already exists"):
        store.webhooks.create(WebhookSpec(name="ping", template=TEMPLATE))
    assert len(store.webhooks.list_all()) == 1


def test_rotating_gives_a_new_slug_and_the_old_one_finds_nothing(store: Store) -> None:
    first = store.webhooks.create(WebhookSpec(name="ping", template=TEMPLATE))
    second = store.webhooks.rotate("ping")
    assert second.path != first.path
    assert store.webhooks.find(_slug(first.path)) is None
    found = store.webhooks.find(_slug(second.path))
    assert found is not None and found.id == first.webhook.id
    assert found.slug_hint == _slug(second.path)[:4]


def test_updates_change_only_what_they_name(store: Store) -> None:
    made = store.webhooks.create(WebhookSpec(name="ping", template=TEMPLATE, description="d"))
    changed = store.webhooks.update("ping", WebhookUpdate(enabled=False))
    assert not changed.enabled
    assert changed.template == TEMPLATE and changed.description == "d"
    assert changed.updated >= made.webhook.updated
    changed = store.webhooks.update("ping", WebhookUpdate(template="{{ 1 }}", require_key=True))
    assert changed.template == "{{ 1 }}" and changed.require_key and not changed.enabled
    assert store.webhooks.find(_slug(made.path)) == changed


def test_a_template_that_cannot_compile_is_refused_naming_the_line() -> None:
    with pytest.raises(ValidationError, match="syntax error on line 2"):
        WebhookSpec(name="bad", template='{"event":\n {{ body.x }')
    with pytest.raises(ValidationError, match="syntax error on line 1"):
        WebhookUpdate(template="{% if %}")


def test_unknown_names_are_not_found(store: Store) -> None:
    for action in (
        lambda: store.webhooks.read("nope"),
        lambda: store.webhooks.rotate("nope"),
        lambda: store.webhooks.delete("nope"),
        lambda: store.webhooks.update("nope", WebhookUpdate(enabled=False)),
    ):
        with pytest.raises(ObjectNotFound, match="no webhook named 'nope'"):
            action()


def test_deleting_forgets_the_slug(store: Store) -> None:
    made = store.webhooks.create(WebhookSpec(name="ping", template=TEMPLATE))
    store.webhooks.delete("ping")
    assert store.webhooks.find(_slug(made.path)) is None
    assert store.webhooks.list_all() == []


def test_each_change_is_an_event_in_its_own_transaction_and_never_the_slug(
    store: Store,
) -> None:
    made = store.webhooks.create(WebhookSpec(name="ping", template=TEMPLATE, require_key=True))
    store.webhooks.update("ping", WebhookUpdate(enabled=False, description="off"))
    rotated = store.webhooks.rotate("ping")
    store.webhooks.delete("ping")
    with pytest.raises(WebhookExists):  # refused: no event either
        store.webhooks.create(WebhookSpec(name="x", template=TEMPLATE))
        store.webhooks.create(WebhookSpec(name="x", template=TEMPLATE))
    resource = f"legato.webhook.{made.webhook.id}"
    found, _, _ = store.events.read(EventFilter(resources=(resource,)), limit=100)
    assert [(e.event, e.payload) for e in found] == [
        ("legato.webhook.created", {"require_key": True, "description": ""}),
        ("legato.webhook.updated", {"changed": ["description", "enabled"], "enabled": False}),
        ("legato.webhook.rotated", {}),
        ("legato.webhook.deleted", {}),
    ]
    assert all(
        e.resource == {"legato.resource.id": resource, "legato.resource.name": "ping"}
        for e in found
    )
    everything, _, _ = store.events.read(EventFilter(names=("legato.webhook.*",)), limit=100)
    assert len(everything) == 5  # and one 'created' for 'x'
    for path in (made.path, rotated.path):
        assert _slug(path) not in repr([e.model_dump() for e in everything])
