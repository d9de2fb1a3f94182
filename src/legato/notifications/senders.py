"""One try at sending a message to a channel: what happened, never an exception.

HTTP channels POST JSON with httpx (redirects are not followed: a webhook that moved
is a failure to fix, not a place to send secrets to); email goes over smtplib; apprise
is imported only when an apprise channel sends. A message of a failure never holds the
channel's URL or password (a URL is its credential): the URL is replaced by its host.
"""

from __future__ import annotations

import contextvars
import logging
import smtplib
import ssl
import time
from dataclasses import dataclass
from typing import Any

import httpx

from legato.notifications.bodies import (
    email_message,
    slack_payload,
    teams_payload,
    webhook_payload,
)
from legato.notifications.retries import http_status_retryable, smtp_code_retryable
from legato.schemas.notifications import (
    AppriseConfig,
    ChannelConfig,
    EmailConfig,
    Message,
    SlackConfig,
    TeamsConfig,
    WebhookConfig,
    masked_url,
)

DEFAULT_TIMEOUT = 10.0
"""Seconds one try may take (connect, send, read each)."""
ANSWER_SHOWN = 300
"""Characters of a receiver's error answer kept in the attempt's error."""


_sending = contextvars.ContextVar("legato_notification_sending", default=False)


class _MaskSentUrls(logging.Filter):
    """httpx logs each request's URL at INFO ("HTTP Request: POST https://..."); while a
    notification is sent, that URL is the channel's secret: it is logged masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _sending.get() and isinstance(record.args, tuple):
            record.args = tuple(
                masked_url(str(arg)) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


logging.getLogger("httpx").addFilter(_MaskSentUrls())


@dataclass(frozen=True)
class Outcome:
    """One try: ``sent``, or not and whether another try may do better."""

    sent: bool
    retryable: bool = False
    status_code: int | None = None
    error: str | None = None


def _scrub(text: str, *secrets: str | None) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, masked_url(secret) if "://" in secret else "********")
    return text


def post_json(
    url: str, payload: dict[str, Any], headers: dict[str, str], timeout: float
) -> Outcome:
    sending = _sending.set(True)
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            response = client.post(url, json=payload, headers=headers)
    except httpx.TimeoutException as exc:
        return Outcome(
            False, True, error=_scrub(f"timed out after {timeout:g}s ({type(exc).__name__})", url)
        )
    except httpx.TransportError as exc:
        return Outcome(False, True, error=_scrub(f"could not connect: {exc}", url))
    finally:
        _sending.reset(sending)
    status = response.status_code
    if 200 <= status < 300:
        return Outcome(True, status_code=status)
    answer = " ".join(response.text[:ANSWER_SHOWN].split())
    error = f"HTTP {status}" + (f": {answer}" if answer else "")
    if 300 <= status < 400:
        error += " (a redirect; legato does not follow them: use the URL it points to)"
    return Outcome(False, http_status_retryable(status), status, _scrub(error, url))


def send_email(config: EmailConfig, message: Message, timeout: float) -> Outcome:
    mail = email_message(config, message)
    context = ssl.create_default_context()
    secrets = (config.password,)
    try:
        smtp: smtplib.SMTP
        if config.security == "ssl":
            smtp = smtplib.SMTP_SSL(config.host, config.port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(config.host, config.port, timeout=timeout)
        with smtp:
            if config.security == "starttls":
                smtp.starttls(context=context)
            if config.username:
                smtp.login(config.username, config.password or "")
            refused = smtp.send_message(mail)
    except smtplib.SMTPNotSupportedError as exc:
        return Outcome(False, False, error=_scrub(f"the SMTP server refused: {exc}", *secrets))
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        retry = bool(codes) and all(smtp_code_retryable(code) for code in codes)
        refused_list = ", ".join(f"{a} ({c})" for a, (c, _) in exc.recipients.items())
        return Outcome(
            False, retry, codes[0] if codes else None, f"recipients refused: {refused_list}"
        )
    except smtplib.SMTPResponseException as exc:
        text = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        return Outcome(
            False,
            smtp_code_retryable(exc.smtp_code),
            exc.smtp_code,
            _scrub(f"SMTP {exc.smtp_code}: {text}", *secrets),
        )
    except ssl.SSLError as exc:
        return Outcome(False, False, error=f"TLS with {config.host}:{config.port} failed: {exc}")
    except (smtplib.SMTPException, OSError) as exc:
        what = "timed out" if isinstance(exc, TimeoutError) else f"could not send: {exc}"
        return Outcome(
            False, True, error=_scrub(f"SMTP {config.host}:{config.port} {what}", *secrets)
        )
    if refused:
        listed = ", ".join(sorted(refused))
        return Outcome(True, error=f"sent, but refused for: {listed}")
    return Outcome(True)


def send_apprise(config: AppriseConfig, message: Message) -> Outcome:
    try:
        import apprise
    except ImportError:
        return Outcome(
            False,
            False,
            error="apprise channels need the apprise package: pip install 'legato[apprise]'",
        )
    sender = apprise.Apprise()
    if not sender.add(config.url):
        return Outcome(False, False, error="apprise does not understand this channel's URL")
    if sender.notify(title=message.subject, body=message.text() or message.subject):
        return Outcome(True)
    return Outcome(False, True, error="apprise could not send it (its log says why)")


def send_once(
    config: ChannelConfig, message: Message, *, timeout: float = DEFAULT_TIMEOUT
) -> Outcome:
    """One try at sending ``message`` over ``config``."""
    if isinstance(config, SlackConfig):
        return post_json(config.url, slack_payload(message), {}, timeout)
    if isinstance(config, TeamsConfig):
        return post_json(config.url, teams_payload(message), {}, timeout)
    if isinstance(config, WebhookConfig):
        return post_json(config.url, webhook_payload(message), dict(config.headers), timeout)
    if isinstance(config, EmailConfig):
        return send_email(config, message, timeout)
    return send_apprise(config, message)


def timed(config: ChannelConfig, message: Message, timeout: float) -> tuple[Outcome, float]:
    start = time.monotonic()
    outcome = send_once(config, message, timeout=timeout)
    return outcome, time.monotonic() - start
