"""Delivering to real receivers on 127.0.0.1: what each kind of channel is sent, retries
of timeouts, 5xx and refused connections, a 4xx not retried, every attempt stored."""

from __future__ import annotations

import logging

import pytest

from fixtures.receivers import HttpReceiver, SmtpReceiver, http_receiver, smtp_receiver
from fixtures.servers import free_port
from legato.errors import ObjectNotFound
from legato.notifications import Notifications
from legato.schemas.notifications import (
    ChannelSpec,
    EmailConfig,
    Message,
    SlackConfig,
    TeamsConfig,
    WebhookConfig,
)

FAILED_RUN = Message(
    subject="etl/nightly-fox: Failed",
    body="The flow run etl/nightly-fox is Failed.",
    flow="etl",
    run="nightly-fox",
    run_id="0192f6c4-8a1e-7d3b-9c2f-4e5a6b7c8d9e",
    state="Failed",
    message="ValueError: bad row 17",
    duration=125.0,
    link="https://legato.example.com/api/flow_runs/0192f6c4-8a1e-7d3b-9c2f-4e5a6b7c8d9e",
)


def test_slack_channel_gets_text_and_blocks(
    notifications: Notifications, receiver: HttpReceiver
) -> None:
    notifications.create_channel(ChannelSpec(name="ops", config=SlackConfig(url=receiver.url)))

    delivery = notifications.deliver("ops", FAILED_RUN)

    assert delivery.status == "sent"
    assert [a.outcome for a in delivery.attempts] == ["sent"]
    assert delivery.attempts[0].status_code == 200
    (got,) = receiver.received
    assert got.path == "/hook/T000/SECRET-PATH-42"
    assert got.body["text"] == "etl/nightly-fox: Failed"
    assert "*etl/nightly-fox: Failed*" in got.body["blocks"][0]["text"]["text"]
    fields = [f["text"] for f in got.body["blocks"][1]["fields"]]
    assert "*State*\nFailed" in fields
    assert "*Message*\nValueError: bad row 17" in fields
    assert "*Duration*\n2m 05s" in fields
    assert f"*Link*\n<{FAILED_RUN.link}|open>" in fields


def test_teams_channel_gets_an_adaptive_card(
    notifications: Notifications, receiver: HttpReceiver
) -> None:
    notifications.create_channel(ChannelSpec(name="team", config=TeamsConfig(url=receiver.url)))

    assert notifications.deliver("team", FAILED_RUN).status == "sent"

    sent = receiver.received[0].body
    assert sent["type"] == "message"
    (attachment,) = sent["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    title, text, fact_set = card["body"]
    assert (title["text"], title["color"]) == ("etl/nightly-fox: Failed", "Attention")
    assert text["text"] == "The flow run etl/nightly-fox is Failed."
    facts = {f["title"]: f["value"] for f in fact_set["facts"]}
    assert facts == {
        "Flow": "etl",
        "Run": "nightly-fox",
        "State": "Failed",
        "Message": "ValueError: bad row 17",
        "Duration": "2m 05s",
    }
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open the run", "url": FAILED_RUN.link}
    ]


def test_webhook_channel_gets_the_fields_and_its_headers(
    notifications: Notifications, receiver: HttpReceiver
) -> None:
    config = WebhookConfig(url=receiver.url, headers={"X-Token": "tok-123"})
    notifications.create_channel(ChannelSpec(name="hook", config=config))

    assert notifications.deliver("hook", FAILED_RUN).status == "sent"

    (got,) = receiver.received
    assert got.headers["X-Token"] == "tok-123"
    assert got.body["subject"] == "etl/nightly-fox: Failed"
    assert got.body["state"] == "Failed"
    assert got.body["duration"] == 125.0
    assert got.body["link"] == FAILED_RUN.link
    assert "State: Failed" in got.body["text"]


def test_receiver_failing_twice_gets_the_message_once_after_three_attempts(
    notifications: Notifications,
) -> None:
    for receiver in http_receiver([500, 500]):
        notifications.create_channel(
            ChannelSpec(name="flaky", config=SlackConfig(url=receiver.url))
        )

        delivery = notifications.deliver("flaky", FAILED_RUN)

        assert receiver.answered == [500, 500, 200]
        assert len(receiver.received) == 1
    assert delivery.status == "sent"
    assert [(a.outcome, a.status_code) for a in delivery.attempts] == [
        ("retry", 500),
        ("retry", 500),
        ("sent", 200),
    ]
    (stored,) = notifications.read_deliveries("flaky")
    assert stored.status == "sent"
    assert [a.status_code for a in stored.attempts] == [500, 500, 200]
    assert stored.attempts[0].error == "HTTP 500: no good"
    assert stored.finished is not None


def test_a_4xx_is_not_retried(notifications: Notifications) -> None:
    for receiver in http_receiver([400]):
        notifications.create_channel(ChannelSpec(name="bad", config=SlackConfig(url=receiver.url)))

        delivery = notifications.deliver("bad", FAILED_RUN)

        assert receiver.answered == [400]
    assert delivery.status == "failed"
    assert [(a.outcome, a.status_code) for a in delivery.attempts] == [("failed", 400)]
    assert delivery.last_error == "HTTP 400: no good"
    assert notifications.read_deliveries("bad")[0].status == "failed"


def test_too_many_requests_is_retried(notifications: Notifications) -> None:
    for receiver in http_receiver([429]):
        notifications.create_channel(ChannelSpec(name="busy", config=SlackConfig(url=receiver.url)))
        delivery = notifications.deliver("busy", FAILED_RUN)
        assert receiver.answered == [429, 200]
    assert [a.outcome for a in delivery.attempts] == ["retry", "sent"]


