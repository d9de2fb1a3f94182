"""Notification channels, messages and deliveries: what the API takes and answers.

A channel is a name and a config of one kind (Slack, Microsoft Teams, a generic JSON
webhook, email over SMTP, or an apprise URL). Some fields of each kind are secrets
(:data:`SECRET_FIELDS`): they are stored encrypted and every record read back shows them
as :data:`MASK` (a URL keeps its scheme and host, so a reader can tell two channels
apart). A delivery is one message sent to one channel, with each attempt it took.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from legato.schemas.deployments import NAME_PATTERN

MASK = "********"

ChannelKind = Literal["slack", "teams", "webhook", "email", "apprise"]
DeliveryStatus = Literal["pending", "sent", "failed"]
AttemptOutcome = Literal["sent", "retry", "failed"]
"""``sent``: the receiver took it; ``retry``: it failed in a way another try may not
(a timeout, a 5xx, no connection); ``failed``: it failed for good (a 4xx, a bad
address, the last try)."""

MAX_SUBJECT = 1000
MAX_BODY = 30_000
BODY_PREVIEW = 500
"""Characters of a message's body kept on its delivery row."""

ChannelName = Annotated[str, Field(min_length=1, max_length=255, pattern=NAME_PATTERN)]
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_ADDRESS = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+$")


def check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


def masked_url(value: str) -> str:
    """``https://hooks.slack.com/********``: the scheme and host, nothing that may be a
    token (path, query, user info)."""
    parts = urlsplit(value)
    if parts.scheme and parts.hostname:
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}/{MASK}"
    return MASK


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlackConfig(_Strict):
    """A Slack incoming webhook (https://hooks.slack.com/services/...)."""

    kind: Literal["slack"] = "slack"
    url: Annotated[str, Field(max_length=2048)]

    _check_url = field_validator("url")(check_http_url)


class TeamsConfig(_Strict):
    """A Microsoft Teams incoming webhook, or the URL of a Power Automate workflow that
    posts the Adaptive Card it is sent to a channel."""

    kind: Literal["teams"] = "teams"
    url: Annotated[str, Field(max_length=2048)]

    _check_url = field_validator("url")(check_http_url)


class WebhookConfig(_Strict):
    """Any URL that takes a JSON POST; ``headers`` are sent with it (e.g. a token)."""

    kind: Literal["webhook"] = "webhook"
    url: Annotated[str, Field(max_length=2048)]
    headers: dict[str, str] = {}

    _check_url = field_validator("url")(check_http_url)

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not an HTTP header name")
            if "\n" in text or "\r" in text:
                raise ValueError(f"the value of header {name!r} holds a line break")
        return value


class EmailConfig(_Strict):
    """Email over SMTP. ``security``: ``starttls`` (upgrade a plain connection, usually
    port 587), ``ssl`` (TLS from the start, usually 465) or ``none`` (a local relay)."""

    kind: Literal["email"] = "email"
    host: Annotated[str, Field(min_length=1, max_length=255)]
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    username: str | None = None
    password: str | None = None
    sender: Annotated[str, Field(max_length=320)]
    to: Annotated[list[str], Field(min_length=1, max_length=100)]
    security: Literal["starttls", "ssl", "none"] = "starttls"

    @field_validator("sender")
    @classmethod
    def _check_sender(cls, value: str) -> str:
        if not _ADDRESS.match(value):
            raise ValueError(f"{value!r} is not an email address")
        return value

    @field_validator("to")
    @classmethod
    def _check_to(cls, value: list[str]) -> list[str]:
        for address in value:
            if not _ADDRESS.match(address):
                raise ValueError(f"{address!r} is not an email address")
        return value


class AppriseConfig(_Strict):
    """Any service apprise knows, by its URL (``pip install 'legato[apprise]'``)."""

    kind: Literal["apprise"] = "apprise"
    url: Annotated[str, Field(min_length=1, max_length=4096)]


ChannelConfig = Annotated[
    SlackConfig | TeamsConfig | WebhookConfig | EmailConfig | AppriseConfig,
    Field(discriminator="kind"),
]

SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    "slack": ("url",),
    "teams": ("url",),
    "webhook": ("url", "headers"),
    "email": ("password",),
    "apprise": ("url",),
}
"""The fields of each kind stored encrypted and never shown: the URL of a webhook is
its credential, and so may be a header (``Authorization``) or a password."""


def masked(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with each secret field replaced by :data:`MASK` (a URL by its host
    and the mask; a header by the mask, its name kept)."""
    shown = dict(config)
    for field in SECRET_FIELDS.get(kind, ()):
        value = shown.get(field)
        if value is None:
            continue
        if field == "url" and kind != "apprise":
            shown[field] = masked_url(str(value))
        elif isinstance(value, dict):
            shown[field] = dict.fromkeys(value, MASK)
        else:
            shown[field] = MASK
    return shown


class ChannelSpec(_Strict):
    """A channel to create (``POST /api/notifications``)."""

    name: ChannelName
    config: ChannelConfig


class ChannelRecord(BaseModel):
    """A channel as read back: its secrets masked, always."""

    id: str
    name: str
    kind: ChannelKind
    config: dict[str, Any]
    created: datetime
    updated: datetime


class Message(_Strict):
    """What a notification says: a subject, a body (plain text; Slack and Teams render
    it as markdown), and the facts of the run it is about, which each channel lays out
    its own way."""

    subject: Annotated[str, Field(max_length=MAX_SUBJECT)]
    body: Annotated[str, Field(max_length=MAX_BODY)] = ""
    flow: str | None = None
    run: str | None = None
    run_id: str | None = None
    state: str | None = None
    message: str | None = None
    duration: float | None = None
    """Seconds from the run's start to its end (or to the event)."""
    link: str | None = None

    def facts(self) -> list[tuple[str, str]]:
        """The named facts present, in the order messages show them."""
        rows: list[tuple[str, str]] = []
        for label, value in (
            ("Flow", self.flow),
            ("Run", self.run),
            ("State", self.state),
            ("Message", self.message),
            ("Duration", None if self.duration is None else format_duration(self.duration)),
            ("Link", self.link),
        ):
            if value:
                rows.append((label, value))
        return rows

    def text(self) -> str:
        """Body and facts as plain text (email, apprise, previews)."""
        lines = [self.body] if self.body else []
        facts = self.facts()
        if facts:
            if lines:
                lines.append("")
            lines.extend(f"{label}: {value}" for label, value in facts)
        return "\n".join(lines)


def format_duration(seconds: float) -> str:
    """``2h 03m 04s``, ``3m 04s``, ``4.2s``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    return f"{minutes}m {secs:02d}s"


class TrialMessage(_Strict):
    """The message ``POST /api/notifications/{name}/test`` sends (defaults: a short
    test message)."""

    subject: Annotated[str, Field(max_length=MAX_SUBJECT)] = "legato test notification"
    body: Annotated[str, Field(max_length=MAX_BODY)] = (
        "This is a test message from legato: the channel works."
    )


class AttemptRecord(BaseModel):
    """One try at delivering a message."""

    at: datetime
    outcome: AttemptOutcome
    status_code: int | None = None
    """The receiver's HTTP status or SMTP reply code, when it answered."""
    error: str | None = None
    duration: float
    """Seconds the try took."""


class DeliveryRecord(BaseModel):
    """One message to one channel, with every attempt it took."""

    id: str
    channel_id: str
    channel_name: str
    automation_id: str | None = None
    firing_id: str | None = None
    subject: str
    body_preview: str
    status: DeliveryStatus
    attempts: list[AttemptRecord]
    last_error: str | None = None
    created: datetime
    finished: datetime | None = None
