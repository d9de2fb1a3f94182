"""What each kind of channel is sent for one message (pure: values in, bodies out).

Slack gets ``text`` (what notifications and old clients show) and Block Kit blocks;
Teams a MessageCard (what its incoming webhooks, and the Power Automate workflows that
replace them, accept); a generic webhook the message's fields as JSON; email a plain
text message.
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from legato.schemas.notifications import EmailConfig, Message

SLACK_FIELD_LIMIT = 1900
BAD_STATES = frozenset({"Failed", "Crashed", "TimedOut", "Cancelled", "Late"})
GOOD_STATES = frozenset({"Completed", "Cached"})


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn treats these three as control characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(message: Message) -> dict[str, Any]:
    subject = _slack_escape(message.subject)
    body = _slack_escape(message.body)
    text = f"*{subject}*" + (f"\n{body}" if body else "")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, 3000)}}
    ]
    fields = []
    for label, value in message.facts():
        shown = f"<{value}|open>" if label == "Link" else _slack_escape(value)
        fields.append({"type": "mrkdwn", "text": _cut(f"*{label}*\n{shown}", SLACK_FIELD_LIMIT)})
    if fields:
        blocks.append({"type": "section", "fields": fields[:10]})
    return {"text": _cut(message.subject, 3000), "blocks": blocks}


def theme_color(state: str | None) -> str:
    if state in BAD_STATES:
        return "D93F0B"
    if state in GOOD_STATES:
        return "2EA44F"
    return "6A737D"


def teams_payload(message: Message) -> dict[str, Any]:
    card: dict[str, Any] = {
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": _cut(message.subject, 250),
        "themeColor": theme_color(message.state),
        "title": message.subject,
    }
    if message.body:
        card["text"] = message.body
    facts = [{"name": label, "value": value} for label, value in message.facts() if label != "Link"]
    if facts:
        card["sections"] = [{"facts": facts}]
    if message.link:
        card["potentialAction"] = [
            {
                "@type": "OpenUri",
                "name": "Open the run",
                "targets": [{"os": "default", "uri": message.link}],
            }
        ]
    return card


def webhook_payload(message: Message) -> dict[str, Any]:
    """Every field of the message, plus ``text`` (body and facts as plain text)."""
    payload = message.model_dump(mode="json")
    payload["text"] = message.text()
    return payload


def email_message(config: EmailConfig, message: Message) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = " ".join(message.subject.split())  # no line breaks in a header
    mail["From"] = config.sender
    mail["To"] = ", ".join(config.to)
    mail.set_content(message.text() or message.subject)
    return mail
