"""A webhook's template: an HTTP request in, an event out (pure; no I/O).

A webhook turns a request someone else's system sends (GitHub, Stripe, a cron job's
``curl``) into an event, through a Jinja2 template that renders the event as JSON. The
template sees:

- ``body``: the parsed JSON for a JSON content type (``application/json``,
  ``application/*+json``), the fields of a form post (``application/x-www-form-urlencoded``;
  a field sent twice keeps its first value), else the text; None for an empty body;
- ``raw_body``: the body as text;
- ``headers``: by lower-case name (repeated headers joined with ``", "``), without
  ``authorization`` and ``cookie``: credentials do not belong in events;
- ``query``: the query string's parameters (first value of each);
- ``webhook``: ``id`` and ``name`` of the webhook.

Filters: Jinja's own (``tojson`` quotes a value as JSON: ``{{ body.user | tojson }}``)
and ``from_json`` (a form field that holds JSON, as GitHub's form posts send it).
Undefined values are errors (``StrictUndefined``): a template reading a field the
request lacks is answered 400 naming the field, rather than storing an empty name;
``{{ body.x | default("none") }}`` and ``{% if body.x is defined %}`` handle optional
fields.

The environment is Jinja's immutable sandbox (no attribute starting with ``_``, no
method that changes a value), and a request cannot make a render costly through the
template: ``*`` and ``**`` are capped (a string repeated past the rendered-size limit,
a power with a huge exponent), the rendered text is capped at
:data:`MAX_RENDERED_CHARS` while it is generated, and the body itself is capped by the
server. The template's author is trusted as far as an API key that can write is: a
template that loops for long over nothing costs its own server's time.

Every problem is a :class:`WebhookError` whose message says what the sender (or the
template's author) must change; the server answers it 400.
"""

from __future__ import annotations

import codecs
import functools
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from jinja2 import StrictUndefined, Template, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import ValidationError

from legato.event_rules.state_events import NewEvent
from legato.schemas.events import (
    MAX_LABEL_VALUE,
    RESOURCE_ID,
    RESOURCE_NAME,
    RESOURCE_ROLE,
    EventIn,
    check_client_event_name,
)

MAX_TEMPLATE_CHARS = 64 * 1024
"""Longest template stored."""
MAX_RENDERED_CHARS = 512 * 1024
"""Longest text a template may render for one request (an event's payload is at most
64 KiB as JSON; the rest is room for labels and whitespace)."""
MAX_EXPONENT = 1000
"""Largest exponent of ``**`` in a template (``2 ** body.n`` with n = 10**9 would take
the server's time and memory)."""
TEMPLATE_NAME = "<template>"
"""The file name Jinja gives a template made from a string: how a render error's line
is found in its traceback."""
WEBHOOK_ROLE = "webhook"
HIDDEN_HEADERS = frozenset({"authorization", "cookie"})
JSON_MEDIA = "application/json"
FORM_MEDIA = "application/x-www-form-urlencoded"


class WebhookError(ValueError):
    """A request the webhook cannot make an event of, or a template that cannot be one;
    the message says why."""


@dataclass(frozen=True)
class WebhookRequest:
    """What the template may see of one request."""

    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    """Names as sent (any case), in order; repeated names allowed."""
    query: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class WebhookIdentity:
    id: str
    name: str


# -- the environment -------------------------------------------------------------------


def _from_json(text: Any) -> Any:
    if not isinstance(text, str):
        raise WebhookError(f"from_json takes text, not {type(text).__name__}")
    return _parse_json(text, "the value given to from_json")