def test_connection_refused_is_retried_and_recorded(notifications: Notifications) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook/SECRET-PATH-42"  # nobody listens
    notifications.create_channel(ChannelSpec(name="gone", config=WebhookConfig(url=url)))

    delivery = notifications.deliver("gone", FAILED_RUN)

    assert delivery.status == "failed"
    assert [a.outcome for a in delivery.attempts] == ["retry"] * 4 + ["failed"]
    assert all("could not connect" in (a.error or "") for a in delivery.attempts)
    assert all(a.status_code is None for a in delivery.attempts)
    stored = notifications.read_deliveries("gone")[0]
    assert len(stored.attempts) == 5
    assert "SECRET-PATH-42" not in stored.model_dump_json()


def test_email_reaches_the_smtp_server(notifications: Notifications, smtp: SmtpReceiver) -> None:
    config = EmailConfig(
        host=smtp.host,
        port=smtp.port,
        sender="legato@example.com",
        to=["ops@example.com", "oncall@example.com"],
        security="none",
    )
    notifications.create_channel(ChannelSpec(name="mail", config=config))

    delivery = notifications.deliver("mail", FAILED_RUN)

    assert delivery.status == "sent", delivery.last_error
    (mail,) = smtp.messages
    assert mail["Subject"] == "etl/nightly-fox: Failed"
    assert mail["From"] == "legato@example.com"
    assert mail["To"] == "ops@example.com, oncall@example.com"
    text = mail.get_payload(decode=True).decode()
    assert "The flow run etl/nightly-fox is Failed." in text
    assert "Message: ValueError: bad row 17" in text
    assert f"Link: {FAILED_RUN.link}" in text
    assert smtp.envelopes == [("legato@example.com", ["ops@example.com", "oncall@example.com"])]


def test_email_logs_in_with_the_stored_password(notifications: Notifications) -> None:
    for smtp in smtp_receiver(auth=True):
        config = EmailConfig(
            host=smtp.host,
            port=smtp.port,
            username="alerts",
            password="s3cret-smtp-pass",
            sender="legato@example.com",
            to=["ops@example.com"],
            security="none",
        )
        notifications.create_channel(ChannelSpec(name="mail", config=config))
        assert notifications.deliver("mail", FAILED_RUN).status == "sent"
        assert smtp.logins == [("alerts", "s3cret-smtp-pass")]
        assert len(smtp.messages) == 1


def test_email_with_a_wrong_password_is_not_retried(notifications: Notifications) -> None:
    for smtp in smtp_receiver(auth=True):
        config = EmailConfig(
            host=smtp.host,
            port=smtp.port,
            username="alerts",
            password="wrong",
            sender="legato@example.com",
            to=["ops@example.com"],
            security="none",
        )
        notifications.create_channel(ChannelSpec(name="mail", config=config))
        delivery = notifications.deliver("mail", FAILED_RUN)
        assert smtp.messages == []
    assert delivery.status == "failed"
    assert [(a.outcome, a.status_code) for a in delivery.attempts] == [("failed", 535)]
    assert "wrong" not in delivery.model_dump_json()


def test_starttls_to_a_server_without_it_fails_at_once(
    notifications: Notifications, smtp: SmtpReceiver
) -> None:
    config = EmailConfig(
        host=smtp.host, port=smtp.port, sender="a@example.com", to=["b@example.com"]
    )
    notifications.create_channel(ChannelSpec(name="mail", config=config))

    delivery = notifications.deliver("mail", FAILED_RUN)

    assert delivery.status == "failed"
    assert len(delivery.attempts) == 1
    assert "STARTTLS" in (delivery.last_error or "")
    assert smtp.messages == []


def test_unknown_channel_raises_not_found(notifications: Notifications) -> None:
    with pytest.raises(ObjectNotFound, match="no notification channel named 'nope'"):
        notifications.deliver("nope", FAILED_RUN)


def test_apprise_channel_sends_when_apprise_is_installed(notifications: Notifications) -> None:
    pytest.importorskip("apprise", reason="the apprise extra is not installed")
    from legato.schemas.notifications import AppriseConfig

    notifications.create_channel(
        ChannelSpec(name="ap", config=AppriseConfig(url="json://127.0.0.1:1/none"))
    )
    delivery = notifications.deliver("ap", FAILED_RUN)
    assert delivery.status == "failed"  # nobody listens there; apprise said so


def test_apprise_channel_without_apprise_says_how_to_install(
    notifications: Notifications,
) -> None:
    try:
        import apprise  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("apprise is installed")
    from legato.schemas.notifications import AppriseConfig

    notifications.create_channel(
        ChannelSpec(name="ap", config=AppriseConfig(url="json://127.0.0.1:1/none"))
    )
    delivery = notifications.deliver("ap", FAILED_RUN)
    assert delivery.status == "failed"
    assert len(delivery.attempts) == 1
    assert "pip install 'legato[apprise]'" in (delivery.last_error or "")


def test_logs_never_show_the_url(
    notifications: Notifications, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for receiver in http_receiver([500, 404]):
        notifications.create_channel(ChannelSpec(name="ops", config=SlackConfig(url=receiver.url)))
        notifications.deliver("ops", FAILED_RUN)
    assert "HTTP Request: POST http://127.0.0.1" in caplog.text  # httpx logged each try
    assert "failed after 2 attempt(s): HTTP 404" in caplog.text
    assert "SECRET-PATH-42" not in caplog.text
