"""What each kind of channel is sent for one message (pure: values in, bodies out).

Slack gets ``text`` (what notifications and old clients show) and Block Kit blocks;
Teams an Adaptive Card; a generic webhook the message's fields as JSON; email a plain
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


def subject_color(state: str | None) -> str:
    """The Adaptive Card color of a subject line: red for a run that went wrong."""
    if state in BAD_STATES:
        return "Attention"
    if state in GOOD_STATES:
        return "Good"
    return "Default"


def teams_payload(message: Message) -> dict[str, Any]:
    """A message with one Adaptive Card: what Teams incoming webhooks and the Power
    Automate workflows that replace them both take (the older MessageCard only the first)."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": message.subject,
            "weight": "Bolder",
            "size": "Medium",
            "color": subject_color(message.state),
            "wrap": True,
        }
    ]
    if message.body:
        body.append({"type": "TextBlock", "text": message.body, "wrap": True})
    facts = [
        {"title": label, "value": value} for label, value in message.facts() if label != "Link"
    ]
    if facts:
        body.append({"type": "FactSet", "facts": facts})
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if message.link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open the run", "url": message.link}]
    return {
        "type": "message",
        "summary": _cut(message.subject, 250),
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


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
