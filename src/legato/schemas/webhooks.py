"""Webhooks: a URL that turns someone else's HTTP request into an event (see
:mod:`legato.event_rules.webhooks` for the template and what it sees).

The URL's last part (the slug) is the webhook's secret: it is shown once, when the
webhook is made or its slug rotated, and stored only as a SHA-256 hash, like an API
key: a copy of the database gives no working URL away (anyone holding one can send
events that automations act on). What is kept in the clear is ``slug_hint``, the
slug's first characters, so that ``legato webhook ls`` can tell which URL a sender was
given.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from legato.schemas.deployments import NAME_PATTERN

HOOKS_PREFIX = "/hooks/"
"""Where the server answers webhooks: ``/hooks/<slug>``."""
MAX_DESCRIPTION = 2000

WebhookName = Annotated[str, Field(min_length=1, max_length=255, pattern=NAME_PATTERN)]
Description = Annotated[str, Field(max_length=MAX_DESCRIPTION, pattern=r"^[^\x00]*$")]


def _checked_template(text: str) -> str:
    from legato.event_rules.webhooks import check_template

    check_template(text)
    return text


class WebhookSpec(BaseModel):
    """A webhook to create. The template is compiled first: one that cannot compile is
    refused, naming its line."""

    model_config = ConfigDict(extra="forbid")

    name: WebhookName
    template: str
    description: Description = ""
    require_key: bool = False
    """Callers must send an API key that can write (``Authorization: Bearer KEY``),
    whether or not the server requires keys for its API."""

    @field_validator("template")
    @classmethod
    def _template(cls, value: str) -> str:
        return _checked_template(value)


class WebhookUpdate(BaseModel):
    """What to change of a webhook (fields left out stay as they are)."""

    model_config = ConfigDict(extra="forbid")

    template: str | None = None
    description: Description | None = None
    require_key: bool | None = None
    enabled: bool | None = None

    @field_validator("template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        return None if value is None else _checked_template(value)


class WebhookRecord(BaseModel):
    """A stored webhook (never its slug: see the module docstring)."""

    id: str
    name: str
    description: str
    template: str
    require_key: bool
    enabled: bool
    slug_hint: str
    """The first characters of the slug: ``/hooks/<slug_hint>...``."""
    created: datetime
    updated: datetime

    @property
    def url_hint(self) -> str:
        return f"{HOOKS_PREFIX}{self.slug_hint}..."


class WebhookWithUrl(BaseModel):
    """A webhook just made, or just given a new slug: the one answer that holds its path."""

    webhook: WebhookRecord
    path: str
    """``/hooks/<slug>``, on the server's address."""