class WebhookEnvironment(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, with ``*`` and ``**`` kept from making huge values."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
            raise WebhookError(f"an exponent larger than {MAX_EXPONENT} ({right!r}) in '**'")
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if (
                    isinstance(sequence, str | list | tuple)
                    and isinstance(times, int)
                    and len(sequence) * times > MAX_RENDERED_CHARS
                ):
                    raise WebhookError(
                        f"'*' would repeat a value of length {len(sequence)} {times} "
                        f"times, past the limit of {MAX_RENDERED_CHARS}"
                    )
        return super().call_binop(context, operator, left, right)


@functools.cache
def environment() -> WebhookEnvironment:
    env = WebhookEnvironment(undefined=StrictUndefined, autoescape=False)
    env.filters["from_json"] = _from_json
    return env


def check_template(text: str) -> Template:
    """The compiled template, or :class:`WebhookError` naming the line and the problem
    (checked when a webhook is created or changed: a template that cannot compile is
    never stored)."""
    if not text.strip():
        raise WebhookError("the template is empty; it must render an event as JSON")
    if len(text) > MAX_TEMPLATE_CHARS:
        raise WebhookError(
            f"the template is {len(text)} characters long; at most {MAX_TEMPLATE_CHARS} are allowed"
        )
    if "\x00" in text:
        raise WebhookError("the template holds a NUL character")
    return _compiled(text)


@functools.lru_cache(maxsize=256)
def _compiled(text: str) -> Template:
    try:
        return environment().from_string(text)
    except TemplateSyntaxError as exc:
        raise WebhookError(
            f"the template has a syntax error on line {exc.lineno}: {exc.message}"
        ) from None


# -- the request -----------------------------------------------------------------------


def _media_and_charset(content_type: str | None) -> tuple[str, str]:
    if not content_type:
        return "", "utf-8"
    media, _, params = content_type.partition(";")
    charset = "utf-8"
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"').lower()
    return media.strip().lower(), charset


def _is_json(media: str) -> bool:
    return media == JSON_MEDIA or (media.startswith("application/") and media.endswith("+json"))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise WebhookError(f"{what} nests too deeply to be read as JSON") from None
    except ValueError as exc:
        raise WebhookError(f"{what} is not valid JSON: {exc}") from None


def decode_body(request: WebhookRequest) -> tuple[Any, str]:
    """(``body``, ``raw_body``) of the template's context (see the module docstring)."""
    media, charset = _media_and_charset(request.content_type)
    try:
        codecs.lookup(charset)
    except LookupError:
        raise WebhookError(
            f"the Content-Type names the charset {charset[:40]!r}, which is not known; send UTF-8"
        ) from None
    try:
        text = request.body.decode(charset)
    except UnicodeDecodeError as exc:
        raise WebhookError(
            f"the body is not {charset} text (byte {exc.start} cannot be decoded); webhooks "
            "take text: JSON, a form, or plain text"
        ) from None
    if not text.strip():
        return None, text
    if _is_json(media):
        return _parse_json(text, f"the body (Content-Type: {media})"), text
    if media == FORM_MEDIA:
        fields: dict[str, str] = {}
        for name, value in parse_qsl(text, keep_blank_values=True):
            fields.setdefault(name, value)
        return fields, text
    return text, text


def _headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for raw_name, value in pairs:
        name = raw_name.lower()
        if name in HIDDEN_HEADERS:
            continue
        found[name] = f"{found[name]}, {value}" if name in found else value
    return found


def request_context(request: WebhookRequest, webhook: WebhookIdentity) -> dict[str, Any]:
    """The names a template sees for ``request`` (see the module docstring)."""
    body, raw_body = decode_body(request)
    query: dict[str, str] = {}
    for name, value in request.query:
        query.setdefault(name, value)
    return {
        "body": body,
        "raw_body": raw_body,
        "headers": _headers(request.headers),
        "query": query,
        "webhook": {"id": webhook.id, "name": webhook.name},
    }


# -- rendering ---------------------------------------------------------------------------


def _template_line(exc: BaseException) -> int | None:
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == TEMPLATE_NAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render_text(template: Template, context: Mapping[str, Any]) -> str:
    """The template rendered, stopped as soon as it passes :data:`MAX_RENDERED_CHARS`;
    an error inside it is a :class:`WebhookError` naming its line."""
    parts: list[str] = []
    size = 0
    try:
        for chunk in template.generate(context):
            size += len(chunk)
            if size > MAX_RENDERED_CHARS:
                raise WebhookError(
                    f"the template rendered more than {MAX_RENDERED_CHARS} characters for "
                    "this request; an event is at most 64 KiB of payload"
                )
            parts.append(chunk)
    except WebhookError as exc:
        line = _template_line(exc)
        if line is None:
            raise
        raise WebhookError(f"the template failed on line {line}: {exc}") from None
    except (Exception, RecursionError) as exc:
        line = _template_line(exc)
        where = f" on line {line}" if line is not None else ""
        problem = str(exc) or type(exc).__name__
        raise WebhookError(f"the template failed{where}: {problem}") from None
    return "".join(parts)


def _shown(text: str, position: int) -> str:
    start = max(0, position - 40)
    return json.dumps(text[start : position + 40], ensure_ascii=False)


def _validation_problems(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "event"
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    return "; ".join(problems)


def event_from_text(text: str, webhook: WebhookIdentity) -> EventIn:
    """The event a rendered template describes, with the webhook as a related resource
    (role ``webhook``); :class:`WebhookError` if it is not a valid event a client may
    send."""
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise WebhookError("the rendered event nests too deeply") from None
    except json.JSONDecodeError as exc:
        raise WebhookError(
            f"the template did not render JSON ({exc.msg} at line {exc.lineno} column "
            f"{exc.colno}, near {_shown(text, exc.pos)}); quote values with "
            "'| tojson', e.g. {{ body.name | tojson }}"
        ) from None
    except ValueError as exc:
        raise WebhookError(f"the template did not render JSON: {exc}") from None
    if not isinstance(data, dict):
        raise WebhookError(
            f"the template rendered a JSON {type(data).__name__}, not an object with "
            "'event' and 'resource'"
        )
    related = data.get("related", [])
    if isinstance(related, list):
        data["related"] = [
            *related,
            {
                RESOURCE_ID: f"legato.webhook.{webhook.id}",
                RESOURCE_ROLE: WEBHOOK_ROLE,
                RESOURCE_NAME: webhook.name,
            },
        ]
    try:
        event = EventIn.model_validate(data)
        check_client_event_name(event.event)
    except ValidationError as exc:
        raise WebhookError(
            f"the rendered event is not valid: {_validation_problems(exc)}"
        ) from None
    except ValueError as exc:
        raise WebhookError(f"the rendered event is not valid: {exc}") from None
    return event


def render_event(template_text: str, request: WebhookRequest, webhook: WebhookIdentity) -> EventIn:
    """The event ``request`` makes through the template (see the module docstring);
    :class:`WebhookError` saying why when it makes none."""
    template = check_template(template_text)
    context = request_context(request, webhook)
    return event_from_text(render_text(template, context), webhook)


# -- events about webhooks themselves ------------------------------------------------------


def webhook_change_event(
    change: str, webhook_id: str, name: str, *, now: float, payload: dict[str, Any] | None = None
) -> NewEvent:
    """``legato.webhook.<change>``: created, updated, rotated, deleted (when a webhook's
    URL or template changed can be traced in the events), or failed (a request it could
    make no event of, and why: see :func:`failure_payload`). Never the slug."""
    return NewEvent(
        id=str(uuid.uuid4()),
        event=f"legato.webhook.{change}",
        occurred=now,
        resource={
            RESOURCE_ID: f"legato.webhook.{webhook_id}",
            RESOURCE_NAME: name[:MAX_LABEL_VALUE],
        },
        related=[],
        payload=payload or {},
    )


MAX_REASON_CHARS = 2000


def failure_payload(request: WebhookRequest, reason: str) -> dict[str, Any]:
    """What ``legato.webhook.failed`` says of a refused request: why, and its shape (not
    its body, which the sender has and which may be large)."""
    return {
        "reason": reason[:MAX_REASON_CHARS],
        "content_type": (request.content_type or "")[:200],
        "body_bytes": len(request.body),
    }
