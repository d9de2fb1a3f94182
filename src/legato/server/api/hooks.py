"""``POST /hooks/<slug>`` (or PUT): another system's request, made an event by the
webhook's template (see :mod:`legato.event_rules.webhooks`).

Outside the API key: the slug is the credential, so GitHub or Stripe can call it as
they are, unless the webhook was made with ``--require-key`` (then an API key that can
write, whether or not the server asks keys for its API). The guard against cross-site
requests lets any content type through here, but still refuses pages of other sites
(:mod:`legato.server.guards`). The body is capped by the server's request limit
(``LEGATO_SERVER_MAX_REQUEST_BYTES``, 413 past it).

Answers: 200 with the event's id once it is stored; 400 saying why no event could be
made (a body that is not UTF-8 or not the JSON its content type says, a template that
fails on this request, an event that is not valid or is named ``legato.*``), and then
only ``legato.webhook.failed`` is stored, saying why, for the webhook's owner to read; 404 for a slug that names no webhook (unknown, rotated, deleted);
403 for a disabled webhook. GET is not answered (405): link previews and crawlers
fetch URLs, and must not make events.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid

import anyio.to_thread
from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from legato.event_rules.webhooks import (
    WebhookError,
    WebhookIdentity,
    WebhookRequest,
    failure_payload,
    render_event,
    webhook_change_event,
)
from legato.schemas.events import EventIn
from legato.schemas.webhooks import WebhookRecord
from legato.server.auth import require_write_key
from legato.server.errors import ErrorBody
from legato.store import Store

router = APIRouter(tags=["webhooks"])
logger = logging.getLogger("legato.server")

NO_SUCH_WEBHOOK = (
    "no such webhook: this URL is unknown, or its webhook was deleted or given a new "
    "URL ('legato webhook rotate'); nothing was stored"
)


class HookAnswer(BaseModel):
    """What a webhook's caller gets back."""

    id: uuid.UUID
    """The event's id (the template's, if it set one)."""
    event: str
    stored: bool
    """False when an event with this id was stored already (a sender's retry)."""


HOOK_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorBody, "description": "No event could be made of the request: why."},
    401: {"model": ErrorBody, "description": "The webhook requires an API key."},
    403: {
        "model": ErrorBody,
        "description": "The webhook is disabled, the key is read-only, or a page of another "
        "site sent the request.",
    },
    404: {"model": ErrorBody, "description": "No webhook has this URL."},
}


def _record_failure(
    store: Store, webhook: WebhookRecord, sent: WebhookRequest, reason: str
) -> None:
    """``legato.webhook.failed``, so the webhook's owner sees why a sender was refused
    (bookkeeping: a store that fails here does not change the sender's answer)."""
    event = webhook_change_event(
        "failed", webhook.id, webhook.name, now=time.time(), payload=failure_payload(sent, reason)
    )
    try:
        store.events.emit_new([event])
    except Exception as exc:  # never hide the 400's reason behind a 5xx
        logger.warning("could not record a failed request to webhook %r: %s", webhook.name, exc)


def _header_text(value: bytes) -> str:
    """A header's value as its sender most likely meant it: UTF-8 (what services send
    beyond ASCII today), else Latin-1 (what HTTP/1.1 defined)."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _make_event(webhook: WebhookRecord, request: WebhookRequest) -> EventIn:
    event = render_event(webhook.template, request, WebhookIdentity(webhook.id, webhook.name))
    if event.id is None:
        event = event.model_copy(update={"id": uuid.uuid4()})
    return event


@router.api_route(
    "/hooks/{slug}",
    methods=["POST", "PUT"],
    responses=HOOK_RESPONSES,
    response_model=HookAnswer,
    # A key is optional: only a webhook made with --require-key asks for one.
    openapi_extra={"security": [{}, {"HTTPBearer": []}]},
)
async def receive(slug: str, request: Request) -> HookAnswer:
    """Make the request an event through the webhook's template, and store it."""
    store: Store = request.app.state.store
    webhook = await anyio.to_thread.run_sync(store.webhooks.find, slug)
    if webhook is None:
        raise HTTPException(404, NO_SUCH_WEBHOOK)
    if webhook.require_key:
        await require_write_key(request)
    if not webhook.enabled:
        raise HTTPException(
            403,
            "this webhook is disabled ('legato webhook enable' turns it back on); nothing was stored",
        )
    sent = WebhookRequest(
        body=await request.body(),
        content_type=request.headers.get("content-type"),
        headers=tuple(
            (name.decode("latin-1"), _header_text(value)) for name, value in request.headers.raw
        ),
        query=tuple(request.query_params.multi_items()),
    )
    try:
        event = await anyio.to_thread.run_sync(_make_event, webhook, sent)
    except WebhookError as exc:
        await anyio.to_thread.run_sync(_record_failure, store, webhook, sent, str(exc))
        raise HTTPException(400, str(exc)) from None
    stored, _ = await anyio.to_thread.run_sync(functools.partial(store.events.emit, [event]))
    assert event.id is not None
    return HookAnswer(id=event.id, event=event.event, stored=bool(stored))
