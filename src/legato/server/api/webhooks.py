"""Managing webhooks: ``/api/webhooks`` (behind the API key, as every API route).

What a webhook's callers reach is ``/hooks/<slug>`` (:mod:`legato.server.api.hooks`).
The slug is answered only by create and rotate (``path``); the store keeps its hash.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response

from legato.schemas.deployments import NAME_PATTERN
from legato.schemas.webhooks import WebhookRecord, WebhookSpec, WebhookUpdate, WebhookWithUrl
from legato.server.dependencies import StoreDep
from legato.server.errors import ErrorBody
from legato.store.webhooks import WebhookExists

router = APIRouter(tags=["webhooks"])

WebhookName = Annotated[
    str, Path(min_length=1, max_length=255, pattern=NAME_PATTERN, description="A webhook name.")
]


@router.get("/webhooks")
def read_webhooks(store: StoreDep) -> list[WebhookRecord]:
    """Every webhook by name, with its template (never its URL: only a hint of it)."""
    return store.webhooks.list_all()


@router.post("/webhooks", status_code=201, responses={409: {"model": ErrorBody}})
def create_webhook(store: StoreDep, spec: WebhookSpec) -> WebhookWithUrl:
    """A new webhook and its path, ``/hooks/<slug>``: the only answer that holds it
    (409 if the name is taken; 422 naming the line of a template that cannot compile)."""
    try:
        return store.webhooks.create(spec)
    except WebhookExists as exc:
        raise HTTPException(409, str(exc)) from None


@router.get("/webhooks/{name}")
def read_webhook(store: StoreDep, name: WebhookName) -> WebhookRecord:
    return store.webhooks.read(name)


@router.patch("/webhooks/{name}")
def update_webhook(store: StoreDep, name: WebhookName, update: WebhookUpdate) -> WebhookRecord:
    """Change the template, description, whether a key is required, or enabled (a
    disabled webhook answers 403 and stores nothing). Its URL stays the same."""
    return store.webhooks.update(name, update)


@router.post("/webhooks/{name}/rotate")
def rotate_webhook(store: StoreDep, name: WebhookName) -> WebhookWithUrl:
    """A new slug: the old URL answers 404 from now on."""
    return store.webhooks.rotate(name)


@router.delete("/webhooks/{name}", status_code=204)
def delete_webhook(store: StoreDep, name: WebhookName) -> Response:
    store.webhooks.delete(name)
    return Response(status_code=204)
